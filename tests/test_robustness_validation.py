"""Bad input is refused at the public entry point, with a message naming the argument and the values.

Every error is a ValueError or TypeError (or one of refnet's documented subclasses), and the
``match`` patterns check that a learner is told what was expected and what was given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from refnet import (
    MSE,
    SGD,
    Adam,
    BatchNorm,
    BinaryCrossEntropy,
    CallOrderError,
    CrossEntropy,
    Dense,
    Dropout,
    LeakyReLU,
    NeuralNetwork,
    Neuron,
    NonFiniteError,
    ShapeError,
    Sigmoid,
    Softmax,
)


def network(loss: object = None) -> NeuralNetwork:
    return NeuralNetwork([Dense(3, 4, "relu", seed=0), Dense(4, 2, seed=1)], loss)  # type: ignore[arg-type]


# -- constructors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"in_features": 0}, ValueError, r"in_features must be an integer >= 1, got 0"),
        ({"out_features": -2}, ValueError, r"out_features must be an integer >= 1, got -2"),
        ({"in_features": 2.5}, TypeError, r"in_features must be an integer, got float"),
        ({"in_features": True}, TypeError, r"in_features must be an integer, got bool"),
        ({"activation": "relux"}, ValueError, r"unknown activation 'relux'; valid names are .*'relu'.*'sigmoid'"),
        ({"activation": 3}, TypeError, r"activation must be a name.*got int"),
        ({"l1_lambda": -0.1}, ValueError, r"l1_lambda must be a finite number >= 0, got -0.1"),
        ({"l2_lambda": float("nan")}, ValueError, r"l2_lambda must be a finite number >= 0, got nan"),
        ({"dtype": np.int32}, ValueError, r"dtype must be float32 or float64, got int32"),
        ({"weight_init": "zeros"}, ValueError, r"unknown weight_init 'zeros'; valid names are .*'he_normal'"),
        ({"seed": -1}, ValueError, r"seed must be an integer >= 0, got -1"),
        ({"rng": 42}, TypeError, r"rng must be a numpy.random.Generator, got int"),
    ],
)
def test_dense_constructor_names_the_bad_argument(kwargs: dict[str, Any], error: type, pattern: str) -> None:
    arguments = {"in_features": 3, "out_features": 2, **kwargs}
    with pytest.raises(error, match=pattern):
        Dense(**arguments)


def test_weight_init_returning_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"weight_init returned shape \(2, 3\), expected \(3, 2\)"):
        Dense(3, 2, weight_init=lambda shape, rng, dtype: np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: Dropout(1.0), r"p must lie in \[0, 1\), got 1.0"),
        (lambda: Dropout(-0.1), r"p must be a finite number >= 0, got -0.1"),
        (lambda: LeakyReLU(1.5), r"alpha must lie in \[0, 1\), got 1.5"),
        (lambda: BatchNorm(0), r"num_features must be an integer >= 1, got 0"),
        (lambda: BatchNorm(3, eps=0.0), r"eps must be a finite number > 0, got 0.0"),
        (lambda: BinaryCrossEntropy(eps=-1), r"eps must be a finite number > 0, got -1"),
    ],
)
def test_other_constructors_name_the_bad_argument(make: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda: SGD(0.0), ValueError, r"learning_rate must be a finite number > 0, got 0.0"),
        (lambda: SGD(-0.1), ValueError, r"learning_rate must be a finite number > 0, got -0.1"),
        (lambda: Adam(float("inf")), ValueError, r"learning_rate must be a finite number > 0, got inf"),
        (lambda: Adam("0.1"), TypeError, r"learning_rate must be a real number, got str"),  # type: ignore[arg-type]
        (lambda: Adam(beta1=1.0), ValueError, r"beta1 must lie in \[0, 1\), got 1.0"),
        (lambda: Adam(beta1=-0.5), ValueError, r"beta1 must be a finite number >= 0, got -0.5"),
        (lambda: Adam(beta2=1.2), ValueError, r"beta2 must lie in \[0, 1\), got 1.2"),
        (lambda: Adam(epsilon=0), ValueError, r"epsilon must be a finite number > 0, got 0"),
        (lambda: Adam(weight_decay=-1e-3), ValueError, r"weight_decay must be a finite number >= 0, got -0.001"),
        (lambda: SGD(momentum=1.0), ValueError, r"momentum must lie in \[0, 1\), got 1.0"),
        (lambda: SGD(nesterov=True), ValueError, r"nesterov=True needs a momentum > 0"),
        (lambda: SGD(clip_norm=0), ValueError, r"clip_norm must be a finite number > 0, got 0"),
    ],
)
def test_optimizer_hyper_parameters_are_checked(make: object, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        make()  # type: ignore[operator]


# -- building the network -----------------------------------------------------------


def test_add_refuses_something_that_is_not_a_layer() -> None:
    with pytest.raises(TypeError, match=r"add\(\) takes a Layer \(e.g. Dense\), got MSE"):
        NeuralNetwork().add(MSE())  # type: ignore[arg-type]


def test_add_detects_incompatible_consecutive_layers_naming_index_and_sizes() -> None:
    net = NeuralNetwork([Dense(3, 4)])
    with pytest.raises(
        ShapeError, match=r"layer 1 \(Dense\) expects 5 input features, but the previous layer outputs 4"
    ):
        net.add(Dense(5, 2))
    assert len(net.layers) == 1


def test_add_detects_a_width_mismatch_behind_a_width_preserving_layer() -> None:
    net = NeuralNetwork([Dense(3, 4), Dropout(0.1), BatchNorm(4)])
    with pytest.raises(
        ShapeError, match=r"layer 3 \(Dense\) expects 6 input features, but the previous layer outputs 4"
    ):
        net.add(Dense(6, 1))


def test_add_refuses_mixed_dtypes_and_the_same_layer_twice() -> None:
    layer = Dense(3, 3)
    net = NeuralNetwork([layer])
    with pytest.raises(ValueError, match=r"layer 1 has dtype float32 but the network has dtype float64"):
        net.add(Dense(3, 3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"already in the network"):
        net.add(layer)


def test_set_loss_refuses_something_that_is_not_a_loss() -> None:
    with pytest.raises(TypeError, match=r"set_loss\(\) takes a Loss \(e.g. MSE\(\)\), got str"):
        network().set_loss("mse")  # type: ignore[arg-type]


# -- inputs X -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "error", "pattern"),
    [
        (
            np.ones(3),
            ShapeError,
            r"X must have a batch axis and a feature axis, \(N, features\), got shape \(3,\).*reshape\(1, -1\)",
        ),
        (
            np.ones((2, 3, 1)),
            ShapeError,
            r"layer 0 \(Dense\): .* expects 3 input features \(the last axis\), got inputs of shape \(N, 3, 1\)",
        ),
        (np.float64(1.0), ShapeError, r"X must have a batch axis and a feature axis, .* got shape \(\)"),
        (np.ones((2, 5)), ShapeError, r"X has 5 features \(columns\) but layer 0 \(Dense\) expects 3"),
        (np.ones((0, 3)), ShapeError, r"X is empty: got shape \(0, 3\)"),
        (np.array([[1.0, np.nan, 0.0]]), ValueError, r"X contains 1 non-finite value\(s\).*nan at index \(0, 1\)"),
        (np.array([[1.0, 2.0, -np.inf]]), ValueError, r"X contains 1 non-finite value\(s\).*-inf at index \(0, 2\)"),
        (np.array([[1, 2, "a"]]), TypeError, r"X must be a numeric array, got an array of dtype <U"),
        (np.array([[1, 2, 3]], dtype=object), TypeError, r"X must be a numeric array, got an array of dtype object"),
        (np.ones((1, 3), dtype=bool), TypeError, r"X must be a numeric array, got an array of dtype bool"),
        (np.ones((1, 3), dtype=complex), TypeError, r"X must be real, got an array of dtype complex128"),
        ([[1, 2], [3]], TypeError, r"X must be a numeric array, got list"),
        (None, TypeError, r"X must be a numeric array, got an array of dtype object"),
    ],
)
@pytest.mark.parametrize("method", ["forward", "predict"])
def test_forward_and_predict_refuse_bad_X(method: str, X: object, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        getattr(network(), method)(X)


def test_float32_network_refuses_values_that_overflow_float32() -> None:
    net = NeuralNetwork([Dense(3, 1, dtype=np.float32)], MSE())
    with pytest.raises(ValueError, match=r"X has values too large for float32 \(largest magnitude 1e\+300"):
        net.predict(np.full((2, 3), 1e300))
    with pytest.raises(ValueError, match=r"y_true has values too large for float32"):
        net.compute_gradients(np.ones((2, 3)), np.full(2, -1e100))


def test_a_network_without_layers_says_so() -> None:
    with pytest.raises(CallOrderError, match=r"the network has no layers: add\(\) at least one first"):
        NeuralNetwork().predict(np.ones((1, 3)))


# -- targets Y ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "Y", "error", "pattern"),
    [
        (MSE(), np.ones((3, 2)), ShapeError, r"X has 4 rows but Y has 3 rows"),
        (MSE(), 1.0, ShapeError, r"X has 4 rows but Y has a scalar"),
        (MSE(), np.ones((4, 3)), ShapeError, r"MSE: y_true must have shape \(4, 2\), got \(4, 3\)"),
        (MSE(), np.full((4, 2), np.nan), ValueError, r"y_true contains 8 non-finite value\(s\)"),
        (MSE(), np.array([["a", "b"]] * 4), TypeError, r"Y must be a numeric array, got an array of dtype <U1"),
        (
            CrossEntropy(),
            np.array([0, 1, 2, 1]),
            ValueError,
            r"label 2 is out of range for 2 classes \(valid: 0 to 1\)",
        ),
        (CrossEntropy(), np.array([0, -1, 1, 1]), ValueError, r"label -1 is out of range for 2 classes"),
        (
            CrossEntropy(),
            np.array([0.0, 0.5, 1.0, 1.0]),
            ValueError,
            r"label targets must be integer class labels 0..C-1",
        ),
        (CrossEntropy(), np.array([0.0, np.inf, 1.0, 1.0]), ValueError, r"y_true contains 1 non-finite value"),
        (CrossEntropy(), np.ones((4, 3)), ShapeError, r"CrossEntropy: y_true must have shape \(4, 2\), got \(4, 3\)"),
        (BinaryCrossEntropy(from_logits=True), np.full((4, 2), 2.0), ValueError, r"targets must lie in \[0, 1\]"),
    ],
)
@pytest.mark.parametrize("method", ["compute_gradients", "evaluate", "train"])
def test_targets_are_checked_against_X_and_the_loss(
    method: str, loss: object, Y: object, error: type, pattern: str
) -> None:
    net = network(loss)
    call = getattr(net, method)
    X = np.ones((4, 3))
    with pytest.raises(error, match=pattern):
        call(X, Y, epochs=1, optimizer=SGD()) if method == "train" else call(X, Y)


# -- calling things in the wrong order ---------------------------------------------------


def test_train_without_a_loss_says_to_call_set_loss() -> None:
    with pytest.raises(CallOrderError, match=r"no loss set: call set_loss\(...\) first"):
        network().train(np.ones((2, 3)), np.ones((2, 2)), epochs=1, optimizer=SGD())
    with pytest.raises(ValueError, match=r"no loss set"):
        network().compute_gradients(np.ones((2, 3)), np.ones((2, 2)))


@pytest.mark.parametrize(
    "make", [lambda: Dense(2, 2), lambda: Sigmoid(), lambda: Softmax(), lambda: Dropout(0.5), lambda: BatchNorm(2)]
)
def test_backward_before_forward_is_a_call_order_error(make: object) -> None:
    layer = make()  # type: ignore[operator]
    with pytest.raises(CallOrderError, match=r"backward called before forward"):
        layer.backward(np.ones((1, 2)))


def test_loss_backward_before_forward_is_a_call_order_error() -> None:
    with pytest.raises(ValueError, match=r"MSE.backward called before forward"):
        MSE().backward()


def test_call_order_error_is_also_a_runtime_error() -> None:
    assert issubclass(CallOrderError, RuntimeError) and issubclass(CallOrderError, ValueError)


# -- train's own arguments ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"optimizer": None}, TypeError, r"train\(\) needs an optimizer such as SGD\(\) or Adam\(\), got NoneType"),
        ({"optimizer": "adam"}, TypeError, r"needs an optimizer .*got str"),
        ({"epochs": 0}, ValueError, r"epochs must be an integer >= 1, got 0"),
        ({"epochs": 2.0}, TypeError, r"epochs must be an integer, got float"),
        ({"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1, got 0"),
        ({"validation_data": np.ones((2, 3))}, TypeError, r"validation_data must be a pair \(X_val, Y_val\)"),
        ({"validation_data": (np.ones((2, 4)), np.ones((2, 2)))}, ShapeError, r"X_val has 4 features"),
        ({"validation_data": (np.ones((2, 3)), np.ones((3, 2)))}, ShapeError, r"X_val has 2 rows but Y_val has 3"),
        ({"validation_split": 1.0}, ValueError, r"validation_split must lie in \[0, 1\), got 1.0"),
        ({"validation_split": 0.01}, ValueError, r"validation_split=0.01 leaves 0 of 4 rows for validation"),
        ({"callbacks": [object()]}, TypeError, r"callbacks must be Callback objects, got object"),
    ],
)
def test_train_arguments_are_checked(kwargs: dict[str, Any], error: type, pattern: str) -> None:
    arguments = {"epochs": 1, "optimizer": SGD(), **kwargs}
    with pytest.raises(error, match=pattern):
        network(MSE()).train(np.ones((4, 3)), np.ones((4, 2)), **arguments)


# -- layers and losses used directly ---------------------------------------------------


@pytest.mark.parametrize(
    ("x", "error", "pattern"),
    [
        (np.ones((2, 4)), ShapeError, r"Dense: x must have shape \(N, \.\.\., 3\), got \(2, 4\)"),
        (np.ones(3), ShapeError, r"Dense: x must have shape \(N, \.\.\., 3\), got \(3,\)"),
        (np.array([["a", "b", "c"]]), TypeError, r"Dense: x must be a numeric array, got an array of dtype <U1"),
        (np.array([[1, 2, 3]], dtype=object), TypeError, r"Dense: x must be a numeric array.*object"),
    ],
)
def test_dense_forward_checks_its_input(x: object, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        Dense(3, 2).forward(x)  # type: ignore[arg-type]


def test_dense_backward_checks_grad_y_against_the_forward_batch() -> None:
    layer = Dense(3, 2)
    layer.forward(np.ones((4, 3)))
    with pytest.raises(ShapeError, match=r"Dense: grad_y must have shape \(4, 2\), got \(3, 2\)"):
        layer.backward(np.ones((3, 2)))


def test_standalone_activation_checks_its_input_and_grad_y() -> None:
    with pytest.raises(ShapeError, match=r"Sigmoid: x must have shape \(N, features\) or \(N, \.\.\.\), got \(3,\)"):
        Sigmoid().forward(np.ones(3))
    with pytest.raises(TypeError, match=r"Sigmoid: x must be a numeric array, got an array of dtype <U1"):
        Sigmoid().forward(np.array([["a"]]))
    activation = Softmax()
    activation.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"Softmax: grad_y must have shape \(2, 3\), got \(2, 2\)"):
        activation.backward(np.ones((2, 2)))


@pytest.mark.parametrize(
    ("loss", "y_pred", "y_true", "error", "pattern"),
    [
        (
            MSE(),
            np.ones(3),
            np.ones(3),
            ShapeError,
            r"MSE: y_pred must be \(N, outputs\) or \(N, ..., outputs\), got shape \(3,\)",
        ),
        (MSE(), np.ones((2, 2)), np.ones((2, 3)), ShapeError, r"y_true must have shape \(2, 2\), got \(2, 3\)"),
        (MSE(), np.array([[np.nan, 1.0]]), np.ones((1, 2)), ValueError, r"y_pred contains 1 non-finite value"),
        (CrossEntropy(), np.ones((2, 1)), np.zeros(2), ShapeError, r"logits need at least 2 classes"),
        (CrossEntropy(), np.ones((2, 3)), np.zeros(3, dtype=int), ShapeError, r"got 3 labels for 2 rows of logits"),
        (CrossEntropy(), np.ones((2, 3)), np.array([0, 3]), ValueError, r"label 3 is out of range for 3 classes"),
        (BinaryCrossEntropy(), np.full((1, 2), 1.5), np.ones((1, 2)), ValueError, r"probabilities in \[0, 1\]"),
        (
            BinaryCrossEntropy(),
            np.full((1, 2), 0.5),
            np.full((1, 2), -1.0),
            ValueError,
            r"targets must lie in \[0, 1\]",
        ),
    ],
)
def test_losses_check_predictions_and_targets(
    loss: object, y_pred: NDArray[Any], y_true: NDArray[Any], error: type, pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        loss.forward(y_pred, y_true)  # type: ignore[attr-defined]


def test_cross_entropy_refuses_rows_that_are_not_distributions() -> None:
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"probability rows .* row 1 summing to 2"):
        CrossEntropy().forward(logits, np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"entries from -0.5 to 1"):
        CrossEntropy().forward(logits, np.array([[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]]))


def test_a_loss_that_overflows_its_dtype_is_a_non_finite_error() -> None:
    y_pred = np.full((2, 2), 1e20, dtype=np.float32)  # squared: 1e40 > float32's 3.4e38
    with pytest.raises(NonFiniteError, match=r"MSE: the loss overflows float32 \(values up to 1e\+20\)"):
        MSE().forward(y_pred, np.zeros((2, 2)))


def test_train_refuses_a_last_batch_of_one_row_before_any_step_when_batchnorm_is_used() -> None:
    net = NeuralNetwork([Dense(3, 4, seed=0), BatchNorm(4), Dense(4, 1, seed=1)], MSE())
    before = net.get_arrays()
    with pytest.raises(ShapeError, match=r"layer 1 \(BatchNorm\) needs batches of at least 2 rows.*9 training rows"):
        net.train(np.ones((9, 3)), np.ones(9), epochs=1, optimizer=SGD(), batch_size=4)
    for key, value in net.get_arrays().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: Neuron(2, weights=["a", "b"]), TypeError, r"weights must be a numeric array"),
        (lambda: Neuron(2, weights=[1.0, 2.0, 3.0]), ShapeError, r"weights must have 2 entries, got 3"),
        (lambda: Neuron(2, weights=[1.0, np.nan]), ValueError, r"weights contains 1 non-finite value"),
        (lambda: Neuron(2, bias=[1.0, 2.0]), ShapeError, r"bias must be a single number, got shape \(2,\)"),  # type: ignore[arg-type]
        (lambda: Neuron(0), ValueError, r"n_inputs must be an integer >= 1, got 0"),
        (lambda: Neuron(2).train(np.ones((3, 2)), ["a", "b", "c"]), TypeError, r"y must be a numeric array"),
        (lambda: Neuron(2).train(np.ones((3, 2)), [1.0, np.inf, 0.0]), ValueError, r"y contains 1 non-finite"),
        (lambda: Neuron(2).train(np.ones((3, 2)), [1.0, 0.0]), ShapeError, r"X has 3 rows but y has 2"),
        (lambda: Neuron(2).train(np.ones((3, 2)), [1, 0, 1], learning_rate=0), ValueError, r"learning_rate .* > 0"),
        (
            lambda: Neuron(2).forward(np.ones((3, 3))),
            ShapeError,
            r"Neuron: x must have shape \(N, \.\.\., 2\), got \(3, 3\)",
        ),
    ],
)
def test_neuron_checks_its_arguments(call: object, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()  # type: ignore[operator]


def test_neuron_backward_checks_grad_y_against_the_forward_batch() -> None:
    neuron = Neuron(2)
    neuron.forward(np.ones((3, 2)))
    with pytest.raises(ShapeError, match=r"Neuron: grad_y must have shape \(3, 1\), got \(2, 1\)"):
        neuron.backward(np.ones((2, 1)))


def test_optimizer_step_takes_a_list_of_layers() -> None:
    with pytest.raises(TypeError, match=r"step\(\) takes a list of layers, e.g. step\(network.layers\), got one Dense"):
        SGD().step(Dense(2, 2))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"step\(\) takes Layer objects \(e.g. Dense\), got MSE"):
        Adam().step([Dense(2, 2), MSE()])  # type: ignore[list-item]


def test_network_constructor_takes_a_list_of_layers() -> None:
    with pytest.raises(TypeError, match=r"layers must be a list of layers, e.g. \[Dense\(2, 8\), ...\], got one Dense"):
        NeuralNetwork(Dense(2, 2))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"set_loss\(\) takes a Loss"):
        NeuralNetwork([Dense(2, 2)], "mse")  # type: ignore[arg-type]
