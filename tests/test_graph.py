"""Computational graphs: fan-out sums gradients, chains equal stacks, bad graphs are refused at build."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import central_difference
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import MSE, SGD, Adam, CrossEntropy, Dense, NeuralNetwork
from refnet.errors import ShapeError
from refnet.graph import Add, Concatenate, GraphError, GraphModel, Input, Multiply


def numerical_gradients(model: GraphModel, X: NDArray[Any], Y: NDArray[Any]) -> list[dict[str, NDArray[Any]]]:
    """Central differences of the total loss with respect to every parameter (independent of backward)."""

    def total() -> float:
        assert model.loss is not None
        return model.loss.forward(model.forward(X, training=True), Y) + model.penalty()

    return [{name: central_difference(total, param) for name, param in layer.params.items()} for layer in model.layers]


def assert_gradients_match(model: GraphModel, X: NDArray[Any], Y: NDArray[Any]) -> None:
    model.compute_gradients(X, Y)
    for layer, numeric in zip(model.layers, numerical_gradients(model, X, Y), strict=True):
        for name, expected in numeric.items():
            np.testing.assert_allclose(layer.grads[name], expected, rtol=1e-6, atol=1e-8, err_msg=f"{layer!r}.{name}")


def residual_model(seed: int = 0) -> GraphModel:
    x = Input(4)
    h = Dense(4, 6, "tanh", seed=seed)(x)
    y = Add()(x, Dense(6, 4, l2_lambda=0.1, seed=seed + 1)(h))
    return GraphModel(x, Dense(4, 3, seed=seed + 2)(y), loss=CrossEntropy())


def concat_model(seed: int = 0) -> GraphModel:
    x = Input(3)
    left = Dense(3, 4, "sigmoid", seed=seed)(x)
    right = Dense(3, 2, "tanh", l1_lambda=0.05, seed=seed + 1)(x)
    return GraphModel(x, Dense(6, 2, seed=seed + 2)(Concatenate()(left, right)), loss=MSE())


def shared_input_model(seed: int = 0) -> GraphModel:
    """One node feeding two paths and a product: x -> a, x -> b, out = a ⊙ b + x."""
    x = Input(3)
    a = Dense(3, 3, "tanh", seed=seed)(x)
    b = Dense(3, 3, "sigmoid", seed=seed + 1)(x)
    return GraphModel(x, Add()(Multiply()(a, b), x), loss=MSE())


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_residual_concat_and_shared_input_graphs_match_finite_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(5, 4))
    assert_gradients_match(residual_model(seed), X, rng.integers(0, 3, size=5))
    assert_gradients_match(concat_model(seed), X[:, :3], rng.normal(size=(5, 2)))
    assert_gradients_match(shared_input_model(seed), X[:, :3], rng.normal(size=(5, 3)))


def test_input_gradient_sums_both_paths_at_fan_out() -> None:
    # y = x + x·W (identity Dense): dL/dx = grad_y + grad_y @ W.T, the sum of the two paths.
    x = Input(2)
    dense = Dense(2, 2, seed=0)
    model = GraphModel(x, Add()(x, dense(x)), loss=MSE())
    X = np.array([[1.0, -2.0], [0.5, 3.0]])
    model.forward(X, training=True)
    grad_y = np.array([[1.0, 2.0], [-1.0, 0.5]])
    grad_x = model.backward(grad_y)
    assert grad_x is not None
    np.testing.assert_allclose(grad_x, grad_y + grad_y @ dense.params["W"].T, rtol=1e-14)


def test_chain_graph_equals_neural_network_bitwise() -> None:
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(50, 6)), rng.integers(0, 4, size=50)
    x = Input(6)
    graph = GraphModel(x, Dense(8, 4, seed=2)(Dense(6, 8, "relu", l2_lambda=0.01, seed=1)(x)), CrossEntropy(), seed=7)
    stack = NeuralNetwork([Dense(6, 8, "relu", l2_lambda=0.01, seed=1), Dense(8, 4, seed=2)], CrossEntropy(), seed=7)
    assert graph.compute_gradients(X, Y) == stack.compute_gradients(X, Y)
    for a, b in zip(graph.layers, stack.layers, strict=True):
        assert all(np.array_equal(a.grads[k], b.grads[k]) for k in a.grads)
    history_graph = graph.train(X, Y, epochs=4, optimizer=Adam(0.01), batch_size=16)
    history_stack = stack.train(X, Y, epochs=4, optimizer=Adam(0.01), batch_size=16)
    assert history_graph["loss"] == history_stack["loss"]
    for a, b in zip(graph.layers, stack.layers, strict=True):
        assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert np.array_equal(graph.predict(X), stack.predict(X))


def test_add_with_a_zero_branch_is_the_identity() -> None:
    x = Input(5)
    zero = Dense(5, 5, seed=0)
    zero.params["W"][:] = 0.0
    model = GraphModel(x, Add()(x, zero(x)))
    X = np.random.default_rng(0).normal(size=(4, 5))
    assert np.array_equal(model.predict(X), X)


def test_merge_backward_formulas() -> None:
    rng = np.random.default_rng(1)
    a, b, g = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    multiply = Multiply()
    assert np.array_equal(multiply.forward_many([a, b]), a * b)
    grad_a, grad_b = multiply.backward_many(g)
    assert np.array_equal(grad_a, g * b) and np.array_equal(grad_b, g * a)
    concat = Concatenate()
    assert concat.forward_many([a, b[:, :1]]).shape == (3, 3)
    left, right = concat.backward_many(np.arange(9.0).reshape(3, 3))
    assert np.array_equal(left, [[0, 1], [3, 4], [6, 7]]) and np.array_equal(right, [[2], [5], [8]])


def test_mismatched_merge_shapes_are_refused_naming_both_shapes() -> None:
    x = Input(4)
    with pytest.raises(ShapeError, match=r"\(N, 4\).*\(N, 3\)"):
        Add()(x, Dense(4, 3)(x))


def test_wrong_width_is_refused_when_the_layer_is_applied() -> None:
    x = Input(4, name="features")
    with pytest.raises(
        ShapeError,
        match=r"expects 5 input features \(the last axis\), got inputs of shape \(N, 4\) \(at node 'features'\)",
    ):
        Dense(5, 2)(x)


def test_dead_branch_is_refused_at_build() -> None:
    x = Input(3)
    used = Dense(3, 2)(x)
    Dense(3, 2)(x)  # computed but never reaches the output
    with pytest.raises(GraphError, match="not connected to the output"):
        GraphModel(x, used)


def test_output_depending_on_another_input_is_refused() -> None:
    x, other = Input(3), Input(3, name="other")
    with pytest.raises(GraphError, match="'other'.*not the model's input"):
        GraphModel(x, Add()(x, other))


def test_cycle_is_refused() -> None:
    x = Input(2)
    a = Dense(2, 2)(x)
    b = Dense(2, 2)(a)
    a.inputs = (b,)  # a hand-made cycle: a <- b <- a
    with pytest.raises(GraphError, match="cycle"):
        GraphModel(x, b)


def test_reusing_a_layer_is_refused_with_advice() -> None:
    x = Input(2)
    shared = Dense(2, 2)
    shared(x)
    with pytest.raises(GraphError, match="already used.*create a second layer"):
        shared(x)


def test_add_is_refused_on_a_graph_model() -> None:
    x = Input(2)
    model = GraphModel(x, Dense(2, 1)(x))
    with pytest.raises(TypeError, match="built from nodes"):
        model.add(Dense(1, 1))


def test_summary_lists_nodes_inputs_shapes_and_params_and_dot_has_every_edge() -> None:
    model = concat_model()
    text = str(model)
    for node in model.nodes:
        assert node.name is not None and node.name in text
    assert "(N, 6)" in text and "Concatenate" in text
    assert model.parameter_count() == (3 * 4 + 4) + (3 * 2 + 2) + (6 * 2 + 2)
    assert f"total parameters: {model.parameter_count()}" in text
    dot = model.to_dot()
    edges = sum(len(node.inputs) for node in model.nodes)
    assert dot.count("->") == edges and dot.startswith("digraph")


def test_graph_trains_and_loss_falls() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    Y = np.sin(X) @ np.ones((3, 2))
    model = concat_model(4)
    history = model.train(X, Y, epochs=60, optimizer=SGD(0.1, momentum=0.9), batch_size=16)
    assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_graph_with_mixed_dtypes_is_refused() -> None:
    x = Input(3)
    a = Dense(3, 3, dtype=np.float32)(x)
    b = Dense(3, 3, dtype=np.float64)(x)
    with pytest.raises(GraphError, match=r"mixes parameter dtypes \['float32', 'float64'\]"):
        GraphModel(x, Add()(a, b))


def test_float32_graph_keeps_float32() -> None:
    x = Input(3)
    h = Dense(3, 4, "tanh", dtype=np.float32, seed=0)(x)
    model = GraphModel(x, Concatenate()(h, Dense(4, 2, dtype=np.float32, seed=1)(h)), loss=MSE())
    X = np.random.default_rng(0).normal(size=(5, 3))
    assert model.predict(X).dtype == np.float32
    model.compute_gradients(X, np.zeros((5, 6)))
    assert all(grad.dtype == np.float32 for layer in model.layers for grad in layer.grads.values())


@pytest.mark.parametrize("merge", [Add(), Multiply()])
def test_elementwise_merges_refuse_unequal_shapes_instead_of_broadcasting(merge) -> None:
    with pytest.raises(ShapeError, match=r"same number of rows, got \(4, 3\) and \(1, 3\)"):
        merge.forward_many([np.ones((4, 3)), np.ones((1, 3))])


def test_merges_refuse_lists_of_lists_and_single_inputs() -> None:
    # A nested list is converted, so Add sums instead of concatenating Python lists.
    assert np.array_equal(Add().forward_many([[[1.0, 2.0]], [[3.0, 4.0]]]), [[4.0, 6.0]])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="at least 2 arrays"):
        Add().forward_many([np.ones((2, 2))])
    with pytest.raises(ShapeError, match="must have shape"):
        Add().forward_many([np.ones(3), np.ones(3)])


def test_concatenate_needs_equal_rows_and_a_grad_of_the_output_shape() -> None:
    concat = Concatenate()
    with pytest.raises(ShapeError, match="same number of rows"):
        concat.forward_many([np.ones((4, 2)), np.ones((3, 2))])
    concat.forward_many([np.ones((4, 2)), np.ones((4, 1))])
    with pytest.raises(ShapeError, match=r"grad_y must have shape \(4, 3\), got \(4, 5\)"):
        concat.backward_many(np.ones((4, 5)))


def test_merge_backward_before_forward_is_a_call_order_error() -> None:
    from refnet import CallOrderError

    for merge in (Add(), Multiply(), Concatenate()):
        with pytest.raises(CallOrderError):
            merge.backward_many(np.ones((2, 2)))
