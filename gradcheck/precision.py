"""float32 components: rebuilt in float64 where they can be, else checked in their own precision.

gradcheck's verdicts are sharpest in float64. A component that computes in a lower precision
(float32 parameters, or a float32 output from a float64 input) is checked

1. in float64, when it can be rebuilt there: it offers ``get_config()`` with a ``"dtype"``
   entry and ``from_config(config)`` (every refnet layer with parameters does). The rebuild
   gets ``dtype="float64"`` and a copy of the parameters, ``state`` and random generators,
   so it is the same component at the same point, and the same code is checked. A pair of
   plain functions gets its parameters in float64; a layer without parameters its input;
   either is checked in float64 when its output then is;
2. otherwise in its own precision, with ``tolerances_for(dtype)`` (steps, tolerances and
   kink margins for float32, its rounding measured at the steps used; see
   ``gradcheck.core.tolerances``). What that precision cannot decide is *inconclusive*.

The result names say which: ``Cube (float32, rebuilt in float64)`` or ``Cube (float32)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from gradcheck.adapters import Functions
from gradcheck.core.lines import Array


def coarsest(arrays: Iterable[Array]) -> np.dtype[Any]:
    """The float dtype of least precision among ``arrays`` (float64 when there is none)."""
    found = np.dtype(np.float64)
    for array in arrays:
        if array.dtype.kind == "f" and np.finfo(array.dtype).eps > np.finfo(found).eps:
            found = array.dtype
    return found


def rebuilt_in_float64(component: Any) -> Any | None:
    """A float64 copy of ``component`` from its config, parameters and state; None if it cannot be made.

    Needs ``get_config()`` with a ``"dtype"`` entry and ``type(component).from_config``; the copy
    must have the same parameter names and shapes, in float64. Anything else (including an
    exception from the component's own code) means: check it in its own precision instead.
    """
    if isinstance(component, Functions):  # plain functions run in the dtype of what they are given
        params = {key: np.asarray(value, dtype=np.float64) for key, value in component.params.items()}
        return replace(component, params=params)
    get_config = getattr(component, "get_config", None)
    from_config = getattr(type(component), "from_config", None)
    if not (callable(get_config) and callable(from_config)):
        return None
    try:
        config = get_config()
        if not isinstance(config, Mapping) or "dtype" not in config:
            return None
        copy = from_config({**config, "dtype": "float64"})
        if not (copy_arrays(component, copy, "params") and copy_arrays(component, copy, "state")):
            return None
        for key, value in getattr(component, "__dict__", {}).items():
            mirror = getattr(copy, key, None)
            if isinstance(value, np.random.Generator) and isinstance(mirror, np.random.Generator):
                mirror.bit_generator.state = value.bit_generator.state
    except Exception:  # the component's own code refused: fall back to its own precision
        return None
    return copy


def copy_arrays(source: Any, target: Any, attribute: str) -> bool:
    """Copy the dict of arrays ``source.<attribute>`` into ``target``'s, if both match in keys and shapes."""
    original, rebuilt = getattr(source, attribute, {}), getattr(target, attribute, {})
    if not (isinstance(original, Mapping) and isinstance(rebuilt, Mapping)) or set(original) != set(rebuilt):
        return False
    for key, value in original.items():
        mirror = rebuilt[key]
        if not isinstance(mirror, np.ndarray) or mirror.shape != np.shape(value) or mirror.dtype != np.float64:
            return False
        mirror[...] = value
    return True
