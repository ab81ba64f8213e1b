"""Conv2D, MaxPool2D, AvgPool2D, Flatten and BatchNorm2D as layers: values, gradients, shapes, dtypes.

The expected values come from outside refnet: SciPy's 2-D correlation for the convolution, plain
NumPy windows written here for the pools, closed forms (an identity kernel, a box filter, the
per-channel mean and variance) and central differences (tests/helpers.py) for the gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import assert_gradient_close, central_difference, projection_loss
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import correlate2d

from refnet import AvgPool2D, BatchNorm, BatchNorm2D, Conv2D, Flatten, Layer, MaxPool2D

SETTINGS = settings(max_examples=20, deadline=None)
DTYPES = [np.float64, np.float32]


def scipy_conv(x: Any, W: Any, b: Any, stride: tuple[int, int], padding: tuple[int, int]) -> Any:
    """y[n, o] = b[o] + Σ_c correlate2d(x_pad[n, c], W[o, c], 'valid'), then every stride-th row and column."""
    (sh, sw), (ph, pw) = stride, padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C = x.shape[:2]
    O = W.shape[0]
    full = [
        [b[o] + sum(correlate2d(x_pad[n, c], W[o, c], mode="valid") for c in range(C)) for o in range(O)]
        for n in range(N)
    ]
    return np.array(full)[:, :, ::sh, ::sw]


conv_settings = st.tuples(
    st.integers(1, 3),  # N
    st.integers(1, 3),  # C
    st.integers(1, 3),  # O
    st.tuples(st.integers(1, 3), st.integers(1, 3)),  # kernel
    st.tuples(st.integers(1, 3), st.integers(1, 3)),  # stride
    st.tuples(st.integers(0, 2), st.integers(0, 2)),  # padding
    st.integers(0, 2**32 - 1),
)


@SETTINGS
@given(conv_settings, st.integers(3, 7), st.integers(3, 7))
def test_conv2d_is_the_cross_correlation_scipy_computes(settings_: Any, H: int, W: int) -> None:
    N, C, O, kernel, stride, padding, seed = settings_
    rng = np.random.default_rng(seed)
    layer = Conv2D(C, O, kernel, stride, padding, seed=seed)
    layer.params["b"][:] = rng.standard_normal(O)
    x = rng.standard_normal((N, C, H, W))
    expected = scipy_conv(x, layer.params["W"], layer.params["b"], stride, padding)
    y = layer.forward(x)
    H_out = (H + 2 * padding[0] - kernel[0]) // stride[0] + 1
    W_out = (W + 2 * padding[1] - kernel[1]) // stride[1] + 1
    assert y.shape == expected.shape == (N, O, H_out, W_out)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(conv_settings, st.sampled_from(["identity", "tanh", "sigmoid"]))
def test_conv2d_gradients_are_central_differences(settings_: Any, activation: str) -> None:
    N, C, O, kernel, stride, padding, seed = settings_
    rng = np.random.default_rng(seed)
    layer = Conv2D(C, O, kernel, stride, padding, activation, l1_lambda=0.01, l2_lambda=0.1, seed=seed)
    layer.params["b"][:] = rng.standard_normal(O)
    x = rng.standard_normal((N, C, 5, 6))
    G = rng.standard_normal(layer.forward(x).shape)
    grad_x = layer.backward(G)

    def loss() -> float:
        return projection_loss(layer.forward(x), G) + layer.penalty()

    assert_gradient_close(grad_x, central_difference(loss, x))
    assert_gradient_close(layer.grads["b"], central_difference(loss, layer.params["b"]))
    W = layer.params["W"]
    if np.abs(W).min() > 1e-4:  # L1's kink at 0 is nowhere near
        assert_gradient_close(layer.grads["W"], central_difference(loss, W))


def test_a_centred_delta_kernel_with_padding_returns_the_input() -> None:
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 4))
    layer = Conv2D(1, 1, 3, padding=1, seed=0)
    layer.params["W"][...] = 0.0
    layer.params["W"][0, 0, 1, 1] = 1.0
    np.testing.assert_array_equal(layer.forward(x), x)


def test_a_kernel_of_ones_sums_each_window_and_weights_are_not_flipped() -> None:
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    layer = Conv2D(1, 1, (2, 3), seed=0)
    layer.params["W"][...] = 1.0
    y = layer.forward(x)
    assert y.shape == (1, 1, 3, 2)
    assert y[0, 0, 0, 0] == 0 + 1 + 2 + 4 + 5 + 6
    assert y[0, 0, 2, 1] == 9 + 10 + 11 + 13 + 14 + 15
    # cross-correlation: W[0,0,0,0] multiplies the window's top-left element
    layer.params["W"][...] = 0.0
    layer.params["W"][0, 0, 0, 0] = 1.0
    np.testing.assert_array_equal(layer.forward(x)[0, 0], x[0, 0, :3, :2])


def test_rows_and_columns_the_stride_skips_get_zero_gradient() -> None:
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    layer = Conv2D(2, 3, 3, stride=2, seed=1)  # reads rows and columns 0..4
    grad_x = layer.backward(np.ones(layer.forward(x).shape))
    assert np.all(grad_x[:, :, 5, :] == 0) and np.all(grad_x[:, :, :, 5] == 0)
    assert np.all(grad_x[:, :, :5, :5] != 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_keeps_its_dtype_end_to_end(dtype: type) -> None:
    layer = Conv2D(3, 4, 3, stride=2, padding=1, activation="relu", l2_lambda=0.1, seed=0, dtype=dtype)
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7))  # float64 in: the layer's dtype out
    y = layer.forward(x)
    grad_x = layer.backward(np.ones(y.shape))
    for array in (y, grad_x, *layer.params.values(), *layer.grads.values()):
        assert array.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_pools_flatten_and_batchnorm2d_keep_float32_and_float64(dtype: type) -> None:
    x: np.ndarray[Any, Any] = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(dtype)
    layers: list[Layer] = [MaxPool2D(2), AvgPool2D(3, 1), Flatten(), BatchNorm2D(3, dtype=dtype)]
    for layer in layers:
        y = layer.forward(x)
        assert y.dtype == dtype
        assert layer.backward(np.ones(y.shape, dtype=dtype)).dtype == dtype


def test_conv2d_initialization_uses_the_kernels_fan_in_and_fan_out() -> None:
    he = Conv2D(16, 32, 3, activation="relu", seed=0).params["W"]
    assert he.shape == (32, 16, 3, 3)
    assert he.std() == pytest.approx(np.sqrt(2.0 / (16 * 9)), rel=0.03)
    glorot = Conv2D(16, 32, 3, activation="tanh", seed=0).params["W"]
    limit = np.sqrt(6.0 / (16 * 9 + 32 * 9))
    assert np.abs(glorot).max() <= limit and np.abs(glorot).max() > 0.99 * limit
    assert not Conv2D(2, 2, 3).params["b"].any()


def test_conv2d_backward_twice_and_backward_params_fill_the_same_gradients() -> None:
    rng = np.random.default_rng(2)
    layer = Conv2D(2, 3, 3, padding=1, activation="tanh", l1_lambda=0.1, seed=2)
    x = rng.standard_normal((3, 2, 5, 5))
    G = rng.standard_normal(layer.forward(x).shape)
    first = layer.backward(G).copy()
    grads = {key: value.copy() for key, value in layer.grads.items()}
    np.testing.assert_array_equal(layer.backward(G), first)
    layer.backward_params(G)
    for key, value in grads.items():
        np.testing.assert_array_equal(layer.grads[key], value)


# -- pooling ---------------------------------------------------------------------------------------


def numpy_windows(x: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> Any:
    """(N, C, H_out, W_out, kh·kw) of the windows, by slicing window by window."""
    (kh, kw), (sh, sw) = kernel, stride
    H_out, W_out = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.empty((*x.shape[:2], H_out, W_out, kh * kw))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(*x.shape[:2], -1)
    return out


pool_settings = st.tuples(
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    st.integers(3, 7),
    st.integers(3, 7),
    st.integers(0, 2**32 - 1),
)


@SETTINGS
@given(pool_settings)
def test_pools_take_the_max_and_the_mean_of_each_window(settings_: Any) -> None:
    kernel, stride, H, W, seed = settings_
    x = np.random.default_rng(seed).standard_normal((2, 3, H, W))
    windows = numpy_windows(x, kernel, stride or kernel)
    np.testing.assert_array_equal(MaxPool2D(kernel, stride).forward(x), windows.max(axis=-1))
    np.testing.assert_allclose(AvgPool2D(kernel, stride).forward(x), windows.mean(axis=-1), rtol=1e-14, atol=1e-15)


@SETTINGS
@given(pool_settings)
def test_pool_gradients_are_central_differences(settings_: Any) -> None:
    kernel, stride, H, W, seed = settings_
    rng = np.random.default_rng(seed)
    x = (rng.permutation(2 * 2 * H * W).reshape(2, 2, H, W) - 2.0 * H * W) * 0.01  # no two values closer than 0.01
    pools: list[Layer] = [MaxPool2D(kernel, stride), AvgPool2D(kernel, stride)]
    for layer in pools:
        G = rng.standard_normal(layer.forward(x).shape)
        grad_x = layer.backward(G)

        def loss(layer: Layer = layer, G: Any = G) -> float:
            return projection_loss(layer.forward(x), G)

        assert_gradient_close(grad_x, central_difference(loss, x))


def test_max_pool_sends_the_gradient_to_the_first_maximum_in_row_major_order() -> None:
    x = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 3.0], [3.0, 0.0]]).reshape(1, 1, 4, 2)
    layer = MaxPool2D(2)
    np.testing.assert_array_equal(layer.forward(x), [[[[1.0], [3.0]]]])
    grad_x = layer.backward(np.array([[[[5.0], [7.0]]]]))
    np.testing.assert_array_equal(grad_x[0, 0], [[5.0, 0.0], [0.0, 0.0], [0.0, 7.0], [0.0, 0.0]])


def test_overlapping_windows_add_their_gradients() -> None:
    x = np.array([[0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 1, 2, 3)
    layer = MaxPool2D(2, stride=1)  # both windows hold the 9
    layer.forward(x)
    grad_x = layer.backward(np.array([[[[2.0, 3.0]]]]))
    np.testing.assert_array_equal(grad_x[0, 0], [[0.0, 5.0, 0.0], [0.0, 0.0, 0.0]])
    avg = AvgPool2D(2, stride=1)
    avg.forward(x)
    np.testing.assert_allclose(avg.backward(np.array([[[[4.0, 8.0]]]]))[0, 0], [[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]])


def test_pool_stride_defaults_to_the_kernel_and_overhanging_windows_are_dropped() -> None:
    layer = MaxPool2D((2, 3))
    assert layer.stride == (2, 3)
    x = np.random.default_rng(0).standard_normal((1, 1, 5, 7))
    assert layer.forward(x).shape == (1, 1, 2, 2)
    grad_x = layer.backward(np.ones((1, 1, 2, 2)))
    assert not grad_x[0, 0, 4].any() and not grad_x[0, 0, :, 6].any()


# -- Flatten and BatchNorm2D -----------------------------------------------------------------------


def test_flatten_is_c_order_and_its_backward_the_inverse() -> None:
    x = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (2, 12)
    assert y[1, 5] == x[1, 1, 0, 1]  # (c·H + h)·W + w = (1·2 + 0)·2 + 1
    np.testing.assert_array_equal(layer.backward(y * 2.0), x * 2.0)
    assert Flatten().forward(np.ones((4, 3, 5))).shape == (4, 15)


def test_batchnorm2d_normalizes_each_channel_over_batch_and_positions() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5, 6)) * np.array([1.0, 5.0, 0.2]).reshape(1, 3, 1, 1) + 7.0
    layer = BatchNorm2D(3)
    layer.params["gamma"][:] = [1.0, 2.0, 3.0]
    layer.params["beta"][:] = [0.0, -1.0, 1.0]
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), [0.0, -1.0, 1.0], atol=1e-12)
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), [1.0, 2.0, 3.0] * np.sqrt(var / (var + 1e-5)), rtol=1e-12)
    M = 4 * 5 * 6
    np.testing.assert_allclose(layer.state["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(layer.state["running_var"], 0.9 + 0.1 * var * M / (M - 1), rtol=1e-12)


def test_batchnorm2d_gradients_are_central_differences() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 3, 3)) + 1.0
    for training in (True, False):
        layer = BatchNorm2D(2)
        layer.params["gamma"][:] = [0.7, 1.3]
        G = rng.standard_normal(x.shape)
        layer.forward(x, training=training)
        grad_x = layer.backward(G)
        state = {key: value.copy() for key, value in layer.state.items()}

        def loss(layer: BatchNorm2D = layer, G: Any = G, training: bool = training) -> float:
            for key, value in state.items():
                layer.state[key][...] = value
            return projection_loss(layer.forward(x, training=training), G)

        assert_gradient_close(grad_x, central_difference(loss, x))
        assert_gradient_close(layer.grads["gamma"], central_difference(loss, layer.params["gamma"]))


def test_batchnorm2d_is_batchnorm_on_the_channels_columns() -> None:
    x = np.random.default_rng(5).standard_normal((3, 4, 2, 5))
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 4)
    expected = BatchNorm(4).forward(rows).reshape(3, 2, 5, 4).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(BatchNorm2D(4).forward(x), expected, rtol=1e-14, atol=1e-14)
