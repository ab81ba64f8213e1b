"""Anything gradcheck can check, seen through one small interface: no refnet base class needed.

A **layer** is any object with

    forward(x) -> y                 (or forward(x, training=True) -> y; y of any shape)
    backward(grad_y) -> grad_x      dL/dx for dL/dy = grad_y

and, if it has parameters, dicts ``params`` and ``grads`` of arrays (same keys and shapes; grads
valid after backward). Optional: ``penalty() -> float`` (added to L), ``state`` (a dict of arrays
put back before every forward), ``forward_many(xs)``/``backward_many(grad_y)`` for a layer of
several inputs (refnet's merges declare ``multiple_inputs = True``). refnet's own layers are
just such objects.

A **pair of plain functions** is wrapped in ``Functions(forward, vjp, params)``:

    forward(x, **params) -> y
    vjp(grad_y, x, **params) -> grad_x                        (no params)
                             -> (grad_x, {name: dL/dparams[name]})

A **loss** is any object with ``forward(y_pred, y_true) -> float`` and ``backward() -> dL/dy_pred``
(a backward that takes no argument is what tells a loss from a layer).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcheck.core.lines import Array


@dataclass
class Functions:
    """A component given as two plain functions: y = forward(x, **params) and its vector-Jacobian product.

    ``vjp(grad_y, x, **params)`` returns grad_x = dL/dx for dL/dy = grad_y, or, when there are
    parameters, ``(grad_x, {name: dL/dparams[name]})``. ``params`` are copied; gradcheck perturbs
    its own copies.
    """

    forward: Callable[..., Any]
    vjp: Callable[..., Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""


class FunctionLayer:
    """``Functions`` as a layer object: forward keeps x for the vjp; backward fills ``grads``."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self.params = {key: float_array(value, f"params[{key!r}]") for key, value in functions.params.items()}
        self.grads: dict[str, Array] = {}
        self.x: Array | None = None

    def forward(self, x: Array) -> Any:
        """y = forward(x, **params)."""
        self.x = x
        return self.functions.forward(x, **self.params)

    def backward(self, grad_y: Array) -> Any:
        """grad_x (and grads) from vjp(grad_y, x, **params)."""
        if self.x is None:
            raise RuntimeError("backward before forward")
        result = self.functions.vjp(grad_y, self.x, **self.params)
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Mapping):
            grad_x, grads = result
            self.grads = dict(grads)
        elif self.params:
            raise TypeError(
                f"vjp must return (grad_x, {{name: gradient}}) for the parameters {sorted(self.params)}, "
                f"got a {type(result).__name__}"
            )
        else:
            grad_x = result
        return grad_x


def name_of(component: Any) -> str:
    """A component's name: ``Functions.name``, the forward function's name, or the class name."""
    if isinstance(component, Functions):
        return component.name or getattr(component.forward, "__name__", "Functions")
    return type(component).__name__


def float_array(value: Any, what: str) -> Array:
    """``value`` as a float array (a copy; integers become float64), finite everywhere, else ValueError."""
    array = np.array(value)
    if array.dtype.kind in "iub":
        array = array.astype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError(f"{what} must be an array of real numbers, got dtype {array.dtype}")
    refuse_non_finite(array, what)
    return array


def refuse_non_finite(array: Array, what: str) -> None:
    """ValueError naming the first NaN or inf in ``array``: a check point must be finite."""
    bad = ~np.isfinite(array)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{what} has a non-finite value ({array[at]}) at {at}: gradcheck needs a finite check point")


def refuse_non_finite_target(y_true: Any) -> None:
    """ValueError if ``y_true`` is numeric and has a NaN or inf (labels, one-hot rows, regression targets)."""
    try:
        array = np.asarray(y_true)
    except (ValueError, TypeError):  # ragged or exotic: the loss judges it
        return
    if array.dtype.kind == "f":
        refuse_non_finite(array, "y_true")


def is_layer_like(component: Any) -> bool:
    """True for an object with forward and backward(grad_y) (or Functions)."""
    if isinstance(component, Functions):
        return True
    methods = callable(getattr(component, "forward", None)) and callable(getattr(component, "backward", None))
    return methods and not is_loss_like(component)


def is_loss_like(component: Any) -> bool:
    """True for an object with forward and a backward() that takes no argument."""
    forward, backward = getattr(component, "forward", None), getattr(component, "backward", None)
    if not (callable(forward) and callable(backward)):
        return False
    return required_positional(backward) == 0


def is_function_pair(component: Any) -> bool:
    """True for a tuple (forward, vjp) of two plain callables (not components themselves)."""
    return (
        isinstance(component, tuple)
        and len(component) == 2
        and all(callable(item) and not hasattr(item, "forward") for item in component)
    )


def required_positional(function: Callable[..., Any]) -> int | None:
    """How many positional arguments ``function`` requires (None if its signature is unknown)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional and p.default is inspect.Parameter.empty for p in parameters)


def takes_training(forward: Callable[..., Any]) -> bool:
    """True if ``forward`` accepts a ``training`` keyword (or any keyword)."""
    try:
        parameters = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "training" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


class LayerAdapter:
    """One layer-like component behind the interface ``check_layer`` uses.

    ``forward(xs, training)`` and ``backward(grad_y) -> [grad_x, ...]`` take and give lists (one
    entry per input); ``params`` are the live arrays; ``grads()`` the gradients after backward.
    """

    def __init__(self, component: Any) -> None:
        if isinstance(component, Functions):
            component = FunctionLayer(component)
        if not is_layer_like(component):
            raise TypeError(
                f"{type(component).__name__} is not a layer: gradcheck needs forward(x) and backward(grad_y) "
                "(and dicts params/grads if it has parameters), or Functions(forward, vjp)"
            )
        self.component = component
        self.many = multiple_inputs(component)
        self.training = takes_training(component.forward)
        params = getattr(component, "params", {})
        if not isinstance(params, Mapping) or not all(isinstance(value, np.ndarray) for value in params.values()):
            raise TypeError(f"{type(component).__name__}.params must be a dict of NumPy arrays")
        self.params: dict[str, Array] = dict(params)

    def forward(self, xs: list[Array], training: bool) -> Array:
        """y for the inputs ``xs``, as a float array."""
        if self.many:
            y = self.component.forward_many(xs, training)
        elif self.training:
            y = self.component.forward(xs[0], training=training)
        else:
            y = self.component.forward(xs[0])
        return output_array(y, "forward")

    def backward(self, grad_y: Array) -> list[Array]:
        """[dL/dx_i] for dL/dy = ``grad_y``."""
        if self.many:
            return [output_array(grad, "backward_many") for grad in self.component.backward_many(grad_y)]
        return [output_array(self.component.backward(grad_y), "backward")]

    def grads(self) -> dict[str, Array | None]:
        """A copy of every parameter's gradient (None where ``grads`` has no entry for it)."""
        grads = getattr(self.component, "grads", {})
        if not isinstance(grads, Mapping):
            raise TypeError(f"{type(self.component).__name__}.grads must be a dict of arrays")
        return {
            key: None if grads.get(key) is None else output_array(grads[key], f"grads[{key!r}]") for key in self.params
        }

    def penalty(self) -> float:
        """The component's ``penalty()``, 0 if it has none."""
        penalty = getattr(self.component, "penalty", None)
        return float(penalty()) if callable(penalty) else 0.0


def multiple_inputs(component: Any) -> bool:
    """True for a layer of several inputs: refnet's ``multiple_inputs``, else forward_many and backward_many."""
    declared = getattr(component, "multiple_inputs", None)
    if isinstance(declared, bool):
        return declared
    return callable(getattr(component, "forward_many", None)) and callable(getattr(component, "backward_many", None))


def output_array(value: Any, what: str) -> Array:
    """What the checked code returned, as a float array (a copy), else TypeError naming ``what``."""
    array = np.array(value)
    if array.dtype.kind in "iub":
        array = array.astype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError(f"{what} returned {type(value).__name__} of dtype {array.dtype}, not an array of floats")
    return array
