"""Every layer saves: layers register where they are defined, and loading only looks names up.

refnet's own layers are stored by class name (as files always stored them), a user's layer by
``module.Class``; a file naming anything else is refused, and nothing it names is imported.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import refnet.layer
from refnet import MSE, SGD, Dense, Layer, LeakyReLU, ModelFileError, NeuralNetwork, Neuron
from refnet.base import Array, registered_layer


class Scale(Layer):
    """A user's layer with one parameter: y = x·s, s of shape (width,)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.params = {"s": np.linspace(0.5, 1.5, width)}
        self.grads = {"s": np.zeros(width)}
        self._x: Array | None = None

    def forward(self, x: Array, training: bool = True) -> Array:
        self._x = x
        return x * self.params["s"]

    def backward(self, grad_y: Array) -> Array:
        assert self._x is not None
        self.grads["s"][...] = (grad_y * self._x).sum(axis=0)
        return grad_y * self.params["s"]

    def get_config(self) -> dict[str, Any]:
        return {"width": self.width}


class OtherScale(Scale):
    """Another library's ``Scale``: the same class name in a different module."""

    __module__ = "other_library.layers"
    __qualname__ = "Scale"

    def forward(self, x: Array, training: bool = True) -> Array:
        self._x = x
        return 2 * x * self.params["s"]


class Broken(Layer):
    """A registered user layer whose from_config fails on what a file may hold."""

    def get_config(self) -> dict[str, Any]:
        return {"mode": "fine"}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        if config.get("mode") != "fine":
            raise RuntimeError("unsupported mode")
        return cls()


X = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
Y = np.array([[1.0], [0.0]])


def save_and_load(net: NeuralNetwork, path: Path) -> NeuralNetwork:
    net.save(path)
    return NeuralNetwork.load(path)


def edit_config(path: Path, edit: Any) -> None:
    """Rewrite the file's JSON config through ``edit`` (the arrays, and their digests, stay)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    config = json.loads(str(arrays["config"]))
    edit(config)
    arrays["config"] = np.array(json.dumps(config))
    np.savez(path, **arrays)


def test_neuron_saves_and_loads(tmp_path: Path) -> None:
    net = NeuralNetwork([Neuron(3, "tanh", seed=0)], MSE())
    net.train(X, Y, epochs=3, optimizer=SGD(0.1), batch_size=None)
    loaded = save_and_load(net, tmp_path / "neuron.npz")
    assert type(loaded.layers[0]) is Neuron
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_a_neuron_whose_activation_has_settings_is_not_saved_as_a_different_one(tmp_path: Path) -> None:
    net = NeuralNetwork([Neuron(3, LeakyReLU(0.3), seed=0)], MSE())
    with pytest.raises(TypeError, match="cannot save a Neuron with activation"):
        net.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_a_user_layer_with_get_config_saves_and_loads_with_its_parameters(tmp_path: Path) -> None:
    net = NeuralNetwork([Dense(3, 3, seed=0), Scale(3), Dense(3, 1, seed=1)], MSE())
    net.train(X, Y, epochs=3, optimizer=SGD(0.1), batch_size=None)
    loaded = save_and_load(net, tmp_path / "user.npz")
    assert type(loaded.layers[1]) is Scale
    np.testing.assert_array_equal(loaded.layers[1].params["s"], net.layers[1].params["s"])
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_a_user_layer_whose_config_is_not_json_is_refused_at_save(tmp_path: Path) -> None:
    class WithArrayConfig(Scale):
        def get_config(self) -> dict[str, Any]:
            return {"width": np.arange(self.width)}

    with pytest.raises(TypeError, match=r"cannot save layer 0 \(WithArrayConfig\): its get_config\(\) must return"):
        NeuralNetwork([WithArrayConfig(3)], MSE()).save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_user_classes_are_registered_by_qualified_name_so_two_named_alike_do_not_collide(tmp_path: Path) -> None:
    assert Scale.registered_name == f"{__name__}.Scale"
    assert OtherScale.registered_name == "other_library.layers.Scale"
    assert registered_layer(Scale.registered_name) is Scale
    assert registered_layer(OtherScale.registered_name) is OtherScale
    loaded = save_and_load(NeuralNetwork([Scale(3), OtherScale(3)], MSE()), tmp_path / "both.npz")
    assert [type(layer) for layer in loaded.layers] == [Scale, OtherScale]


def test_refnet_layers_keep_the_names_files_have_always_stored() -> None:
    assert Dense.registered_name == "Dense" and registered_layer("Dense") is Dense
    assert Neuron.registered_name == "Neuron"


def test_a_second_refnet_class_under_a_taken_name_is_refused_at_definition() -> None:
    # refnet's names are bare class names: a second refnet module defining a Dense must not replace it.
    with pytest.raises(TypeError, match="'Dense' is already registered by refnet.layer.Dense"):

        class Dense(Layer):
            __module__ = "refnet.elsewhere"

    assert registered_layer("Dense") is refnet.layer.Dense


# -- hostile files: the registry is the only place a name is looked up ------------------------


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "never_imported_module_xyz.Layer", "Scale"])
def test_a_file_naming_an_unregistered_class_is_refused_and_nothing_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    path = tmp_path / "m.npz"
    NeuralNetwork([Dense(3, 1, seed=0)], MSE()).save(path)

    def rename(config: dict[str, Any]) -> None:
        config["layers"][0]["type"] = name

    edit_config(path, rename)
    modules = set(sys.modules)

    def called(*args: Any) -> None:
        raise AssertionError("os.system was called")

    monkeypatch.setattr(os, "system", called)
    with pytest.raises(ModelFileError, match=f"layer 0 has unknown type '{name}'"):
        NeuralNetwork.load(path)
    assert set(sys.modules) == modules


def test_a_registered_class_whose_from_config_raises_is_a_model_file_error(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    NeuralNetwork([Dense(3, 1, seed=0), Broken()], MSE()).save(path)
    assert type(NeuralNetwork.load(path).layers[1]) is Broken

    def corrupt(config: dict[str, Any]) -> None:
        config["layers"][1]["config"] = {"mode": "hostile"}

    edit_config(path, corrupt)
    with pytest.raises(ModelFileError, match="RuntimeError: unsupported mode"):
        NeuralNetwork.load(path)


def test_a_neuron_config_cannot_make_refnet_allocate_what_the_file_does_not_hold(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    NeuralNetwork([Neuron(3, seed=0)], MSE()).save(path)

    def grow(config: dict[str, Any]) -> None:
        config["layers"][0]["config"]["n_inputs"] = 10**12  # 8 TB of weights, if it were built

    edit_config(path, grow)
    with pytest.raises(ModelFileError, match=r"array 'param.0.w' has shape \(3,\).*expected shape \(1000000000000,\)"):
        NeuralNetwork.load(path)
