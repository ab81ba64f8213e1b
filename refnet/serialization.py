"""Saving and loading networks: one ``.npz`` file, read with ``allow_pickle=False``.

Layout of the file (format version 1):

- ``config``: a 0-d string array holding JSON: ``{"format": "refnet", "version": 1,
  "dtype", "layers": [{"type", "config"}], "loss", "rng_state", "optimizer"}``;
- ``param.{i}.{name}`` and ``state.{i}.{name}``: layer i's parameters and state arrays
  (e.g. BatchNorm running statistics);
- ``optim.{i}.{name}.{slot}``: the optimizer's state for parameter ``name`` of layer i.

Writing goes to a temporary file in the same folder, flushed and fsynced, then
``os.replace``d over the target: a crash or an error midway leaves the previous file as
it was. Reading trusts nothing: every array and config entry is checked, layer types come
from a fixed table, and object (pickle) arrays are refused.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from refnet.base import Layer
from refnet.batchnorm import BatchNorm
from refnet.dropout import Dropout
from refnet.errors import ModelFileError
from refnet.functions import ACTIVATIONS
from refnet.layer import Dense
from refnet.losses import LOSSES
from refnet.optimizers import OPTIMIZERS, Optimizer

if TYPE_CHECKING:
    from refnet.network import NeuralNetwork

FORMAT = "refnet"
VERSION = 1

LAYER_TYPES: dict[str, type[Layer]] = {
    "Dense": Dense,
    "Dropout": Dropout,
    "BatchNorm": BatchNorm,
    **{cls.__name__: cls for cls in ACTIVATIONS.values()},
}


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return dict(rng.bit_generator.state)


def _set_rng_state(rng: np.random.Generator, state: dict[str, Any], where: str) -> None:
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"invalid random generator state for {where}: {exc}") from exc


def save_network(network: NeuralNetwork, path: str | Path, optimizer: Optimizer | None = None) -> None:
    """Write ``network`` (and ``optimizer``'s state) to ``path`` atomically."""
    path = Path(path)
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer, got {type(optimizer).__name__}")
    layers_config = []
    for layer in network.layers:
        kind = type(layer).__name__
        if LAYER_TYPES.get(kind) is not type(layer):
            raise TypeError(f"cannot save a layer of type {kind}: only {', '.join(LAYER_TYPES)} are supported")
        entry: dict[str, Any] = {"type": kind, "config": layer.get_config()}
        if isinstance(layer, Dropout):
            entry["rng_state"] = _rng_state(layer.rng)
        layers_config.append(entry)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": str(network.dtype),
        "layers": layers_config,
        "loss": None
        if network.loss is None
        else {"type": type(network.loss).__name__, "config": network.loss.get_config()},
        "rng_state": _rng_state(network.rng),
        "optimizer": None
        if optimizer is None
        else {"type": type(optimizer).__name__, "config": optimizer.get_config()},
    }
    arrays: dict[str, np.ndarray] = {"config": np.array(json.dumps(config))}
    for index, layer in enumerate(network.layers):
        arrays.update({f"param.{index}.{name}": value for name, value in layer.params.items()})
        arrays.update({f"state.{index}.{name}": value for name, value in layer.state.items()})
    if optimizer is not None:
        arrays.update({f"optim.{key}": value for key, value in optimizer.state_arrays(network.layers).items()})

    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: folder {folder} does not exist")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:  # numpy refuses object arrays when allow_pickle=False
        raise ModelFileError(f"{path} contains an object (pickle) array or a bad array: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(f"{path} is not a readable refnet model file (corrupt or truncated): {exc}") from exc


def _config(arrays: dict[str, np.ndarray], path: Path) -> dict[str, Any]:
    raw = arrays.get("config")
    if raw is None or raw.ndim != 0 or raw.dtype.kind != "U":
        raise ModelFileError(f"{path} has no refnet config: not a refnet model file")
    try:
        config = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path} has a corrupt config: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a refnet model file")
    if config.get("version") != VERSION:
        raise ModelFileError(
            f"{path} has format version {config.get('version')!r}; this refnet reads version {VERSION}"
        )
    return config


def load_network(path: str | Path) -> NeuralNetwork:
    """Read a model written by ``save_network``; refuse anything unexpected."""
    from refnet.network import NeuralNetwork

    path = Path(path)
    arrays = _read(path)
    config = _config(arrays, path)
    try:
        network = NeuralNetwork()
        _set_rng_state(network.rng, config["rng_state"], "the network")
        expected = {"config"}
        for index, entry in enumerate(config["layers"]):
            cls = LAYER_TYPES.get(entry["type"])
            if cls is None:
                raise ModelFileError(f"{path}: layer {index} has unknown type {entry['type']!r}")
            layer = cls.from_config(entry["config"])
            if isinstance(layer, Dropout):
                _set_rng_state(layer.rng, entry["rng_state"], f"layer {index}")
            for group, kind in ((layer.params, "param"), (layer.state, "state")):
                for name, value in group.items():
                    key = f"{kind}.{index}.{name}"
                    expected.add(key)
                    stored = arrays.get(key)
                    if stored is None:
                        raise ModelFileError(f"{path}: array {key!r} is missing")
                    if stored.shape != value.shape or stored.dtype != value.dtype:
                        raise ModelFileError(
                            f"{path}: array {key!r} has shape {stored.shape} and dtype {stored.dtype}, "
                            f"expected {value.shape} and {value.dtype}"
                        )
                    if not np.isfinite(stored).all():
                        raise ModelFileError(f"{path}: array {key!r} contains non-finite values")
                    value[...] = stored
            network.add(layer)
        if config["loss"] is not None:
            loss_cls = LOSSES.get(config["loss"]["type"])
            if loss_cls is None:
                raise ModelFileError(f"{path}: unknown loss {config['loss']['type']!r}")
            network.set_loss(loss_cls(**config["loss"]["config"]))
        optim_arrays = {key[len("optim.") :]: value for key, value in arrays.items() if key.startswith("optim.")}
        if config["optimizer"] is not None:
            optim_cls = OPTIMIZERS.get(config["optimizer"]["type"])
            if optim_cls is None:
                raise ModelFileError(f"{path}: unknown optimizer {config['optimizer']['type']!r}")
            optimizer = optim_cls(**config["optimizer"]["config"])
            optimizer.load_state_arrays(network.layers, optim_arrays)
            network.optimizer = optimizer
            expected.update(f"optim.{key}" for key in optim_arrays)
        extra = sorted(set(arrays) - expected)
        if extra:
            raise ModelFileError(f"{path}: unexpected arrays {extra}")
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(f"{path}: invalid model config: {type(exc).__name__}: {exc}") from exc
    return network
