"""Validation once, at the boundary: the math methods hold no checks; the interface validates a
layer called directly; a network validates X once and then runs the math unchecked."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import refnet
import refnet.base
from refnet import MSE, SGD, BatchNorm, Dense, Dropout, Layer, NeuralNetwork, ReLU, Tanh
from refnet.errors import CallOrderError, ShapeError

ROOT = Path(__file__).resolve().parent.parent

#: The methods that hold a component's math.
MATH_METHODS = {"forward", "backward", "gradient", "function", "forward_many", "backward_many"}


def calls_in(function: ast.FunctionDef) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


def test_no_math_method_of_a_refnet_layer_checks_or_casts_its_input() -> None:
    offenders, inspected = {}, 0
    exported = {value for value in vars(refnet).values() if isinstance(value, type) and issubclass(value, Layer)}
    # with the refnet base classes they inherit their math from (Recurrent for RNN, LSTM and GRU)
    classes = {base for cls in exported for base in cls.__mro__ if base.__module__.startswith("refnet.")}
    for cls in classes:
        for name in MATH_METHODS & set(vars(cls)):
            source = inspect.getsource(inspect.unwrap(vars(cls)[name]))
            tree = ast.parse(inspect.cleandoc("\n" + source) if source.startswith(" ") else source)
            function = tree.body[0]
            assert isinstance(function, ast.FunctionDef)
            inspected += 1
            checks = {call for call in calls_in(function) if call.startswith(("check_", "cast_", "as_", "_require"))}
            if checks:
                offenders[f"{cls.__name__}.{name}"] = sorted(checks)
    assert offenders == {}
    assert inspected >= 20  # Dense, BatchNorm, Dropout, Neuron, every activation and merge


def test_the_finder_sees_a_check_in_a_method() -> None:
    tree = ast.parse("def forward(self, x):\n    x = check_batch(x, self)\n    return x\n")
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    assert "check_batch" in calls_in(function)


class Scale(Layer):
    """y = 2·x, a user's layer: its forward and backward hold the math only."""

    def forward(self, x: Any, training: bool = True) -> Any:
        return 2 * x

    def backward(self, grad_y: Any) -> Any:
        return 2 * grad_y


def test_a_users_layer_is_validated_by_the_interface_before_its_math_runs() -> None:
    layer = Scale()
    with pytest.raises(CallOrderError, match=r"Scale.backward called before forward"):
        layer.backward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"Scale: x must have shape \(N, features\) or \(N, \.\.\.\), got \(3,\)"):
        layer.forward(np.ones(3))
    with pytest.raises(TypeError, match=r"Scale: x must be a numeric array"):
        layer.forward(np.array([["a"]]))
    assert layer.forward([[1, 2]]).dtype == np.float64  # integers become floats before the math
    with pytest.raises(ShapeError, match=r"Scale: grad_y must have shape \(1, 2\), got \(2, 1\)"):
        layer.backward(np.ones((2, 1)))
    assert np.array_equal(layer.backward(np.ones((1, 2))), [[2.0, 2.0]])


@pytest.mark.parametrize("make", [lambda: Dense(3, 2, seed=0), lambda: BatchNorm(3), Tanh, ReLU, lambda: Dropout(0.5)])
def test_a_refnet_layer_casts_a_direct_input_to_its_dtype_and_checks_grad_y(make: Any) -> None:
    layer = make()
    y = layer.forward(np.arange(6).reshape(2, 3))  # integers
    assert y.dtype == np.float64
    with pytest.raises(ShapeError, match=r"grad_y must have shape \(2, \d\), got \(3, 3\)"):
        layer.backward(np.ones((3, 3)))


def test_a_network_validates_X_once_and_runs_the_layers_math_unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"input": 0, "grad_y": 0}
    check_input, check_grad_y = refnet.base.check_input, refnet.base.check_grad_y

    def counted_input(*args: Any, **kwargs: Any) -> Any:
        calls["input"] += 1
        return check_input(*args, **kwargs)

    def counted_grad_y(*args: Any, **kwargs: Any) -> Any:
        calls["grad_y"] += 1
        return check_grad_y(*args, **kwargs)

    monkeypatch.setattr(refnet.base, "check_input", counted_input)
    monkeypatch.setattr(refnet.base, "check_grad_y", counted_grad_y)
    net = NeuralNetwork([Dense(3, 4, activation="relu"), BatchNorm(4), Dropout(0.2), Dense(4, 1)], MSE(), seed=0)
    X, Y = np.random.default_rng(0).normal(size=(16, 3)), np.zeros((16, 1))
    net.train(X, Y, epochs=2, optimizer=SGD(0.01), batch_size=4)
    net.compute_gradients(X, Y)
    net.predict(X)
    assert calls == {"input": 0, "grad_y": 0}
    net.layers[0].forward(X)  # a direct call is the user's: validated
    assert calls["input"] == 1


def test_a_network_refuses_one_row_in_training_mode_where_batchnorm_needs_two() -> None:
    net = NeuralNetwork([Dense(3, 4), BatchNorm(4)], MSE(), seed=0)
    with pytest.raises(ShapeError, match=r"layer 1 \(BatchNorm\): training needs a batch of at least 2 rows, got 1"):
        net.compute_gradients(np.ones((1, 3)), np.ones((1, 4)))
    with pytest.raises(ShapeError, match=r"BatchNorm: training needs a batch of at least 2 rows, got 1"):
        BatchNorm(4).forward(np.ones((1, 4)))
    assert net.predict(np.ones((1, 3))).shape == (1, 4)  # evaluation needs no batch statistics
