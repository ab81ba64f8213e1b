"""Saving and loading networks: one ``.npz`` file, read with ``allow_pickle=False``.

Layout of the file (format version 1):

- ``config``: a 0-d string array holding JSON::

      {"format": "refnet", "version": 1, "dtype": "float64",
       "layers": [{"type": "Dense", "config": {...}}, {"type": "Dropout", "config": {...}, "rng": 1},
                  {"type": "mylib.layers.Scale", "config": {...}},    # a user's layer: module.Class
                  {"type": "Dense", "config": {...}, "trainable": false}],   # a frozen layer (absent: trainable)
       "loss": {"type": "MSE", "config": {}} | null,
       "generators": [<bit generator state>, ...],   # [0] is the network's (shuffling)
       "optimizer": {"type": "Adam", "config": {...}} | null,
       "graph": {"nodes": [...], "output": k} | null,        # a GraphModel's edges
       "digests": {"param.0.W": "<blake2b hex>", ...}}       # every array's (absent in older files)

- ``param.{i}.{name}`` and ``state.{i}.{name}``: layer i's parameters and state arrays
  (e.g. BatchNorm's ``running_mean`` and ``running_var``);
- ``optim.{i}.{name}.{slot}``: the optimizer's state for parameter ``name`` of layer i
  (Adam: ``t``, ``m``, ``v``; SGD with momentum: ``velocity``).

The random generators (the network's, which shuffles, and each Dropout's, which draws the
masks) are saved with their exact state, and generators shared between components stay
shared. So a model saved with its optimizer resumes training bit for bit: training 10
epochs gives the same parameters as training 5, saving, loading and training 5 more.

Writing goes to a temporary file in the same folder, flushed and fsynced, then
``os.replace``d over the target (``refnet.io.archive``): an error midway leaves the previous
file as it was and no temporary file behind, and the file keeps the permissions of the one
it replaces. Reading trusts nothing, and reads in an order that keeps memory bounded:

1. the archive's directory (member names and sizes), then the config (bounded in size and
   nesting depth);
2. every array's header (shape and dtype), checked against the shapes the config implies
   (``Layer.array_shapes``) and against the optimizer's slots;
3. only then the arrays' data, and the layers are built from the config and filled;
4. every value is checked by the rules the components themselves apply: hyper-parameters
   through the constructors, parameters finite, ``Layer.state_problem`` (a BatchNorm
   variance is never negative), ``Optimizer.state_problem`` (nor is Adam's v), and the
   learning rate as state (0 allowed: a schedule may have set it).

Layer types are looked up among the classes registered as they were defined
(``Layer.__init_subclass__``: refnet's own by class name, a user's by ``module.Class``);
nothing a file names is ever imported, and object (pickle) arrays are never read. Any problem
is a ``ModelFileError`` that names the file and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import IO, Any

import numpy as np

from refnet.base import Array, Layer, Shape, registered_layer
from refnet.errors import ModelFileError
from refnet.graph import GraphModel
from refnet.io.archive import NpzReader, write_npz_atomically
from refnet.losses import LOSSES, Loss
from refnet.network import NeuralNetwork
from refnet.optimizers import OPTIMIZERS, Optimizer

FORMAT = "refnet"
VERSION = 1

BIT_GENERATORS: dict[str, type[np.random.BitGenerator]] = {
    cls.__name__: cls
    for cls in (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64)
}

#: The config is a few kilobytes (a 10,000-node graph: a few megabytes); more is not a refnet file.
MAX_CONFIG_BYTES = 64 << 20
#: refnet's configs nest 5 levels deep; JSON nested deeper is refused before it is parsed.
MAX_JSON_DEPTH = 32
#: A JSON string (skipped whole, escapes included) or a bracket.
JSON_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


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
    layers_config: list[dict[str, Any]] = []
    for layer in network.layers:
        kind = type(layer).registered_name
        if registered_layer(kind) is not type(layer):
            raise TypeError(
                f"cannot save a layer of type {type(layer).__name__}: its class was defined again after this "
                f"layer was made, and {kind!r} now names the new class"
            )
        layer.check_saveable()
        layer_config = layer.get_config()
        try:
            json.dumps(layer_config)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"cannot save layer {len(layers_config)} ({type(layer).__name__}): its get_config() must return "
                f"numbers, strings, lists and dicts (JSON), got {layer_config!r}: {exc}"
            ) from exc
        entry: dict[str, Any] = {"type": kind, "config": layer_config}
        if not layer.trainable:  # only a frozen layer says so: files of unfrozen models stay as they were
            entry["trainable"] = False
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
        "graph": network.graph_config() if isinstance(network, GraphModel) else None,
    }
    arrays: dict[str, Array] = {}
    for index, layer in enumerate(network.layers):
        arrays.update({f"param.{index}.{name}": value for name, value in layer.params.items()})
        arrays.update({f"state.{index}.{name}": value for name, value in layer.state.items()})
    if optimizer is not None:
        arrays.update({f"optim.{key}": value for key, value in optimizer.state_arrays(network.layers).items()})
    config["digests"] = {key: _digest(value) for key, value in arrays.items()}
    write_npz_atomically(path, {"config": np.array(json.dumps(config)), **arrays})


def _digest(array: Array) -> str:
    """A digest of the array's values (in C order): the config records one per array."""
    return hashlib.blake2b(np.ascontiguousarray(array).data, digest_size=16).hexdigest()


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


# -- loading -----------------------------------------------------------------------------
def _open_archive(handle: IO[bytes], where: str) -> NpzReader:
    """The archive in ``handle``, after the first bytes say it is one (and not a pickle)."""
    magic = handle.read(6)
    handle.seek(0)
    if magic[:1] == b"\x80":  # the opcode every pickle (protocol >= 2) starts with
        raise ModelFileError(f"{where} is a pickle, which refnet never loads (it could run arbitrary code)")
    if magic.startswith(b"\x93NUMPY"):
        raise ModelFileError(f"{where} is a single .npy array, not a refnet model file (.npz archive)")
    if not magic.startswith(b"PK\x03\x04"):
        raise ModelFileError(f"{where} is not a refnet model file (not an .npz archive)")
    return NpzReader(handle, where)


def _config(archive: NpzReader, where: str) -> dict[str, Any]:
    """The JSON config, read within bounds: at most ``MAX_CONFIG_BYTES``, nested at most ``MAX_JSON_DEPTH`` deep."""
    if "config" not in archive.members:
        raise ModelFileError(f"{where} has no refnet config array: not a refnet model file")
    shape, dtype = archive.header("config")
    if shape != () or dtype.kind != "U":
        raise ModelFileError(f"{where} has no refnet config array (a 0-d string array): not a refnet model file")
    size = archive.members["config"].file_size
    if size > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{where} has a config of {size} bytes, more than refnet writes ({MAX_CONFIG_BYTES})")
    text = str(archive.read("config"))
    depth = _nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(f"{where} has a config nested {depth} levels deep; refnet writes at most {MAX_JSON_DEPTH}")
    try:
        config = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise ModelFileError(f"{where} has a corrupt config (invalid JSON): {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{where} is not a refnet model file (its config has no 'format': 'refnet')")
    version = config.get("version")
    if type(version) is not int or version != VERSION:
        raise ModelFileError(f"{where} has format version {version!r}; this refnet reads version {VERSION}")
    return config


def _nesting_depth(text: str) -> int:
    """How deep JSON ``text`` nests its arrays and objects (brackets inside strings do not count)."""
    depth = deepest = 0
    for token in JSON_BRACKETS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in "]}":
            depth -= 1
    return deepest


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


def _optimizer_slots(optimizer: Optimizer) -> dict[str, bool]:
    """The state slots this optimizer declares per parameter: slot name -> True for an array
    shaped like the parameter, False for a counter."""
    return {slot: kind == "array" for slot, kind in optimizer.slots.items()}


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
    except Exception as exc:  # a user's from_config may raise anything: the file is what is wrong
        raise ModelFileError(f"{where}: invalid config {config!r}: {type(exc).__name__}: {exc}") from exc


def _make_optimizer(entry: Any, where: str) -> Optimizer:
    """The optimizer the config describes, without state: its hyper-parameters pass the
    constructor's checks, its learning rate may be 0 (left by a schedule)."""
    kind = _field(entry, "type", str, f"{where}: optimizer")
    cls = OPTIMIZERS.get(kind)
    if cls is None:
        raise ModelFileError(f"{where}: unknown optimizer {kind!r}")
    optimizer: Optimizer = _build(cls.from_config, _field(entry, "config", dict, where), f"{where}: optimizer")
    return optimizer


def _layer_class(index: int, entry: Any, where: str) -> type[Layer]:
    kind = _field(entry, "type", str, f"{where}: layer {index}")
    cls = registered_layer(kind)
    if cls is None:
        raise ModelFileError(
            f"{where}: layer {index} has unknown type {kind!r}: no imported code defines (registers) a layer "
            "of that name; import the module that defines it before loading (refnet never imports what a file names)"
        )
    return cls


def _planned_arrays(config: dict[str, Any], optimizer: Optimizer | None, archive: NpzReader, where: str) -> list[str]:
    """Check every stored array's header against the config, before any data is read or any layer built.

    Returns the keys to read. Refuses a missing, unexpected, mis-shaped or mistyped array:
    the file cannot make refnet read or allocate more than the model the config describes,
    which is exactly what it stores.
    """
    dtype_name = _field(config, "dtype", str, where)
    if dtype_name not in ("float32", "float64"):
        raise ModelFileError(f"{where}: dtype {dtype_name!r} is not float32 or float64")
    dtype = np.dtype(dtype_name)
    shapes: dict[str, Shape] = {}
    for index, entry in enumerate(_field(config, "layers", list, where)):
        cls = _layer_class(index, entry, where)
        layer_config = _field(entry, "config", dict, f"{where}: layer {index}")
        params, state = _build(cls.array_shapes, layer_config, f"{where}: layer {index} ({cls.__name__})")
        shapes.update({f"param.{index}.{name}": shape for name, shape in params.items()})
        shapes.update({f"state.{index}.{name}": shape for name, shape in state.items()})
    for key, shape in shapes.items():
        _check_header(archive, key, shape, dtype, where)
    planned = list(shapes)
    if optimizer is not None:
        slots = _optimizer_slots(optimizer)
        for param_key, shape in shapes.items():
            if not param_key.startswith("param."):
                continue
            layer_index, name = param_key.split(".")[1:]
            found = {slot for slot in slots if f"optim.{layer_index}.{name}.{slot}" in archive.members}
            if not found:
                continue  # this parameter was never updated
            if found != set(slots):
                raise ModelFileError(
                    f"{where}: optimizer state of parameter {name!r} of layer {layer_index} has slots {sorted(found)}, "
                    f"expected {sorted(slots)}"
                )
            for slot, shaped_like_param in slots.items():
                key = f"optim.{layer_index}.{name}.{slot}"
                if shaped_like_param:
                    _check_header(archive, key, shape, dtype, where)
                else:
                    counter_shape, counter_dtype = archive.header(key)
                    if counter_shape != () or counter_dtype.kind not in "iu":
                        raise ModelFileError(
                            f"{where}: array {key!r} must be a non-negative integer (a 0-d integer array), "
                            f"got shape {counter_shape} and dtype {counter_dtype}"
                        )
                planned.append(key)
    extra = sorted(set(archive.members) - set(planned) - {"config"})
    if extra:
        raise ModelFileError(f"{where}: unexpected arrays {extra}")
    return planned


def _check_digests(config: dict[str, Any], arrays: dict[str, Array], where: str) -> None:
    """Every array is the one saved with this config: an array moved, swapped or replaced
    inside the archive (the zip's own checksums would still agree) is refused.

    Files written before refnet recorded digests have none, and load without this check.
    """
    digests = config.get("digests")
    if digests is None:
        return
    if not isinstance(digests, dict) or set(digests) != set(arrays):
        raise ModelFileError(f"{where}: the config's digests do not list the arrays the file holds")
    for key, array in arrays.items():
        if _digest(array) != digests[key]:
            raise ModelFileError(f"{where}: array {key!r} is not the one saved with this config (its digest differs)")


def _check_header(archive: NpzReader, key: str, shape: Shape, dtype: np.dtype[Any], where: str) -> None:
    if key not in archive.members:
        raise ModelFileError(f"{where}: array {key!r} is missing")
    stored_shape, stored_dtype = archive.header(key)
    if stored_shape != shape or stored_dtype != dtype:
        raise ModelFileError(
            f"{where}: array {key!r} has shape {stored_shape} and dtype {stored_dtype}, "
            f"expected shape {shape} and dtype {dtype}"
        )


def _load_optimizer_state(network: NeuralNetwork, optimizer: Optimizer, arrays: dict[str, Array], where: str) -> None:
    """Check the optimizer state read from the file (finite, counters >= 0, and whatever the
    optimizer itself refuses, e.g. a negative Adam second moment) and attach the optimizer."""
    state: dict[str, Array] = {}
    by_parameter: dict[str, dict[str, Any]] = {}
    for key, value in arrays.items():
        if not key.startswith("optim."):
            continue
        parameter, _, slot = key.removeprefix("optim.").rpartition(".")
        if value.ndim == 0 and value.dtype.kind in "iu":
            if value < 0:
                raise ModelFileError(f"{where}: array {key!r} must be a non-negative integer, got {value!r}")
            by_parameter.setdefault(parameter, {})[slot] = int(value)
        else:
            if not np.isfinite(value).all():
                raise ModelFileError(f"{where}: array {key!r} contains non-finite values")
            by_parameter.setdefault(parameter, {})[slot] = value
        state[key.removeprefix("optim.")] = value
    for parameter, slots in by_parameter.items():
        problem = optimizer.state_problem(slots)
        if problem is not None:
            raise ModelFileError(f"{where}: optimizer state of parameter {parameter!r}: {problem}")
    optimizer.load_state_arrays(network.layers, state)
    network.optimizer = optimizer


def _load_layer(
    index: int, entry: Any, arrays: dict[str, Array], generators: list[np.random.Generator], where: str
) -> Layer:
    """Layer ``index`` rebuilt from its config entry, with its parameter and state arrays checked and copied in."""
    cls = _layer_class(index, entry, where)
    at = f"{where}: layer {index}"
    layer: Layer = _build(cls.from_config, _field(entry, "config", dict, at), f"{at} ({cls.__name__})")
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
    trainable = entry.get("trainable", True)
    if type(trainable) is not bool:
        raise ModelFileError(f"{at}: 'trainable' must be true or false, got {trainable!r}")
    layer.trainable = trainable
    return layer


def _assemble(
    layers: list[Layer], loss: Loss | None, rng: np.random.Generator, graph: Any, where: str
) -> NeuralNetwork:
    """A NeuralNetwork of ``layers`` in order, or a GraphModel wired as ``graph`` says."""
    if graph is None:
        try:
            return NeuralNetwork(layers, loss, rng=rng)
        except (TypeError, ValueError) as exc:  # what add() refuses: widths that do not chain, a merge layer
            raise ModelFileError(f"{where}: the layers do not form a stack: {exc}") from exc
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

    Memory and time stay bounded whatever the file holds: the archive's directory and every
    array's header are checked against the config before any array is read or any layer
    is built (see ``refnet.io.archive``), so loading allocates about what the model's arrays
    need, and at most about ``MAX_EXPANSION`` times the file's size.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ModelFileError: the file is not a refnet model, is corrupt or truncated, has
            another format version, missing, extra or mis-shaped arrays, object arrays,
            or values no refnet component accepts (a non-finite parameter, a negative
            variance or Adam second moment, an invalid hyper-parameter).
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    with open(path, "rb") as handle:
        archive = _open_archive(handle, where)
        config = _config(archive, where)
        optimizer_entry = _field(config, "optimizer", (dict, type(None)), where)
        optimizer = None if optimizer_entry is None else _make_optimizer(optimizer_entry, where)
        planned = _planned_arrays(config, optimizer, archive, where)
        arrays = {key: archive.read(key) for key in planned}
    _check_digests(config, arrays, where)
    states = _field(config, "generators", list, where)
    if not states:
        raise ModelFileError(f"{where}: the config lists no random generators")
    generators = [_make_generator(state, f"{where}: generator {index}") for index, state in enumerate(states)]
    layers = [
        _load_layer(index, entry, arrays, generators, where)
        for index, entry in enumerate(_field(config, "layers", list, where))
    ]
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
    if optimizer is not None:
        _load_optimizer_state(network, optimizer, arrays, where)
    return network
