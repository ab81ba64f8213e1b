"""Edges a careless user (or a hostile file) reaches: array subclasses, shared initial
weights, ``set_arrays`` with bad values, and node names that try to escape a DOT string."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import (
    MSE,
    SGD,
    BatchNorm,
    CrossEntropy,
    Dense,
    Dropout,
    NeuralNetwork,
    ShapeError,
)
from refnet.graph import Add, Concatenate, GraphModel, Input


def matrix(array: NDArray[Any]) -> Any:
    with warnings.catch_warnings():  # np.matrix itself is pending deprecation; refnet must not warn
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(array)


def net_with_batchnorm_and_dropout(dtype: Any = np.float64) -> NeuralNetwork:
    layers = [Dense(3, 4, "relu", seed=1, dtype=dtype), BatchNorm(4, dtype=dtype), Dropout(0.5, seed=2)]
    return NeuralNetwork([*layers, Dense(4, 2, seed=3, dtype=dtype)], MSE(), seed=0)


def data() -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 3)), rng.normal(size=(6, 2))


# -- array subclasses ------------------------------------------------------------------------


def test_np_matrix_inputs_give_exactly_the_plain_array_results() -> None:
    # np.matrix's * is a matrix product and its reductions stay 2-D: refnet views it as a plain array.
    X, Y = data()
    plain, as_matrix = net_with_batchnorm_and_dropout(), net_with_batchnorm_and_dropout()
    np.testing.assert_array_equal(as_matrix.predict(matrix(X)), plain.predict(X))
    assert type(as_matrix.predict(matrix(X))) is np.ndarray
    assert as_matrix.compute_gradients(matrix(X), matrix(Y)) == plain.compute_gradients(X, Y)
    as_matrix.train(matrix(X), matrix(Y), epochs=2, optimizer=SGD(0.1), batch_size=3)
    plain.train(X, Y, epochs=2, optimizer=SGD(0.1), batch_size=3)
    for key, value in plain.get_arrays().items():
        np.testing.assert_array_equal(as_matrix.get_arrays()[key], value, err_msg=key)


def test_np_matrix_inputs_to_single_layers_and_losses_act_as_plain_arrays() -> None:
    X, Y = data()
    np.testing.assert_array_equal(Dropout(0.5, seed=4).forward(matrix(X)), Dropout(0.5, seed=4).forward(X))
    dense = Dense(3, 2, seed=5)
    np.testing.assert_array_equal(dense.forward(matrix(X)), dense.forward(X))
    dense.forward(X)
    np.testing.assert_array_equal(dense.backward(matrix(Y)), dense.backward(Y))
    assert MSE().forward(matrix(Y), matrix(Y * 2)) == MSE().forward(Y, Y * 2)
    loss = MSE()
    loss.forward(matrix(Y), Y * 2)
    assert type(loss.backward()) is np.ndarray


def masked(array: NDArray[Any]) -> np.ma.MaskedArray[Any, Any]:
    return np.ma.masked_array(array, mask=array > 0.5)


@pytest.mark.parametrize(
    "call",
    [
        lambda X, Y: net_with_batchnorm_and_dropout().predict(masked(X)),
        lambda X, Y: net_with_batchnorm_and_dropout().compute_gradients(masked(X), Y),
        lambda X, Y: net_with_batchnorm_and_dropout().compute_gradients(X, masked(Y)),
        lambda X, Y: net_with_batchnorm_and_dropout().train(masked(X), Y, epochs=1, optimizer=SGD(0.1)),
        lambda X, Y: net_with_batchnorm_and_dropout().evaluate(X, masked(Y)),
        lambda X, Y: Dense(3, 2).forward(masked(X)),
        lambda X, Y: Dropout(0.5).forward(masked(X)),
        lambda X, Y: MSE().forward(masked(Y), Y),
        lambda X, Y: CrossEntropy().forward(
            Y, np.ma.masked_array([0, 1, 1, 0, 1, 0], mask=[True, False, False, False, False, False])
        ),
    ],
    ids=["predict", "X", "Y", "train", "evaluate", "Dense", "Dropout", "loss", "labels"],
)
def test_masked_arrays_are_refused_with_a_type_error_that_says_why(call: Any) -> None:
    X, Y = data()
    with pytest.raises(TypeError, match="masked array.*fill them first"):
        call(X, Y)


# -- weight_init results -----------------------------------------------------------------------


def test_a_weight_init_result_is_copied_so_layers_and_caller_never_share_weights() -> None:
    shared = np.full((3, 2), 0.5)
    first = Dense(3, 2, weight_init=lambda shape, rng, dtype: shared)
    second = Dense(3, 2, weight_init=lambda shape, rng, dtype: shared)
    assert not np.shares_memory(first.params["W"], shared)
    assert not np.shares_memory(first.params["W"], second.params["W"])
    net = NeuralNetwork([first], MSE())
    X, Y = data()
    net.train(X, Y, epochs=1, optimizer=SGD(0.1))
    np.testing.assert_array_equal(shared, 0.5)  # the caller's array is untouched
    np.testing.assert_array_equal(second.params["W"], 0.5)  # and so is the other layer


def test_a_weight_init_result_is_checked_and_converted_like_any_input() -> None:
    W = Dense(2, 3, weight_init=lambda shape, rng, dtype: [[1, 2, 3], [4, 5, 6]], dtype=np.float32).params["W"]  # type: ignore[arg-type, return-value]
    assert W.dtype == np.float32 and W.flags.c_contiguous
    transposed = Dense(2, 3, weight_init=lambda shape, rng, dtype: np.ones((3, 2)).T).params["W"]
    assert transposed.flags.c_contiguous and transposed.flags.owndata
    with pytest.raises(ValueError, match="weight_init result contains 1 non-finite"):
        Dense(2, 2, weight_init=lambda shape, rng, dtype: np.array([[1.0, np.nan], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="weight_init result has values too large for float32"):
        Dense(2, 2, weight_init=lambda shape, rng, dtype: np.full(shape, 1e300), dtype=np.float32)
    with pytest.raises(TypeError, match="weight_init result must be a numeric array"):
        Dense(2, 2, weight_init=lambda shape, rng, dtype: np.full(shape, "x"))
    with pytest.raises(ValueError, match=r"weight_init returned shape \(2, 3\), expected \(2, 2\)"):
        Dense(2, 2, weight_init=lambda shape, rng, dtype: np.zeros((2, 3)))


# -- set_arrays --------------------------------------------------------------------------------


def assert_unchanged(net: NeuralNetwork, before: dict[str, NDArray[Any]]) -> None:
    for key, value in net.get_arrays().items():
        assert value.tobytes() == before[key].tobytes(), key


BAD_VALUES = {
    "nan": (np.array([np.nan, 0, 0, 0]), ValueError, r"'1.running_var' contains 1 non-finite"),
    "inf": (np.array([0, 0, np.inf, 0]), ValueError, "non-finite"),
    "string": (np.array(["1", "2", "3", "4"]), TypeError, "must be a numeric array, got an array of dtype <U1"),
    "complex": (np.ones(4, dtype=complex), TypeError, "must be real"),
    "object": (np.array([1.0, None, 2.0, 3.0], dtype=object), TypeError, "dtype object"),
    "masked": (np.ma.masked_array(np.ones(4), mask=[True, False, False, False]), TypeError, "masked array"),
    "ragged": ([[1.0], [2.0, 3.0]], TypeError, "must be a numeric array"),
    "wrong shape": (np.ones(5), ShapeError, r"shape \(5,\), but layer 1 \(BatchNorm\) needs shape \(4,\)"),
    "negative variance": (
        np.array([1.0, -1.0, 1.0, 1.0]),
        ValueError,
        r"layer 1 \(BatchNorm\): running_var has negative",
    ),
}


@pytest.mark.parametrize("bad", BAD_VALUES, ids=list(BAD_VALUES))
def test_set_arrays_refuses_a_bad_value_clearly_and_changes_nothing(bad: str) -> None:
    value, error, message = BAD_VALUES[bad]
    net = net_with_batchnorm_and_dropout()
    before = net.get_arrays()
    good = {key: array + 1.0 for key, array in before.items() if key != "1.running_var"}
    with pytest.raises(error, match=message):
        net.set_arrays({**good, "1.running_var": value})  # the good arrays come first: none is written
    assert_unchanged(net, before)


def test_set_arrays_refuses_values_too_large_for_float32_without_a_warning() -> None:
    net = net_with_batchnorm_and_dropout(np.float32)
    before = net.get_arrays()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the cast, whatever the test run's -W
        with pytest.raises(ValueError, match=r"'0.W' has values too large for float32 \(largest magnitude 1e\+300"):
            net.set_arrays({"0.W": np.full((3, 4), 1e300)})
    assert_unchanged(net, before)
    net.set_arrays({"0.W": np.full((3, 4), 1e30)})  # representable: converted
    assert net.layers[0].params["W"].dtype == np.float32 and net.layers[0].params["W"][0, 0] == np.float32(1e30)


def test_set_arrays_takes_only_a_mapping_and_known_names() -> None:
    net = net_with_batchnorm_and_dropout()
    with pytest.raises(TypeError, match="set_arrays takes a dict of arrays keyed 'index.name'.*got list"):
        net.set_arrays([np.ones((3, 4))])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"layer 1 \(BatchNorm\) has no array 'W' \(it has '1.gamma', '1.beta'"):
        net.set_arrays({"1.W": np.ones(4)})


def test_set_arrays_accepts_lists_and_integers_and_round_trips_get_arrays() -> None:
    net, other = net_with_batchnorm_and_dropout(), net_with_batchnorm_and_dropout()
    other.set_arrays({"0.b": [1, 2, 3, 4]})
    np.testing.assert_array_equal(other.layers[0].params["b"], [1.0, 2.0, 3.0, 4.0])
    assert other.layers[0].params["b"].dtype == np.float64
    other.set_arrays(net.get_arrays())
    X, _ = data()
    np.testing.assert_array_equal(other.predict(X), net.predict(X))


# -- DOT output ----------------------------------------------------------------------------------


def dot_tokens(text: str, *, pair_rule: bool) -> list[tuple[str, str]]:
    """Graphviz's DOT lexer, for what ``to_dot`` writes: IDs, punctuation, comments, quoted strings.

    In a quoted string, ``\\"`` is a quote and every other character stands for itself; newer
    Graphviz versions also read ``\\\\`` as one unit (``pair_rule``), older ones backslash by
    backslash. A backslash-newline is a line continuation (dropped).
    """
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith(("//", "#"), i):
            end = text.find("\n", i)
            tokens.append(("comment", text[i:end]))
            i = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            tokens.append(("comment", "/*"))
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
        elif char == '"':
            value, i = "", i + 1
            while i < len(text) and text[i] != '"':
                if text.startswith('\\"', i):
                    value, i = value + '"', i + 2
                elif pair_rule and text.startswith("\\\\", i):
                    value, i = value + "\\\\", i + 2
                elif text.startswith("\\\n", i):
                    i += 2
                else:
                    value, i = value + text[i], i + 1
            assert i < len(text), "unterminated string"
            tokens.append(("string", value))
            i += 1
        elif text.startswith("->", i):
            tokens.append(("punct", "->"))
            i += 2
        elif char in "{}[];,=":
            tokens.append(("punct", char))
            i += 1
        else:
            start = i
            while i < len(text) and (text[i].isalnum() or text[i] in "_."):
                i += 1
            assert i > start, f"unexpected character {char!r} at {i}"
            tokens.append(("id", text[start:i]))
    return tokens


def label_text(value: str) -> str:
    """What Graphviz shows for a label string: ``\\\\`` is a backslash, ``\\n`` a line break; any
    other escape (``\\N`` the node name, ``\\l``, ``\\G``, ...) would be interpreted, shown here as <\\x>."""
    shown, i = "", 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            escape = value[i + 1]
            shown += {"\\": "\\", "n": "\n"}.get(escape, f"<\\{escape}>")
            i += 2
        else:
            shown, i = shown + value[i], i + 1
    return shown


def expected_tokens(model: GraphModel) -> list[tuple[str, str]]:
    def string(text: str) -> tuple[str, str]:
        return ("string", text)

    def ident(text: str) -> tuple[str, str]:
        return ("id", text)

    def punct(text: str) -> list[tuple[str, str]]:
        return [("punct", char) for char in text.split()]

    index = {id(node): index for index, node in enumerate(model.nodes)}
    tokens = [ident("digraph"), ident("refnet"), *punct("{"), ident("rankdir"), *punct("="), ident("TB"), *punct(";")]
    tokens += [ident("node"), *punct("["), ident("shape"), *punct("="), ident("box"), *punct(",")]
    tokens += [ident("fontname"), *punct("="), string("monospace"), *punct("] ;")]
    for node in model.nodes:
        name = "".join(char if char.isprintable() else "?" for char in str(node.name))
        title = "Input" if node.layer is None else repr(node.layer)
        label = f"{name}\n{title}\n(N, {node.width})"
        tokens += [ident(f"n{index[id(node)]}"), *punct("["), ident("label"), *punct("="), string(label), *punct("] ;")]
    for node in model.nodes:
        for source in node.inputs:
            tokens += [ident(f"n{index[id(source)]}"), *punct("->"), ident(f"n{index[id(node)]}"), *punct(";")]
    return [*tokens, *punct("}")]


def assert_dot_shows_exactly_the_graph(model: GraphModel) -> None:
    for pair_rule in (False, True):
        tokens = dot_tokens(model.to_dot(), pair_rule=pair_rule)
        shown = [(kind, label_text(value) if kind == "string" else value) for kind, value in tokens]
        assert shown == expected_tokens(model)


def named_model(names: list[str]) -> GraphModel:
    x = Input(3)
    left = Dense(3, 4, "sigmoid", seed=0)(x)
    right = Dropout(0.2, seed=1)(x)
    model = GraphModel(x, Add()(Dense(4, 3, seed=2)(left), right), loss=MSE())
    for node, name in zip(model.nodes, names, strict=False):
        node.name = name
    return model


HOSTILE_NAMES = [
    'a"; evil [label="pwned"]; x -> "y',
    "trailing backslash\\",
    'backslash quote \\"',
    "\\N\\G\\l\\r\\L",
    "new\nline\ttab\x00nul",
    "} digraph other { // comment",
    "/* open comment",
    "# hash",
    "ünïcødé ✓ ->",
]


def test_to_dot_keeps_hostile_node_names_inside_their_labels() -> None:
    model = named_model(HOSTILE_NAMES)
    assert_dot_shows_exactly_the_graph(model)
    assert "pwned" not in "".join(line for line in model.to_dot().splitlines() if "label=" not in line)


NAME_CHARACTERS = st.sampled_from('ab "\\\n;{}[]=->#/*Nlx\t\x01é')


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=NAME_CHARACTERS, max_size=12), min_size=5, max_size=5))
def test_to_dot_shows_any_node_names_as_written(names: list[str]) -> None:
    assert_dot_shows_exactly_the_graph(named_model(names))


def test_a_loaded_model_cannot_inject_dot_statements(tmp_path: Path) -> None:
    x = Input(3)
    model = GraphModel(x, Concatenate()(Dense(3, 2, seed=0)(x), x), loss=MSE())
    model.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    config = json.loads(str(arrays["config"]))
    config["graph"]["nodes"][1]["name"] = 'x"]; injected -> "x'
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "model.npz", **arrays)
    loaded = NeuralNetwork.load(tmp_path / "model.npz")
    assert isinstance(loaded, GraphModel)
    assert_dot_shows_exactly_the_graph(loaded)
