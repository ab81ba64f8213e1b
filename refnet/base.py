"""The Layer interface every refnet layer implements.

A layer maps a batch x of shape (N, ...) to a batch y (N, ...): Dense, the activations, Dropout
act on the last axis, (N, ..., in_features) -> (N, ..., out_features); ``output_shape`` tells y's
per-sample shape from x's, so networks and graphs check their shapes before any data flows:

- ``forward(x, training=True) -> y`` caches what ``backward`` needs;
- ``backward(grad_y) -> grad_x`` fills ``grads`` (same keys and shapes as ``params``) and
  returns dL/dx. Calling it twice for the same forward gives the same result: gradients
  are overwritten, never accumulated;
- ``backward_params(grad_y)`` fills ``grads`` only: ``backward`` run with ``input_grad_needed``
  False, what the network runs where nobody reads dL/dx (the first layer, during training);
- ``penalty()`` is the layer's regularization term, already part of the reported loss.

Validation happens once, where data enters, never inside the math. A layer's ``forward`` and
``backward`` hold the formulas only; the interface wraps them (``Layer.__init_subclass__``), so
that a user who calls ``layer.forward(x)`` directly gets x checked first — a float array (N, ...)
whose shape ``output_shape`` accepts, cast to the layer's dtype —, and ``backward(grad_y)`` gets
grad_y checked against the shape and dtype of the last forward's output. A network validates X
once at its own boundary and then runs the math directly (``forward_unchecked``,
``backward_unchecked``): thousands of batches, no check repeated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refnet.errors import CallOrderError, ShapeError
from refnet.support.checks import as_array, cast_finite
from refnet.support.fingerprint import parameters_fingerprint
from refnet.wiring import Node, apply

Array = NDArray[Any]
Shape = tuple[int, ...]

# -- registration: every Layer subclass is known by the name a model file stores --------------
#: registered name -> class, filled by ``Layer.__init_subclass__`` as each class is defined.
_REGISTERED: dict[str, type[Layer]] = {}


def registered_layer(name: str) -> type[Layer] | None:
    """The Layer class registered under ``name`` (a model file's ``type``), or None; never imports anything."""
    return _REGISTERED.get(name)


def _registered_name(cls: type) -> str:
    """refnet's own layers by class name (the names model files have always stored, stable when a
    module moves); every other class by ``module.QualifiedName``, so two users' classes named alike
    never collide, and no user name (it has a dot) can take a refnet name."""
    if cls.__module__ == "refnet" or cls.__module__.startswith("refnet."):
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


class Layer:
    """Base class of all layers. Subclasses override ``forward`` and ``backward``."""

    #: True for a layer that combines several inputs (the merges: ``forward_many``/``backward_many``).
    multiple_inputs = False
    #: The fewest rows a training batch may have (BatchNorm needs 2: the variance of one row is 0).
    min_batch_rows = 1
    #: False freezes the layer (``layer.trainable = False``): no optimizer changes its parameters, its
    #: backward may skip their gradients (Dense and BatchNorm do) but still returns dL/dx, its penalty
    #: still counts in the loss, and a BatchNorm still updates its running statistics. Saved with the model.
    trainable = True

    #: The name a model file stores for this class (see ``_registered_name``); set on subclassing.
    registered_name: str = "Layer"
    #: Shape and dtype of the last forward's output: what ``backward``'s grad_y must match.
    _forward_output: tuple[Shape, np.dtype[Any]] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register the new class, so that a model holding it saves and loads (once its module is imported).

        The same name defined again (a module reloaded, a notebook cell run twice) now means the new
        class; a different class under a taken name is a TypeError, never a silent collision.
        """
        super().__init_subclass__(**kwargs)
        name = _registered_name(cls)
        known = _REGISTERED.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"layer name {name!r} is already registered by {known.__module__}.{known.__qualname__}")
        cls.registered_name = name
        _REGISTERED[name] = cls
        # The interface validates what a user hands a layer directly, before the layer's math runs.
        for method, validate in _BOUNDARY.items():
            math = cls.__dict__.get(method)
            if math is not None and not hasattr(math, "__wrapped__"):
                setattr(cls, method, _validated(math, validate))

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        #: Non-trainable arrays saved with the model (e.g. BatchNorm running statistics).
        self.state: dict[str, Array] = {}
        #: The graph node this layer was applied at (a layer is used once per graph), or None.
        self.graph_node: Node | None = None

    def forward(self, x: Array, training: bool = True) -> Array:
        """y = f(x); caches what backward needs. Shapes (N, in) -> (N, out)."""
        raise NotImplementedError

    def backward(self, grad_y: Array) -> Array:
        """grad_x = dL/dx from grad_y = dL/dy; fills ``grads``. Shapes (N, out) -> (N, in)."""
        raise NotImplementedError

    #: False while ``backward_params`` runs ``backward``: nobody reads grad_x then, so a layer
    #: whose grad_x costs real work (Dense: a matrix product) may skip it and return anything.
    input_grad_needed = True

    def backward_params(self, grad_y: Array, *, checked: bool = True) -> None:
        """Fill ``grads`` exactly as ``backward`` does, without returning dL/dx.

        The network calls this instead of ``backward`` on a layer whose input gradient nobody
        reads (the first layer, during training): it runs ``backward`` (a subclass's own too)
        with ``input_grad_needed`` False, and drops what it returns. ``checked=False``: grad_y
        was validated by the caller (a network's backward pass).
        """
        self.input_grad_needed = False
        try:
            if checked:
                self.backward(grad_y)
            else:
                self.backward_unchecked(grad_y)
        finally:
            del self.input_grad_needed  # back to the class's True

    # -- layers with several inputs (``multiple_inputs = True``: the merges) override these three --
    def merged_shape(self, shapes: list[Shape]) -> Shape:
        """The per-sample output shape for inputs of these per-sample shapes (a merge's graph wiring)."""
        raise TypeError(f"{type(self).__name__} takes one input")

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        """y from the inputs xs; caches what ``backward_many`` needs."""
        raise TypeError(f"{type(self).__name__} takes one input: call forward(x)")

    def backward_many(self, grad_y: Array) -> list[Array]:
        """The gradient with respect to each input, in the order of ``forward_many``'s xs."""
        raise TypeError(f"{type(self).__name__} takes one input: call backward(grad_y)")

    def penalty(self) -> float:
        """The regularization penalty this layer adds to the loss (0.0 when none)."""
        return 0.0

    @property
    def in_features(self) -> int | None:
        """The width of the input's last axis this layer needs, or None for a layer that accepts any."""
        return None

    def output_features(self, in_features: int) -> int | None:
        """The width of the output's last axis for an input's last axis of ``in_features`` (same by default).

        None when the last axis alone does not tell it (a Conv2D's output width depends on the
        input's height and width too): ``NeuralNetwork.add`` checks widths with this, before
        any data is seen, as far as they are known.
        """
        return in_features

    def output_shape(self, shape: Shape) -> Shape:
        """The per-sample shape of y for an input of per-sample shape ``shape`` (both without N).

        By default a layer acts on the last axis: the leading axes pass through (a sequence's T),
        and the last must have ``in_features`` entries when the layer fixes it. Layers that act
        otherwise (Conv2D, pooling, Flatten, a recurrent layer) override this. Raises ShapeError,
        naming the layer, what it expects and what it got.
        """
        if not shape:
            raise ShapeError(f"{self!r} needs a feature axis: inputs of shape (N, ..., features), got (N,)")
        width = shape[-1]
        if self.in_features is not None and width != self.in_features:
            raise ShapeError(
                f"{self!r} expects {self.in_features} input features (the last axis), "
                f"got inputs of shape (N, {', '.join(map(str, shape))})"
            )
        out = self.output_features(width)
        assert out is not None, f"{type(self).__name__}.output_features returned None: override output_shape"
        return (*shape[:-1], out)

    #: True for a layer whose inputs are integer ids (Embedding): as a network's first layer it
    #: validates X itself (``check_ids``), and X is never cast to floats.
    takes_ids = False

    def check_ids(self, X: Any, name: str) -> Array:
        """X validated as this layer's integer ids (a network's entry calls it when ``takes_ids``)."""
        raise TypeError(f"{type(self).__name__} takes float inputs, not ids")

    @property
    def dtype(self) -> np.dtype[Any] | None:
        """The dtype of the parameters, or None for a layer without parameters."""
        for value in self.params.values():
            return value.dtype
        return None

    def generator(self) -> np.random.Generator | None:
        """The Generator this layer draws from when it runs (Dropout's masks), or None.

        It is saved with the model, so that training resumes with the same draws.
        """
        return None

    def set_generator(self, rng: np.random.Generator) -> None:
        """Draw from ``rng`` from now on (used when loading a model); only layers that draw have one."""
        raise TypeError(f"{type(self).__name__} draws no random numbers")

    def adopt_rng(self, rng: np.random.Generator) -> None:
        """Take ``rng`` as this layer's source of randomness if it was built without one.

        The network seed rule: a network made with ``seed=`` calls this for every layer it
        is given, each time with a new Generator derived from that seed. A layer built with
        ``rng=`` or ``seed=`` keeps its own (its seed wins). A layer built without one
        redraws what it drew from the OS (a Dense its initial weights, unless they have
        changed since) and draws from ``rng`` from then on; it adopts one network's
        generator, once. Layers without randomness have nothing to do.

        For a layer whose constructor calls ``remember_draw``: if its parameters are still as
        drawn from the OS, ``redraw(rng)`` draws them again.
        """
        if self._unseeded is None:
            return
        as_drawn, self._unseeded = self._unseeded, None
        if parameters_fingerprint(self.params) == as_drawn:
            self.redraw(rng)

    #: While the parameters are as drawn from OS entropy (no rng or seed given): their fingerprint,
    #: for ``adopt_rng``. None once a seed chose them, and in a copy (a model of its own).
    _unseeded: bytes | None = None

    def remember_draw(self, rng: np.random.Generator | None, seed: int | None) -> None:
        """Called by a constructor once it has drawn ``params``: keep their fingerprint if neither
        ``rng`` nor ``seed`` chose them, so that a network's seed may redraw them (``adopt_rng``)."""
        self._unseeded = parameters_fingerprint(self.params) if rng is None and seed is None else None

    def redraw(self, rng: np.random.Generator) -> None:
        """Draw the initial parameters again from ``rng``, in place (a layer calling ``remember_draw`` writes it)."""
        raise NotImplementedError(f"{type(self).__name__} calls remember_draw, so it must write redraw(rng)")

    def __getstate__(self) -> dict[str, Any]:
        # A copy (pickle, deepcopy) is a model of its own: a network seed never redraws its parameters.
        fields = dict(self.__dict__)
        fields.pop("_unseeded", None)
        return fields

    def state_problem(self) -> str | None:
        """What is wrong with the layer's ``state`` arrays beyond finiteness (e.g. a negative variance), or None."""
        return None

    def check_saveable(self) -> None:
        """Raise TypeError if ``from_config(get_config())`` would not rebuild this very layer."""

    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters that rebuild this layer with ``from_config`` (JSON-serializable)."""
        return {}

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """The shapes of the ``params`` and of the ``state`` that ``from_config(config)`` creates, by name.

        A model file's arrays are checked against them before any data is read. By default the
        layer is built from ``config`` and its arrays measured; a layer whose arrays grow with its
        config (Dense, BatchNorm, Neuron) computes them without building, so a config cannot make
        refnet allocate what the file does not hold.
        """
        layer = cls.from_config(config)
        return (
            {name: value.shape for name, value in layer.params.items()},
            {name: value.shape for name, value in layer.state.items()},
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Rebuild a layer from ``get_config()``; parameters are loaded separately."""
        return cls(**config)

    def parameter_count(self) -> int:
        """Total number of parameter scalars (frozen or not)."""
        return sum(int(value.size) for value in self.params.values())

    # -- the math without the interface's checks: what a network runs on arrays it validated --
    def forward_unchecked(self, x: Array, training: bool = True) -> Array:
        """``forward``'s math on an x the caller has validated (a network, after its one check of X)."""
        y: Array = _math_of(type(self).forward)(self, x, training)
        self._forward_output = (y.shape, y.dtype)
        return y

    def backward_unchecked(self, grad_y: Array) -> Array:
        """``backward``'s math on a grad_y the caller has validated (a network's backward pass)."""
        grad_x: Array = _math_of(type(self).backward)(self, grad_y)
        return grad_x

    def forward_many_unchecked(self, xs: list[Array], training: bool = True) -> Array:
        """``forward_many``'s math on inputs the caller has validated (a graph's forward pass)."""
        y: Array = _math_of(type(self).forward_many)(self, xs, training)
        self._forward_output = (y.shape, y.dtype)
        return y

    def backward_many_unchecked(self, grad_y: Array) -> list[Array]:
        """``backward_many``'s math on a grad_y the caller has validated (a graph's backward pass)."""
        grads: list[Array] = _math_of(type(self).backward_many)(self, grad_y)
        return grads

    def __call__(self, *nodes: Node) -> Node:
        """Apply this layer to a graph node: ``h = Dense(64, 32)(x)`` (see ``refnet.graph``)."""
        return apply(self, nodes)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


# -- the interface's checks, run before a layer's math when a user calls it directly ------------
def check_input(self: Layer, x: Any, training: bool = True, name: str = "x") -> Array:
    """x for ``self.forward``: ids for an id self; else a float array (N, ...) that ``output_shape``
    accepts, in the self's dtype (a self without parameters keeps a float's dtype, takes ints as float64)."""
    owner = type(self).__name__
    if self.takes_ids:
        return self.check_ids(x, f"{owner}: ids")
    array = as_array(x, f"{owner}: {name}")
    width = self.in_features
    if array.ndim < 2 or (width is not None and array.shape[-1] != width):
        expected = "(N, features) or (N, ...)" if width is None else f"(N, ..., {width})"
        raise ShapeError(f"{owner}: {name} must have shape {expected}, got {array.shape}")
    if array.size == 0:
        raise ShapeError(f"{owner}: {name} is empty: got shape {array.shape}, need at least one row and one feature")
    try:
        self.output_shape(array.shape[1:])
    except ShapeError as error:
        raise ShapeError(f"{owner}: {name} of shape {array.shape}: {error}") from None
    if training and array.shape[0] < self.min_batch_rows:
        raise ShapeError(
            f"{owner}: training needs a batch of at least {self.min_batch_rows} rows, got {array.shape[0]}; "
            "choose a batch_size that does not leave a smaller last batch"
        )
    dtype = self.dtype or (array.dtype if array.dtype.kind == "f" else np.dtype(np.float64))
    return cast_finite(array, dtype, f"{owner}: {name}")


def check_grad_y(self: Layer, grad_y: Any) -> Array:
    """grad_y for ``self.backward``: after a forward, a float array of that forward's output shape and dtype."""
    owner = type(self).__name__
    seen = self._forward_output
    if seen is None:
        raise CallOrderError(f"{owner}.backward called before forward: call forward(x) first")
    shape, dtype = seen
    array = as_array(grad_y, f"{owner}: grad_y")
    if array.shape != shape:
        raise ShapeError(f"{owner}: grad_y must have shape {shape}, got {array.shape} (grad_y is dL/dy: y's shape)")
    return cast_finite(array, dtype, f"{owner}: grad_y")


def check_inputs(self: Layer, xs: Any) -> list[Array]:
    """The inputs of a merge's ``forward_many``: at least two float arrays (N, ...) of one dtype, with
    equal N, whose per-sample shapes ``merged_shape`` accepts."""
    owner = type(self).__name__
    if not isinstance(xs, (list, tuple)) or len(xs) < 2:
        raise TypeError(f"{owner}.forward_many takes a list of at least 2 arrays")
    arrays = []
    for i, x in enumerate(xs):
        array = as_array(x, f"{owner}: input {i}")
        if array.ndim < 2 or array.size == 0:
            raise ShapeError(f"{owner}: input {i} must have shape (N, ...) with N >= 1, got {array.shape}")
        arrays.append(array if array.dtype.kind == "f" else array.astype(np.float64))
    first = arrays[0]
    for i, x in enumerate(arrays[1:], start=1):
        if x.shape[0] != first.shape[0]:
            raise ShapeError(
                f"{owner}: inputs must have the same number of rows, got {first.shape} and {x.shape} (input {i})"
            )
        try:
            self.merged_shape([first.shape[1:], x.shape[1:]])
        except ShapeError as error:
            raise ShapeError(f"{error}: got {first.shape} and {x.shape} (input {i})") from None
        if x.dtype != first.dtype:
            raise TypeError(f"{owner}: inputs must have one dtype, got {first.dtype} and {x.dtype} (input {i})")
    return arrays


# These run as the self's own methods (installed by ``Layer.__init_subclass__``), hence ``self``.
def _forward(self: Layer, math: Callable[..., Any], x: Any, *args: Any, **kwargs: Any) -> Any:
    training = kwargs.get("training", args[0] if args else True)
    y: Array = math(self, check_input(self, x, bool(training)), *args, **kwargs)
    self._forward_output = (y.shape, y.dtype)
    return y


def _forward_many(self: Layer, math: Callable[..., Any], xs: Any, *args: Any, **kwargs: Any) -> Any:
    y: Array = math(self, check_inputs(self, xs), *args, **kwargs)
    self._forward_output = (y.shape, y.dtype)
    return y


def _backward(self: Layer, math: Callable[..., Any], grad_y: Any, *args: Any, **kwargs: Any) -> Any:
    return math(self, check_grad_y(self, grad_y), *args, **kwargs)


#: The methods the interface validates, and how.
_BOUNDARY: dict[str, Callable[..., Any]] = {
    "forward": _forward,
    "backward": _backward,
    "forward_many": _forward_many,
    "backward_many": _backward,
}


def _validated(math: Callable[..., Any], validate: Callable[..., Any]) -> Callable[..., Any]:
    """``math`` behind the interface's checks; ``math`` itself stays reachable as ``__wrapped__``."""

    @functools.wraps(math)
    def method(self: Layer, value: Any, *args: Any, **kwargs: Any) -> Any:
        return validate(self, math, value, *args, **kwargs)

    return method


def _math_of(method: Callable[..., Any]) -> Callable[..., Any]:
    """The layer's own math behind the interface's checks (``method`` itself where there are none)."""
    return getattr(method, "__wrapped__", method)
