"""save/load: one .npz, exact round trip, exact resume, atomic writes, damaged files refused."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import (
    MSE,
    SGD,
    Activation,
    Adam,
    BatchNorm,
    CrossEntropy,
    Dense,
    Dropout,
    LeakyReLU,
    LearningRateScheduler,
    ModelFileError,
    NeuralNetwork,
    Optimizer,
    Tanh,
    step_decay,
)


def make_network(seed: int = 0, dtype: Any = np.float64, dropout: bool = True) -> NeuralNetwork:
    layers = [
        Dense(4, 16, "relu", l2_lambda=1e-3, seed=seed, dtype=dtype),
        BatchNorm(16, dtype=dtype),
        *([Dropout(0.2, seed=seed + 1)] if dropout else []),
        Dense(16, 8, seed=seed + 2, dtype=dtype),
        LeakyReLU(),
        Dense(8, 3, seed=seed + 3, dtype=dtype),
    ]
    return NeuralNetwork(layers, CrossEntropy(), seed=seed + 4)


def data(n: int = 60, seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)


def assert_same_arrays(a: NeuralNetwork, b: NeuralNetwork) -> None:
    arrays_a, arrays_b = a.get_arrays(), b.get_arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for key in arrays_a:
        assert arrays_a[key].dtype == arrays_b[key].dtype, key
        np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=key)


# -- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_restores_architecture_parameters_and_running_statistics(tmp_path: Path, dtype: Any) -> None:
    net = make_network(dtype=dtype)
    X, Y = data()
    net.train(X, Y, epochs=3, optimizer=Adam(0.01), batch_size=16)
    net.save(tmp_path / "model.npz")
    loaded = NeuralNetwork.load(tmp_path / "model.npz")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in net.layers]
    assert [repr(layer) for layer in loaded.layers] == [repr(layer) for layer in net.layers]
    assert isinstance(loaded.loss, CrossEntropy)
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.optimizer is None, "no optimizer was saved"
    assert_same_arrays(net, loaded)
    assert not np.allclose(loaded.layers[1].state["running_var"], 1.0), "running statistics were saved"
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.evaluate(X, Y) == net.evaluate(X, Y)


def test_file_is_one_npz_readable_without_pickle(tmp_path: Path) -> None:
    net = make_network()
    net.save(tmp_path / "model.npz", optimizer=Adam())
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        names = set(archive.files)
        config = json.loads(str(archive["config"]))
    assert config["format"] == "refnet" and config["version"] == 1 and config["dtype"] == "float64"
    assert [entry["type"] for entry in config["layers"]] == [
        "Dense",
        "BatchNorm",
        "Dropout",
        "Dense",
        "LeakyReLU",
        "Dense",
    ]
    assert config["layers"][0]["config"]["l2_lambda"] == 1e-3
    assert config["optimizer"]["type"] == "Adam"
    assert {"param.0.W", "param.0.b", "param.1.gamma", "state.1.running_mean", "state.1.running_var"} <= names


def test_name_without_npz_suffix_is_used_as_given(tmp_path: Path) -> None:
    make_network().save(tmp_path / "model.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]
    NeuralNetwork.load(tmp_path / "model.bin")


def test_shared_and_non_default_generators_survive_a_round_trip(tmp_path: Path) -> None:
    rng = np.random.Generator(np.random.MT19937(5))
    net = NeuralNetwork([Dense(3, 3, seed=0), Dropout(0.5, rng=rng), Dense(3, 1, seed=1)], MSE(), rng=rng)
    net.save(tmp_path / "m.npz")
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    assert isinstance(loaded.rng.bit_generator, np.random.MT19937)
    dropout = loaded.layers[1]
    assert isinstance(dropout, Dropout) and dropout.rng is loaded.rng
    assert loaded.rng.random() == rng.random()


# -- exact resume --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "dropout", "batch_size"),
    [
        (lambda: Adam(0.01), True, 16),
        (lambda: Adam(0.01, weight_decay=0.01, clip_norm=1.0), False, 8),
        (lambda: SGD(0.05, momentum=0.9, nesterov=True), True, None),
    ],
    ids=["adam-dropout-minibatch", "adamw-clip", "sgd-nesterov-fullbatch"],
)
def test_train_save_load_train_equals_uninterrupted_training_bitwise(
    tmp_path: Path, optimizer: Any, dropout: bool, batch_size: int | None
) -> None:
    X, Y = data(50)
    straight = make_network(dropout=dropout)
    straight_history = straight.train(X, Y, epochs=10, optimizer=optimizer(), batch_size=batch_size, shuffle=True)

    first = make_network(dropout=dropout)
    first.train(X, Y, epochs=5, optimizer=optimizer(), batch_size=batch_size, shuffle=True)
    first.save(tmp_path / "half.npz", optimizer=first.optimizer)
    resumed = NeuralNetwork.load(tmp_path / "half.npz")
    assert isinstance(resumed.optimizer, Optimizer)
    resumed_history = resumed.train(X, Y, epochs=5, batch_size=batch_size, shuffle=True)

    assert_same_arrays(straight, resumed)
    assert resumed_history["loss"] == straight_history["loss"][5:]


def test_resuming_without_the_optimizer_state_is_not_exact(tmp_path: Path) -> None:
    # The control for the test above: dropping Adam's moments changes the trajectory.
    X, Y = data(50)
    straight = make_network()
    straight.train(X, Y, epochs=6, optimizer=Adam(0.01), batch_size=16)
    first = make_network()
    first.train(X, Y, epochs=3, optimizer=Adam(0.01), batch_size=16)
    first.save(tmp_path / "half.npz")
    resumed = NeuralNetwork.load(tmp_path / "half.npz")
    with pytest.raises(TypeError, match="optimizer"):
        resumed.train(X, Y, epochs=3, batch_size=16)
    resumed.train(X, Y, epochs=3, optimizer=Adam(0.01), batch_size=16)
    assert not np.array_equal(resumed.layers[0].params["W"], straight.layers[0].params["W"])


# -- atomic writes -------------------------------------------------------------------------


def _old_file(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "model.npz"
    make_network(seed=0).save(path)
    return path, path.read_bytes()


def test_a_save_failing_while_writing_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = _old_file(tmp_path)

    def fail_midway(file: Any, **arrays: Any) -> None:
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", fail_midway)
    with pytest.raises(OSError, match="No space"):
        make_network(seed=1).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    monkeypatch.undo()
    NeuralNetwork.load(path)


def test_a_save_failing_at_the_rename_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = _old_file(tmp_path)

    def fail(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(PermissionError):
        make_network(seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_a_successful_save_replaces_the_old_file(tmp_path: Path) -> None:
    path, before = _old_file(tmp_path)
    other = make_network(seed=1)
    other.save(path)
    assert path.read_bytes() != before
    assert_same_arrays(NeuralNetwork.load(path), other)
    assert os.listdir(tmp_path) == ["model.npz"]


def test_saving_into_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_network().save(tmp_path / "no" / "such" / "model.npz")
    assert os.listdir(tmp_path) == []


def test_saving_into_an_unwritable_folder_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, before = _old_file(tmp_path)

    # (chmod cannot make a folder unwritable for root, so the refusal is simulated)
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)  # how the temporary file is created
    with pytest.raises(PermissionError, match="cannot save to .*model.npz"):
        make_network(seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before


def test_saving_onto_a_folder_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="file name"):
        make_network().save(tmp_path)


def test_saving_a_layer_whose_class_was_defined_again_is_a_type_error(tmp_path: Path) -> None:
    # Each call defines a new class under the same registered name: the file would name the new one.
    def define() -> type[Dense]:
        class Custom(Dense):
            pass

        return Custom

    net = NeuralNetwork([define()(2, 2, seed=0)], MSE())
    define()
    with pytest.raises(TypeError, match="cannot save a layer of type Custom: its class was defined again"):
        net.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


class DoubleTanh(Tanh):
    """A user activation that inherits the built-in's name "tanh" but computes 2·tanh(x)."""

    def function(self, x: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        y = np.tanh(x, out=out)
        y *= 2
        return y


class Tripled(Activation):
    """A user activation with no name at all."""

    def function(self, x: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return np.multiply(x, 3, out=out)


@pytest.mark.parametrize("activation", [DoubleTanh, Tripled])
def test_saving_a_dense_with_a_user_activation_is_a_type_error(tmp_path: Path, activation: type) -> None:
    # Stored by name alone, DoubleTanh would load back as plain Tanh: a different model.
    net = NeuralNetwork([Dense(2, 2, activation(), seed=0)], MSE())
    with pytest.raises(TypeError, match=f"activation {activation.__name__}: only the built-in activations"):
        net.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_a_user_activation_layer_loads_as_itself_not_as_the_builtin_it_subclasses(tmp_path: Path) -> None:
    # Registered under its own qualified name, DoubleTanh cannot come back as the plain Tanh it inherits "tanh" from.
    net = NeuralNetwork([Dense(2, 2, seed=0), DoubleTanh()], MSE())
    net.save(tmp_path / "m.npz")
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    assert type(loaded.layers[1]) is DoubleTanh
    X = np.array([[0.5, -1.0]])
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


# -- damaged or hostile files --------------------------------------------------------------


def _arrays(path: Path) -> dict[str, NDArray[Any]]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _rewrite(path: Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as the model file, with the config's digests made to match them (as a
    deliberate edit would), so that the checks after the digests are the ones tested."""
    arrays = dict(arrays)
    try:
        config = json.loads(str(arrays["config"]))
    except (KeyError, ValueError):
        config = None
    if isinstance(config, dict) and "digests" in config:
        config["digests"] = {key: digest(value) for key, value in arrays.items() if key != "config"}
        arrays["config"] = np.array(json.dumps(config))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def digest(array: NDArray[Any]) -> str:
    """The digest the config records for an array: blake2b (16 bytes) of its values in C order."""
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).hexdigest()


def _edit_config(path: Path, edit: Any) -> None:
    arrays = _arrays(path)
    config = json.loads(str(arrays["config"]))
    edit(config)
    arrays["config"] = np.array(json.dumps(config))
    _rewrite(path, arrays)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    net = make_network()
    X, Y = data()
    net.train(X, Y, epochs=1, optimizer=Adam(0.01), batch_size=20)
    net.save(tmp_path / "model.npz", optimizer=net.optimizer)
    return tmp_path / "model.npz"


def _pop(key: str) -> Any:
    return lambda arrays: arrays.pop(key)


def _set(key: str, value: Any) -> Any:
    return lambda arrays: arrays.__setitem__(key, value)


ARRAY_DAMAGE = {
    "missing parameter": (_pop("param.0.W"), "'param.0.W' is missing"),
    "missing running statistic": (_pop("state.1.running_var"), "'state.1.running_var' is missing"),
    "extra array": (_set("param.0.extra", np.zeros(3)), "unexpected arrays"),
    "wrong shape": (_set("param.0.W", np.zeros((4, 15))), r"shape \(4, 15\).*expected shape \(4, 16\)"),
    "wrong dtype": (_set("param.0.b", np.zeros(16, dtype=np.float32)), "dtype float32"),
    "non-finite parameter": (_set("param.3.b", np.full(8, np.nan)), "non-finite"),
    "negative running variance": (_set("state.1.running_var", np.full(16, -1.0)), "running_var has negative"),
    "object array": (_set("param.0.b", np.array([None] * 16, dtype=object)), "pickle"),
    "config not a string": (_set("config", np.zeros(3)), "no refnet config"),
    "no config": (_pop("config"), "no refnet config"),
    "config not JSON": (_set("config", np.array("{not json")), "invalid JSON"),
    "optimizer slot missing": (_pop("optim.0.W.m"), "slots"),
    "optimizer moment of wrong shape": (_set("optim.0.W.v", np.zeros(3)), "'optim.0.W.v' has shape"),
    "optimizer step count not an integer": (_set("optim.0.W.t", np.array(1.5)), "non-negative integer"),
    "optimizer step count an array": (_set("optim.0.W.t", np.arange(3)), "non-negative integer"),
    "optimizer moment a scalar": (_set("optim.0.W.m", np.array(3)), "'optim.0.W.m' has shape"),
    "optimizer state for an unknown parameter": (_set("optim.1.W.m", np.zeros(3)), "unexpected arrays"),
}


@pytest.mark.parametrize("damage", ARRAY_DAMAGE, ids=list(ARRAY_DAMAGE))
def test_a_file_with_bad_arrays_is_refused_with_a_clear_error(saved: Path, damage: str) -> None:
    edit, message = ARRAY_DAMAGE[damage]
    arrays = _arrays(saved)
    edit(arrays)
    _rewrite(saved, arrays)
    with pytest.raises(ModelFileError, match=message):
        NeuralNetwork.load(saved)


def _config_edit(key: str, value: Any) -> Any:
    return lambda config: config.__setitem__(key, value)


CONFIG_DAMAGE = {
    "unknown version": (_config_edit("version", 2), "format version 2; this refnet reads version 1"),
    "version true": (_config_edit("version", True), "format version True"),
    "other format": (_config_edit("format", "keras"), "not a refnet model file"),
    "unknown layer": (lambda c: c["layers"][0].__setitem__("type", "Conv2D"), "unknown type 'Conv2D'"),
    "unsafe layer type": (lambda c: c["layers"][0].__setitem__("type", "__import__"), "unknown type"),
    "bad layer config": (
        lambda c: c["layers"][0].__setitem__("config", {"bogus": 1}),
        "layer 0 .Dense.: invalid config",
    ),
    "layer config not a dict": (lambda c: c["layers"].__setitem__(0, [1, 2]), "layer 0: expected a JSON object"),
    "bad hyper-parameter": (
        lambda c: c["layers"][2]["config"].__setitem__("p", 1.5),
        "layer 2 .Dropout.: invalid config",
    ),
    "unknown loss": (lambda c: c["loss"].__setitem__("type", "Hinge"), "unknown loss 'Hinge'"),
    "unknown optimizer": (lambda c: c["optimizer"].__setitem__("type", "RMSprop"), "unknown optimizer"),
    "unknown generator": (lambda c: c["generators"][0].__setitem__("bit_generator", "Evil"), "bit generator"),
    "bad generator state": (lambda c: c["generators"][0].__setitem__("state", "x"), "generator"),
    "dangling generator index": (lambda c: c["layers"][2].__setitem__("rng", 9), "generator 9"),
    "missing key": (lambda c: c.pop("layers"), "the config has no 'layers' entry"),
    "dtype mismatch": (_config_edit("dtype", "float32"), "dtype"),
}


@pytest.mark.parametrize("damage", CONFIG_DAMAGE, ids=list(CONFIG_DAMAGE))
def test_a_file_with_a_bad_config_is_refused_with_a_clear_error(saved: Path, damage: str) -> None:
    edit, message = CONFIG_DAMAGE[damage]
    _edit_config(saved, edit)
    with pytest.raises(ModelFileError, match=message):
        NeuralNetwork.load(saved)


def test_truncated_files_are_refused(saved: Path) -> None:
    content = saved.read_bytes()
    for fraction in (0.0, 0.1, 0.5, 0.9, 0.999):
        saved.write_bytes(content[: int(len(content) * fraction)])
        with pytest.raises(ModelFileError):
            NeuralNetwork.load(saved)


def test_random_bytes_a_pickle_and_a_lone_npy_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ModelFileError, match="not a refnet model file"):
        NeuralNetwork.load(path)
    path.write_bytes(pickle.dumps({"W": np.zeros(3)}))
    with pytest.raises(ModelFileError, match="pickle"):
        NeuralNetwork.load(path)
    np.save(tmp_path / "lone.npy", np.zeros(3))
    with pytest.raises(ModelFileError, match="single .npy"):
        NeuralNetwork.load(tmp_path / "lone.npy")


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model file"):
        NeuralNetwork.load(tmp_path / "absent.npz")


def test_model_file_error_is_a_value_error() -> None:
    assert issubclass(ModelFileError, ValueError)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.floats(0.0, 1.0, exclude_max=True), flip=st.integers(1, 255))
def test_a_corrupted_byte_is_refused_or_harmless(saved: Path, position: float, flip: int) -> None:
    # A flipped byte lands in array data (caught by the zip CRC), in a header (refused), or
    # in metadata no reader uses (a timestamp): never a silently different model.
    original = NeuralNetwork.load(saved)
    content = bytearray(saved.read_bytes())
    index = int(position * len(content))
    content[index] ^= flip
    damaged = saved.with_name("damaged.npz")
    damaged.write_bytes(bytes(content))
    try:
        loaded = NeuralNetwork.load(damaged)
    except ModelFileError:
        return
    assert_same_arrays(loaded, original)


# -- graph models --------------------------------------------------------------------------


def make_graph(seed: int = 0) -> NeuralNetwork:
    from refnet.graph import Add, Concatenate, GraphModel, Input

    x = Input(4)
    h = Dense(4, 8, "relu", seed=seed)(x)
    skip = Add()(h, Dense(8, 8, "tanh", seed=seed + 1)(Dropout(0.1, seed=seed + 2)(h)))
    both = Concatenate()(skip, BatchNorm(4)(x))
    return GraphModel(x, Dense(12, 3, seed=seed + 3)(both), loss=CrossEntropy(), seed=seed + 4)


def test_a_graph_model_round_trips_with_its_wiring(tmp_path: Path) -> None:
    from refnet.graph import GraphModel

    X, Y = data()
    graph = make_graph()
    graph.train(X, Y, epochs=2, optimizer=Adam(0.01), batch_size=16)
    graph.save(tmp_path / "graph.npz")
    loaded = NeuralNetwork.load(tmp_path / "graph.npz")
    assert isinstance(loaded, GraphModel)
    assert loaded.graph_config() == graph.graph_config()  # type: ignore[attr-defined]
    assert_same_arrays(loaded, graph)
    np.testing.assert_array_equal(loaded.predict(X), graph.predict(X))


def test_a_graph_model_resumes_training_bitwise(tmp_path: Path) -> None:
    X, Y = data(48)
    straight = make_graph()
    straight.train(X, Y, epochs=6, optimizer=Adam(0.01), batch_size=16)
    first = make_graph()
    first.train(X, Y, epochs=3, optimizer=Adam(0.01), batch_size=16)
    first.save(tmp_path / "half.npz", optimizer=first.optimizer)
    resumed = NeuralNetwork.load(tmp_path / "half.npz")
    resumed.train(X, Y, epochs=3, batch_size=16)
    assert_same_arrays(straight, resumed)


def test_a_graph_config_pointing_at_a_missing_node_is_refused(tmp_path: Path) -> None:
    make_graph().save(tmp_path / "graph.npz")
    _edit_config(tmp_path / "graph.npz", lambda c: c["graph"]["nodes"][1].__setitem__("inputs", [42]))
    with pytest.raises(ModelFileError, match="invalid graph config"):
        NeuralNetwork.load(tmp_path / "graph.npz")


def test_a_scheduled_run_resumes_bitwise_with_initial_epoch_and_initial_lr(tmp_path: Path) -> None:
    X, Y = data(48)

    def schedule() -> LearningRateScheduler:
        return LearningRateScheduler(step_decay(0.5, every=1), initial_lr=0.1)

    straight = make_network()
    history = straight.train(X, Y, epochs=4, optimizer=SGD(0.1, momentum=0.9), batch_size=16, callbacks=[schedule()])
    assert history["lr"] == [0.1, 0.05, 0.025, 0.0125]
    first = make_network()
    first.train(X, Y, epochs=2, optimizer=SGD(0.1, momentum=0.9), batch_size=16, callbacks=[schedule()])
    first.save(tmp_path / "half.npz", optimizer=first.optimizer)
    resumed = NeuralNetwork.load(tmp_path / "half.npz")
    rest = resumed.train(X, Y, epochs=2, batch_size=16, callbacks=[schedule()], initial_epoch=2)
    assert rest.epochs == [2, 3] and rest["lr"] == [0.025, 0.0125]
    assert_same_arrays(straight, resumed)


def test_without_initial_epoch_a_resumed_schedule_starts_over() -> None:
    # The documented default: epochs count from 0 in each train call.
    X, Y = data(48)
    net = make_network()
    net.train(X, Y, epochs=2, optimizer=SGD(0.1), batch_size=16)
    history = net.train(X, Y, epochs=2, batch_size=16, callbacks=[LearningRateScheduler(step_decay(0.5, every=1))])
    assert history.epochs == [0, 1] and history["lr"] == [0.1, 0.05]
