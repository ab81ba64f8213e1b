"""Saving and loading networks: one ``.npz`` file, read with ``allow_pickle=False``.

Layout of the file (format version 1):

- ``config``: a 0-d string array holding JSON::

      {"format": "refnet", "version": 1, "dtype": "float64",
       "layers": [{"type": "Dense", "config": {...}}, {"type": "Dropout", "config": {...}, "rng": 1}],
       "loss": {"type": "MSE", "config": {}} | null,
       "generators": [<bit generator state>, ...],   # [0] is the network's (shuffling)
       "optimizer": {"type": "Adam", "config": {...}} | null,
       "graph": {"nodes": [...], "output": k} | null}        # a GraphModel's edges

- ``param.{i}.{name}`` and ``state.{i}.{name}``: layer i's parameters and state arrays
  (e.g. BatchNorm's ``running_mean`` and ``running_var``);
- ``optim.{i}.{name}.{slot}``: the optimizer's state for parameter ``name`` of layer i
  (Adam: ``t``, ``m``, ``v``; SGD with momentum: ``velocity``).

The random generators (the network's, which shuffles, and each Dropout's, which draws the
masks) are saved with their exact state, and generators shared between components stay
shared. So a model saved with its optimizer resumes training bit for bit: training 10
epochs gives the same parameters as training 5, saving, loading and training 5 more.

Writing goes to a temporary file in the same folder, flushed and fsynced, then
``os.replace``d over the target: an error midway leaves the previous file as it was and
no temporary file behind. Reading trusts nothing: every array and config entry is checked,
layer types come from a fixed table, and object (pickle) arrays are refused. Any problem
is a ``ModelFileError`` that names the file and what is wrong with it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from refnet.base import Array, Layer
from refnet.batchnorm import BatchNorm
from refnet.dropout import Dropout
from refnet.errors import ModelFileError
from refnet.functions import ACTIVATIONS
from refnet.graph import Add, Concatenate, GraphModel, Multiply
from refnet.layer import Dense
from refnet.losses import LOSSES, Loss
from refnet.network import NeuralNetwork
from refnet.optimizers import OPTIMIZERS, Optimizer

FORMAT = "refnet"
VERSION = 1

LAYER_TYPES: dict[str, type[Layer]] = {
    "Dense": Dense,
    "Dropout": Dropout,
    "BatchNorm": BatchNorm,
    "Add": Add,
    "Multiply": Multiply,
    "Concatenate": Concatenate,
    **{cls.__name__: cls for cls in ACTIVATIONS.values()},
}

BIT_GENERATORS: dict[str, type[np.random.BitGenerator]] = {
    cls.__name__: cls
    for cls in (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64)
}

# What np.load and zipfile raise on a damaged archive is open-ended (BadZipFile, a bad CRC,
# a bad .npy header, EOFError, struct.error, NotImplementedError for an "encrypted" flag, ...):
# reading an untrusted file, any Exception means "damaged", and becomes a ModelFileError.
_READ_ERRORS = (Exception,)


# -- saving ------------------------------------------------------------------------------
def save_network(network: NeuralNetwork, path: str | Path, optimizer: Optimizer | None = None) -> None:
    """Write ``network`` (and ``optimizer``'s state, if given) to ``path`` atomically.

    The file name is used as given (no ``.npz`` is appended).

    Raises:
        TypeError: a layer, loss or optimizer of a type the format does not know.
        FileNotFoundError: the folder does not exist.
        OSError: the file cannot be written (the previous file, if any, is left intact).
    """
    path = Path(path)
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (or None), got {type(optimizer).__name__}")
    generators: list[np.random.Generator] = [network.rng]
    layers_config = []
    for layer in network.layers:
        kind = type(layer).__name__
        if LAYER_TYPES.get(kind) is not type(layer):
            raise TypeError(f"cannot save a layer of type {kind}: only {', '.join(LAYER_TYPES)} are supported")
        if isinstance(layer, Dense):
            _check_saveable_activation(layer.activation)
        entry: dict[str, Any] = {"type": kind, "config": layer.get_config()}
        if isinstance(layer, Dropout):
            entry["rng"] = _generator_index(generators, layer.rng)
        layers_config.append(entry)
    loss = network.loss
    if loss is not None and LOSSES.get(type(loss).__name__) is not type(loss):
        raise TypeError(f"cannot save a loss of type {type(loss).__name__}: only {', '.join(LOSSES)} are supported")
    if optimizer is not None and OPTIMIZERS.get(type(optimizer).__name__) is not type(optimizer):
        raise TypeError(
            f"cannot save an optimizer of type {type(optimizer).__name__}: only {', '.join(OPTIMIZERS)} are supported"
        )
    config = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": str(network.dtype),
        "layers": layers_config,
        "loss": None if loss is None else {"type": type(loss).__name__, "config": loss.get_config()},
        "generators": [_json_ready(rng.bit_generator.state) for rng in generators],
        "optimizer": None
        if optimizer is None
        else {"type": type(optimizer).__name__, "config": optimizer.get_config()},
        # a GraphModel's wiring: nodes with their layer's index and their inputs
        "graph": network.graph_config() if isinstance(network, GraphModel) else None,
    }
    arrays: dict[str, Array] = {"config": np.array(json.dumps(config))}
    for index, layer in enumerate(network.layers):
        arrays.update({f"param.{index}.{name}": value for name, value in layer.params.items()})
        arrays.update({f"state.{index}.{name}": value for name, value in layer.state.items()})
    if optimizer is not None:
        arrays.update({f"optim.{key}": value for key, value in optimizer.state_arrays(network.layers).items()})
    write_npz_atomically(path, arrays)


def _check_saveable_activation(activation: object) -> None:
    """Refuse a Dense activation the file could not rebuild as itself.

    The file stores a Dense's activation by ``name`` only, so a subclass (``class
    DoubleTanh(Tanh)`` inherits the name ``"tanh"``) would load back as the built-in: a
    silently different model. Only the built-in classes themselves can be saved.
    """
    name = getattr(activation, "name", None)
    if not isinstance(name, str) or ACTIVATIONS.get(name) is not type(activation):
        valid = ", ".join(cls.__name__ for cls in ACTIVATIONS.values())
        raise TypeError(
            f"cannot save a Dense with activation {type(activation).__name__}: only the built-in activations "
            f"({valid}) can be saved"
        )


def _json_ready(value: Any) -> Any:
    """A bit generator's state with its arrays (MT19937's key, Philox's counter) as lists."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def _generator_index(generators: list[np.random.Generator], rng: np.random.Generator) -> int:
    """Index of ``rng`` in ``generators`` (appended if new): shared generators stay shared."""
    for index, known in enumerate(generators):
        if known is rng:
            return index
    generators.append(rng)
    return len(generators) - 1


def write_npz_atomically(path: Path, arrays: dict[str, Array]) -> None:
    """``np.savez`` into a temporary file next to ``path``, fsync, then ``os.replace``.

    On any error the temporary file is removed and ``path`` keeps its previous content.
    """
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {path}: it is a folder; give a file name such as model.npz")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot save to {path}: cannot create a file in {folder} ({exc.strerror})") from exc
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); a saved model is an ordinary file.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- loading -----------------------------------------------------------------------------
def _read(path: Path) -> dict[str, Array]:
    """Every array of the archive, with pickles refused and any damage a ModelFileError."""
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    # The file is opened here, not by np.load, so it is closed whatever goes wrong.
    with open(path, "rb") as handle:
        magic = handle.read(6)
        handle.seek(0)
        if magic[:1] == b"\x80":  # the opcode every pickle (protocol >= 2) starts with
            raise ModelFileError(f"{path} is a pickle, which refnet never loads (it could run arbitrary code)")
        if not magic.startswith((b"PK\x03\x04", b"\x93NUMPY")):
            raise ModelFileError(f"{path} is not a refnet model file (not an .npz archive)")
        try:
            archive = np.load(handle, allow_pickle=False)
        except _READ_ERRORS as exc:
            raise ModelFileError(f"{path} is not a readable refnet model file (corrupt or truncated): {exc}") from exc
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{path} is a single .npy array, not a refnet model file (.npz archive)")
        try:
            with archive:
                return {name: archive[name] for name in archive.files}
        except _READ_ERRORS as exc:
            if "allow_pickle" in str(exc):
                raise ModelFileError(f"{path} contains an object (pickle) array, which refnet never loads") from exc
            raise ModelFileError(f"{path} is corrupt or truncated: {type(exc).__name__}: {exc}") from exc


def _config(arrays: dict[str, Array], path: Path) -> dict[str, Any]:
    raw = arrays.get("config")
    if raw is None or raw.ndim != 0 or raw.dtype.kind != "U":
        raise ModelFileError(f"{path} has no refnet config array: not a refnet model file")
    try:
        config = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path} has a corrupt config (invalid JSON): {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a refnet model file (its config has no 'format': 'refnet')")
    version = config.get("version")
    if type(version) is not int or version != VERSION:
        raise ModelFileError(f"{path} has format version {version!r}; this refnet reads version {VERSION}")
    return config


def _make_generator(state: Any, where: str) -> np.random.Generator:
    """A Generator of the saved bit-generator type, in the saved state."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    cls = BIT_GENERATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ModelFileError(f"{where}: unknown random bit generator {name!r}")
    bit_generator = cls()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"{where}: invalid random generator state: {exc}") from exc
    return np.random.Generator(bit_generator)


def _check_array(stored: Array | None, key: str, like: Array, where: str) -> Array:
    """``stored`` if it has ``like``'s shape and dtype and finite values, else ModelFileError."""
    if stored is None:
        raise ModelFileError(f"{where}: array {key!r} is missing")
    if stored.shape != like.shape or stored.dtype != like.dtype:
        raise ModelFileError(
            f"{where}: array {key!r} has shape {stored.shape} and dtype {stored.dtype}, "
            f"expected shape {like.shape} and dtype {like.dtype}"
        )
    if not np.isfinite(stored).all():
        raise ModelFileError(f"{where}: array {key!r} contains non-finite values")
    return stored


def _optimizer_slots(optimizer: Optimizer, dtype: np.dtype[Any]) -> dict[str, bool]:
    """The state slots this optimizer keeps per parameter, found by one update of a dummy
    array: slot name -> True for an array shaped like the parameter, False for a counter."""
    probe: dict[str, Any] = {}
    optimizer.update(np.zeros(1, dtype=dtype), np.zeros(1, dtype=dtype), probe)
    return {slot: isinstance(value, np.ndarray) and value.ndim > 0 for slot, value in probe.items()}


def _load_optimizer(network: NeuralNetwork, entry: Any, arrays: dict[str, Array], where: str) -> set[str]:
    """Rebuild the optimizer, check its state arrays and attach it; returns the keys used."""
    cls = OPTIMIZERS.get(entry["type"])
    if cls is None:
        raise ModelFileError(f"{where}: unknown optimizer {entry['type']!r}")
    optimizer = cls(**entry["config"])
    slots = _optimizer_slots(optimizer, network.dtype)
    state: dict[str, Array] = {}
    parameters = {
        (str(index), name): value for index, layer in enumerate(network.layers) for name, value in layer.params.items()
    }
    for (index, name), param in parameters.items():
        found = {slot for slot in slots if f"optim.{index}.{name}.{slot}" in arrays}
        if not found:
            continue  # this parameter was never updated
        if found != set(slots):
            raise ModelFileError(
                f"{where}: optimizer state of parameter {name!r} of layer {index} has slots {sorted(found)}, "
                f"expected {sorted(slots)}"
            )
        for slot, shaped_like_param in slots.items():
            key = f"optim.{index}.{name}.{slot}"
            value = arrays[key]
            if shaped_like_param:
                _check_array(value, key, param, where)
            elif value.ndim != 0 or value.dtype.kind not in "iu" or int(value) < 0:  # a step counter
                raise ModelFileError(f"{where}: array {key!r} must be a non-negative integer, got {value!r}")
            state[f"{index}.{name}.{slot}"] = value
    optimizer.load_state_arrays(network.layers, state)
    network.optimizer = optimizer
    return {f"optim.{key}" for key in state}


def _assemble(
    layers: list[Layer], loss: Loss | None, rng: np.random.Generator, graph: Any, where: str
) -> NeuralNetwork:
    """A NeuralNetwork of ``layers`` in order, or a GraphModel wired as ``graph`` says."""
    if graph is None:
        return NeuralNetwork(layers, loss, rng=rng)
    model = GraphModel.from_graph_config(layers, graph, loss)
    model.rng = rng
    # Arrays and optimizer state are keyed by position in ``layers``: the order must survive.
    if len(model.layers) != len(layers) or any(a is not b for a, b in zip(model.layers, layers, strict=False)):
        raise ModelFileError(f"{where}: the graph does not use the saved layers in their saved order")
    return model


def load_network(path: str | Path) -> NeuralNetwork:
    """Read a model written by ``save_network``; refuse anything unexpected.

    A saved optimizer is restored as ``network.optimizer``, so ``network.train(...)``
    without an optimizer argument continues exactly where the saved training stopped.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ModelFileError: the file is not a refnet model, is corrupt or truncated, has
            another format version, missing, extra or mis-shaped arrays, or object arrays.
    """
    path = Path(path)
    where = str(path)
    arrays = _read(path)
    config = _config(arrays, path)
    try:
        generators = [
            _make_generator(state, f"{where}: generator {index}") for index, state in enumerate(config["generators"])
        ]
        if not generators:
            raise ModelFileError(f"{where}: the config lists no random generators")
        expected = {"config"}
        layers: list[Layer] = []
        for index, entry in enumerate(config["layers"]):
            cls = LAYER_TYPES.get(entry["type"])
            if cls is None:
                raise ModelFileError(f"{where}: layer {index} has unknown type {entry['type']!r}")
            layer = cls.from_config(entry["config"])
            if isinstance(layer, Dropout):
                rng_index = entry["rng"]
                if type(rng_index) is not int or not 0 <= rng_index < len(generators):
                    raise ModelFileError(f"{where}: layer {index} names generator {rng_index!r}, which does not exist")
                layer.rng = generators[rng_index]
            for group, kind in ((layer.params, "param"), (layer.state, "state")):
                for name, value in group.items():
                    key = f"{kind}.{index}.{name}"
                    expected.add(key)
                    value[...] = _check_array(arrays.get(key), key, value, where)
            if isinstance(layer, BatchNorm) and (layer.state["running_var"] < 0).any():
                # a variance is never negative; predict would take the root of a negative number
                raise ModelFileError(f"{where}: array 'state.{index}.running_var' has negative values")
            layers.append(layer)
        loss = None
        if config["loss"] is not None:
            loss_cls = LOSSES.get(config["loss"]["type"])
            if loss_cls is None:
                raise ModelFileError(f"{where}: unknown loss {config['loss']['type']!r}")
            loss = loss_cls(**config["loss"]["config"])
        network = _assemble(layers, loss, generators[0], config.get("graph"), where)
        if str(network.dtype) != config["dtype"]:
            raise ModelFileError(
                f"{where}: the config says dtype {config['dtype']!r} but the layers are {network.dtype}"
            )
        if config["optimizer"] is not None:
            expected |= _load_optimizer(network, config["optimizer"], arrays, where)
        extra = sorted(set(arrays) - expected)
        if extra:
            raise ModelFileError(f"{where}: unexpected arrays {extra}")
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, MemoryError) as exc:
        raise ModelFileError(f"{where}: invalid model config: {type(exc).__name__}: {exc}") from exc
    return network
