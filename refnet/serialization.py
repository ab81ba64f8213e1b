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
from refnet.graph import GraphModel
from refnet.layer import Dense
from refnet.losses import LOSSES, Loss
from refnet.merge import Add, Concatenate, Multiply
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
        layer.check_saveable()
        entry: dict[str, Any] = {"type": kind, "config": layer.get_config()}
        rng = layer.generator()
        if rng is not None:
            entry["rng"] = _generator_index(generators, rng)
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
        # a GraphModel's wiring: nodes with their layer's index and their inputs (None for a plain stack)
        "graph": network.graph_config(),
    }
    arrays: dict[str, Array] = {"config": np.array(json.dumps(config))}
    for index, layer in enumerate(network.layers):
        arrays.update({f"param.{index}.{name}": value for name, value in layer.params.items()})
        arrays.update({f"state.{index}.{name}": value for name, value in layer.state.items()})
    if optimizer is not None:
        arrays.update({f"optim.{key}": value for key, value in optimizer.state_arrays(network.layers).items()})
    write_npz_atomically(path, arrays)


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


def _field(mapping: Any, key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    """``mapping[key]`` if ``mapping`` is a JSON object holding a value of ``kinds`` there, else ModelFileError."""
    if not isinstance(mapping, dict):
        raise ModelFileError(f"{where}: expected a JSON object, got {type(mapping).__name__}")
    if key not in mapping:
        raise ModelFileError(f"{where}: the config has no {key!r} entry")
    value = mapping[key]
    if not isinstance(value, kinds):
        raise ModelFileError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _build(make: Any, config: Any, where: str) -> Any:
    """``make(config)`` for a saved hyper-parameter dict; what the constructor refuses becomes ModelFileError.

    The constructors validate their arguments (TypeError for an unknown or mistyped one,
    ValueError for a bad value): that validation is the check of the saved config.
    """
    if not isinstance(config, dict):
        raise ModelFileError(f"{where}: its config must be a JSON object, got {type(config).__name__}")
    try:
        return make(config)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: invalid config {config!r}: {exc}") from exc


def _load_optimizer(network: NeuralNetwork, entry: Any, arrays: dict[str, Array], where: str) -> set[str]:
    """Rebuild the optimizer, check its state arrays and attach it; returns the keys used."""
    kind = _field(entry, "type", str, f"{where}: optimizer")
    cls = OPTIMIZERS.get(kind)
    if cls is None:
        raise ModelFileError(f"{where}: unknown optimizer {kind!r}")
    optimizer = _build(lambda config: cls(**config), _field(entry, "config", dict, where), f"{where}: optimizer")
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


def _load_layer(
    index: int, entry: Any, arrays: dict[str, Array], generators: list[np.random.Generator], where: str
) -> Layer:
    """Layer ``index`` rebuilt from its config entry, with its parameter and state arrays checked and copied in."""
    at = f"{where}: layer {index}"
    kind = _field(entry, "type", str, at)
    cls = LAYER_TYPES.get(kind)
    if cls is None:
        raise ModelFileError(f"{at} has unknown type {kind!r}")
    layer: Layer = _build(cls.from_config, _field(entry, "config", dict, at), f"{at} ({kind})")
    if layer.generator() is not None:
        rng_index = entry.get("rng")
        if type(rng_index) is not int or not 0 <= rng_index < len(generators):
            raise ModelFileError(f"{at} names generator {rng_index!r}, which does not exist")
        layer.set_generator(generators[rng_index])
    for group, kind_of_array in ((layer.params, "param"), (layer.state, "state")):
        for name, value in group.items():
            key = f"{kind_of_array}.{index}.{name}"
            value[...] = _check_array(arrays.get(key), key, value, where)
    problem = layer.state_problem()
    if problem is not None:
        raise ModelFileError(f"{at}: {problem}")
    return layer


def _assemble(
    layers: list[Layer], loss: Loss | None, rng: np.random.Generator, graph: Any, where: str
) -> NeuralNetwork:
    """A NeuralNetwork of ``layers`` in order, or a GraphModel wired as ``graph`` says."""
    if graph is None:
        return NeuralNetwork(layers, loss, rng=rng)
    if not isinstance(graph, dict):
        raise ModelFileError(f"{where}: the graph entry must be a JSON object")
    try:
        model = GraphModel.from_graph_config(layers, graph, loss)
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # a malformed node list or wiring
        raise ModelFileError(f"{where}: invalid graph config: {type(exc).__name__}: {exc}") from exc
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
    states = _field(config, "generators", list, where)
    if not states:
        raise ModelFileError(f"{where}: the config lists no random generators")
    generators = [_make_generator(state, f"{where}: generator {index}") for index, state in enumerate(states)]
    layers = [
        _load_layer(index, entry, arrays, generators, where)
        for index, entry in enumerate(_field(config, "layers", list, where))
    ]
    expected = {"config"} | {
        f"{kind}.{index}.{name}"
        for index, layer in enumerate(layers)
        for kind, group in (("param", layer.params), ("state", layer.state))
        for name in group
    }
    loss_entry = _field(config, "loss", (dict, type(None)), where)
    loss = None
    if loss_entry is not None:
        loss_kind = _field(loss_entry, "type", str, f"{where}: loss")
        loss_cls = LOSSES.get(loss_kind)
        if loss_cls is None:
            raise ModelFileError(f"{where}: unknown loss {loss_kind!r}")
        loss = _build(lambda config: loss_cls(**config), _field(loss_entry, "config", dict, where), f"{where}: loss")
    network = _assemble(layers, loss, generators[0], config.get("graph"), where)
    dtype = _field(config, "dtype", str, where)
    if str(network.dtype) != dtype:
        raise ModelFileError(f"{where}: the config says dtype {dtype!r} but the layers are {network.dtype}")
    optimizer_entry = _field(config, "optimizer", (dict, type(None)), where)
    if optimizer_entry is not None:
        expected |= _load_optimizer(network, optimizer_entry, arrays, where)
    extra = sorted(set(arrays) - expected)
    if extra:
        raise ModelFileError(f"{where}: unexpected arrays {extra}")
    return network
