"""Bad input to the convolutional layers is a clear error at the boundary, naming what was expected."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from refnet import AvgPool2D, BatchNorm2D, CallOrderError, Conv2D, Flatten, MaxPool2D, ShapeError


def test_a_2d_batch_given_to_conv2d_says_images_are_4d_and_how_to_reshape() -> None:
    with pytest.raises(
        ShapeError, match=r"Conv2D: x of shape \(8, 48\): .* images of shape \(N, C, H, W\) = \(N, 3, H, W\)"
    ):
        Conv2D(3, 4, 3).forward(np.zeros((8, 48)))
    with pytest.raises(ShapeError, match=r"reshape\(N, 3, H, W\)"):
        Conv2D(3, 4, 3).forward(np.zeros((8, 48)))


def test_channels_that_do_not_match_name_both_counts() -> None:
    with pytest.raises(ShapeError, match=r"x of shape \(2, 1, 8, 8\): Conv2D.* expects 3 channels \(axis 1\)"):
        Conv2D(3, 4, 3).forward(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ShapeError, match=r"x of shape \(2, 2, 3, 3\): BatchNorm2D.* expects 4 channels \(axis 1\)"):
        BatchNorm2D(4).forward(np.zeros((2, 2, 3, 3)))


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        (Conv2D(1, 1, 5), (1, 1, 4, 8), r"kernel 5x5 is larger than the input 4x8"),
        (Conv2D(1, 1, 5, padding=(0, 1)), (1, 1, 8, 2), r"kernel 5x5 is larger than the padded input 8x4"),
        (MaxPool2D(3), (1, 1, 2, 5), r"kernel 3x3 is larger than the input 2x5"),
        (AvgPool2D((1, 4)), (1, 1, 2, 3), r"kernel 1x4 is larger than the input 2x3"),
    ],
)
def test_a_kernel_larger_than_the_padded_input_is_refused(layer: Any, shape: Any, message: str) -> None:
    with pytest.raises(ShapeError, match=message + r".*output would have size 0"):
        layer.forward(np.zeros(shape))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"kernel_size": 0}, ValueError, r"kernel_size must be an integer >= 1, got 0"),
        ({"kernel_size": (3, -1)}, ValueError, r"kernel_size\[1\] must be an integer >= 1, got -1"),
        ({"kernel_size": 2.5}, TypeError, r"kernel_size must be an int or a pair of ints"),
        ({"kernel_size": (3,)}, ValueError, r"kernel_size must be an int or a pair \(height, width\), got \(3,\)"),
        ({"kernel_size": True}, TypeError, r"kernel_size must be an int or a pair of ints"),
        ({"kernel_size": 3, "stride": 0}, ValueError, r"stride must be an integer >= 1, got 0"),
        ({"kernel_size": 3, "stride": (1, 1.0)}, TypeError, r"stride\[1\] must be an integer"),
        ({"kernel_size": 3, "padding": -1}, ValueError, r"padding must be an integer >= 0, got -1"),
        ({"kernel_size": 3, "weight_init": "zeros"}, ValueError, r"unknown weight_init 'zeros'; valid names are"),
    ],
)
def test_bad_kernel_stride_padding_are_refused_when_the_layer_is_built(
    arguments: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        Conv2D(2, 3, **arguments)


@pytest.mark.parametrize(("kernel", "stride"), [(0, None), (2, 0), ((2, 2, 2), None), ("2", None)])
def test_bad_pool_kernels_and_strides_are_refused(kernel: Any, stride: Any) -> None:
    for pool in (MaxPool2D, AvgPool2D):
        with pytest.raises((TypeError, ValueError), match=r"kernel_size|stride"):
            pool(kernel, stride)


def test_channel_counts_must_be_positive_integers() -> None:
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1"):
        Conv2D(0, 3, 3)
    with pytest.raises(TypeError, match="num_channels must be an integer"):
        BatchNorm2D(2.0)  # type: ignore[arg-type]


def test_backward_before_forward_and_a_grad_y_of_the_wrong_shape_are_refused() -> None:
    for layer in (Conv2D(1, 2, 2), MaxPool2D(2), AvgPool2D(2), Flatten(), BatchNorm2D(1)):
        with pytest.raises(CallOrderError, match="backward called before forward"):
            layer.backward(np.zeros((1, 1, 2, 2)))
        y = layer.forward(np.ones((2, 1, 4, 4)))
        with pytest.raises(ShapeError, match="grad_y must have shape"):
            layer.backward(np.zeros((y.shape[0] + 1, *y.shape[1:])))


def test_pools_and_batchnorm2d_refuse_flat_rows_and_empty_batches() -> None:
    for layer in (MaxPool2D(2), AvgPool2D(2), BatchNorm2D(3)):
        with pytest.raises(ShapeError, match=r"x of shape \(4, 12\): .* takes images of shape \(N, C, H, W\)"):
            layer.forward(np.zeros((4, 12)))
        with pytest.raises(ShapeError, match="is empty"):
            layer.forward(np.zeros((0, 3, 4, 4)))
    with pytest.raises(ShapeError, match="Flatten: x must have shape"):
        Flatten().forward(np.zeros(5))


def test_batchnorm2d_training_needs_two_values_per_channel() -> None:
    with pytest.raises(ShapeError, match=r"at least 2 values per channel \(N·H·W\)"):
        BatchNorm2D(2).forward(np.zeros((1, 2, 1, 1)))
    BatchNorm2D(2).forward(np.zeros((1, 2, 1, 1)), training=False)  # evaluation needs no batch statistics
    BatchNorm2D(2).forward(np.arange(4.0).reshape(1, 2, 1, 2))  # one image of two positions is enough


def test_non_numeric_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Conv2D: x must be a numeric array"):
        Conv2D(1, 1, 1).forward(np.full((1, 1, 2, 2), "a"))
    with pytest.raises(TypeError, match="MaxPool2D: x"):
        MaxPool2D(1).forward([[["a"]]])  # type: ignore[arg-type]
