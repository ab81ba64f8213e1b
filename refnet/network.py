"""NeuralNetwork: layers stacked into a model, trained by backpropagation.

Forward runs the layers in order; backward runs them in reverse, each turning dL/dy into
dL/dx by the chain rule and filling its own gradients on the way:

    y_0 = X;  y_k = layer_k(y_{k−1});  L = loss(y_K, Y) + Σ_k penalty_k
    g_K = dL/dy_K;  g_{k−1} = layer_k.backward(g_k)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from refnet.base import Array, Layer, Shape
from refnet.callbacks import Callback, History
from refnet.errors import CallOrderError, NonFiniteError, ShapeError
from refnet.losses import Loss
from refnet.optimizers import Optimizer
from refnet.support.checks import as_array, as_batch, as_features, cast_finite, check_finite, make_rng
from refnet.support.numerics import Snapshot, all_finite, float_errors_as_values
from refnet.training import fit, gradient_square_bound, state_arrays, state_finite
from refnet.wiring import sample_shape


class NeuralNetwork:
    """A stack of layers with a loss.

    Args:
        layers: optional initial layers (same as calling ``add`` on each).
        loss: optional loss (same as ``set_loss``).
        rng, seed: the Generator that shuffles the batches and splits validation data.
            With ``seed``, the network's seed also drives every layer given without its
            own ``rng``/``seed`` (Dense initial weights, Dropout masks), each from its own
            stream spawned in the order the layers are added: the same seed gives bitwise
            the same network and training. A layer's own seed wins.
        input_shape: optional per-sample shape of X (an int for rows of features, (C, H, W) for
            images, (T, D) for sequences): then ``add`` checks every layer's shape as it comes
            and ``summary()`` shows them all. Without it, shapes are checked from the data.
    """

    def __init__(
        self,
        layers: Iterable[Layer] = (),
        loss: Loss | None = None,
        *,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        input_shape: int | Sequence[int] | None = None,
    ) -> None:
        self.layers: list[Layer] = []
        #: The per-sample shape of X, when given (``input_shape=``); None otherwise.
        self.input_shape: Shape | None = None if input_shape is None else sample_shape(input_shape, "input_shape")
        self.loss: Loss | None = None
        self.rng = make_rng(rng, seed, "NeuralNetwork")
        #: The network seed rule: every layer given to a seeded network adopts a Generator
        #: spawned from here (see ``Layer.adopt_rng``); None without a seed.
        self._layer_seeds = None if seed is None else np.random.SeedSequence(seed)
        #: The optimizer of the last ``train`` call, or the one restored by ``load``.
        self.optimizer: Optimizer | None = None
        #: Set by a callback to end training after the current epoch.
        self.stop_training = False
        self.stop_reason: str | None = None
        #: The seam training and gradcheck run per batch, on arrays validated once (see ``Core``).
        self.core = Core(self, self._check_X, self._forward_arrays, self._backward_params)
        if isinstance(layers, Layer):
            raise TypeError(
                f"layers must be a list of layers, e.g. [Dense(2, 8), ...], got one {type(layers).__name__}"
            )
        for layer in layers:
            self.add(layer)
        if loss is not None:
            self.set_loss(loss)

    # -- building ------------------------------------------------------------------
    @property
    def in_features(self) -> int | None:
        """The width of X's last axis the network expects: the first layer's that fixes one, or None.

        Layers before it must keep the width (activations, Dropout); after a layer that reshapes
        (a Conv2D, a Flatten) the network's input width is not fixed by the layers that follow.
        """
        if self.input_shape is not None:
            return self.input_shape[-1]
        for layer in self.layers:
            if layer.in_features is not None:
                return layer.in_features
            if type(layer).output_features is not Layer.output_features:
                return None
        return None

    def output_features(self) -> int | None:
        """The width of the output's last axis, as far as the layers tell it without data (else None)."""
        width = self.in_features
        for layer in self.layers:
            if width is None and layer.in_features is not None:
                width = layer.in_features  # the width it needs: checked when data comes
            width = None if width is None else layer.output_features(width)
        return width

    def output_shape(self, shape: Sequence[int] | None = None) -> Shape:
        """The per-sample output shape for X of per-sample ``shape`` (default: ``input_shape``).

        Runs every layer's ``output_shape`` in turn: a layer that cannot take what the one
        before outputs is a ShapeError naming both.
        """
        if shape is None:
            if self.input_shape is None:
                raise CallOrderError("the network has no input_shape: pass the per-sample shape of X")
            shape = self.input_shape
        result = tuple(shape)
        for index, layer in enumerate(self.layers):
            try:
                result = layer.output_shape(result)
            except ShapeError as error:
                raise ShapeError(f"layer {index} ({type(layer).__name__}): {error}") from None
        return result

    @property
    def dtype(self) -> np.dtype[Any]:
        """The parameter dtype (float64 for a network without parameters)."""
        for layer in self.layers:
            if layer.dtype is not None:
                return layer.dtype
        return np.dtype(np.float64)

    def add(self, layer: Layer) -> NeuralNetwork:
        """Append ``layer``; its input width and dtype must match the network so far."""
        if not isinstance(layer, Layer):
            raise TypeError(f"add() takes a Layer (e.g. Dense), got {type(layer).__name__}")
        if layer.multiple_inputs:
            raise TypeError(
                f"{type(layer).__name__} merges several inputs, which a stack of layers does not have: "
                "use it in a GraphModel, e.g. Add()(a, b)"
            )
        index = len(self.layers)
        width = self.output_features()
        if width is not None and layer.in_features is not None and layer.in_features != width:
            raise ShapeError(
                f"layer {index} ({type(layer).__name__}) expects {layer.in_features} input features, "
                f"but the previous layer outputs {width}"
            )
        if self.input_shape is not None:
            shape = self.output_shape()
            try:
                layer.output_shape(shape)
            except ShapeError as error:
                raise ShapeError(f"layer {index} ({type(layer).__name__}): {error}") from None
        known = [other.dtype for other in self.layers if other.dtype is not None]
        # Compared with ``!=`` after filtering out None: np.dtype(None) is float64, so ``in (None, ...)`` misleads.
        if layer.dtype is not None and any(dtype != layer.dtype for dtype in known):
            raise ValueError(f"layer {index} has dtype {layer.dtype} but the network has dtype {self.dtype}")
        if any(layer is other for other in self.layers):
            raise ValueError(f"this {type(layer).__name__} is already in the network; create a new layer instead")
        self._seed_layer(layer)
        self.layers.append(layer)
        return self

    def _seed_layer(self, layer: Layer) -> None:
        """Hand ``layer`` a Generator spawned from the network's seed (the layer keeps its own seed if it has one)."""
        if self._layer_seeds is not None:
            layer.adopt_rng(np.random.default_rng(self._layer_seeds.spawn(1)[0]))

    def set_loss(self, loss: Loss) -> NeuralNetwork:
        """Set the loss minimized by ``train`` and reported by ``evaluate``."""
        if not isinstance(loss, Loss):
            raise TypeError(f"set_loss() takes a Loss (e.g. MSE()), got {type(loss).__name__}")
        self.loss = loss
        return self

    # -- forward and backward -------------------------------------------------------
    def _check_X(self, X: Any, name: str = "X") -> Array:
        """X validated once: its values (finite, in the network's dtype) and its shape through every layer."""
        if not self.layers:
            raise CallOrderError("the network has no layers: add() at least one first")
        first = self.layers[0]
        if first.takes_ids:  # an Embedding: integer ids, never cast to floats
            X = first.check_ids(X, name)
        else:
            X = as_array(X, name)
            if X.ndim == 2 and self.in_features is not None:  # rows of features: the messages name columns
                index = next((i for i, layer in enumerate(self.layers) if layer.in_features is not None), None)
                owner = "the network" if index is None else f"layer {index} ({type(self.layers[index]).__name__})"
                X = as_features(X, name, self.dtype, self.in_features, expected_by=owner)
            else:
                X = as_batch(X, name, self.dtype)
        self.output_shape(X.shape[1:])
        return X

    def _check_training_rows(self, rows: int) -> None:
        """A training-mode pass over N rows: refused if a layer needs more (BatchNorm: the variance of one row is 0)."""
        for index, layer in enumerate(self.layers):
            if rows < layer.min_batch_rows:
                raise ShapeError(
                    f"layer {index} ({type(layer).__name__}): training needs a batch of at least "
                    f"{layer.min_batch_rows} rows, got {rows}"
                )

    def _nonfinite(self, what: str, X: Array) -> NonFiniteError:
        """The error for an inf/NaN result computed from a finite, validated X."""
        return NonFiniteError(
            f"{what} is not finite (inf or NaN) although X is: X's values (largest magnitude "
            f"{float(np.abs(X).max()):g}) are too large for this model in {self.dtype}, or its parameters "
            "have diverged. Rescale the inputs (e.g. standardize them) or retrain with a smaller learning rate."
        )

    # -- forward and backward on validated arrays (what ``Core`` runs) -------------------
    def _forward_arrays(self, X: Array, training: bool) -> Array:
        """y_K from y_0 = X through every layer, X already validated by ``Core.prepare``; no checks."""
        for layer in self.layers:
            X = layer.forward_unchecked(X, training)
        return X

    def backward(self, grad_y: Array) -> Array | None:
        """dL/dX from grad_y = dL/d(output), through every layer in reverse; fills every layer's grads.

        Call after a forward; ``g_{k−1} = layer_k.backward(g_k)``. None when X is integer ids
        (an Embedding first): ids have no gradient.
        """
        for layer in reversed(self.layers):
            grad_y = layer.backward_unchecked(grad_y)
        return grad_y

    def _backward_params(self, grad_y: Array) -> None:
        """Every layer's grads from grad_y = dL/d(output), as ``backward`` fills them, without dL/dX.

        What training and ``compute_gradients`` run: nobody reads dL/dX there, so the first
        layer skips it (``Layer.backward_params``; for a Dense layer, a whole matrix product).
        Ask ``backward`` for dL/dX (a gradient check, a saliency map).
        """
        if not self.layers:
            return
        first, *rest = self.layers
        for layer in reversed(rest):
            grad_y = layer.backward_unchecked(grad_y)
        first.backward_params(grad_y, checked=False)

    def forward(self, X: Any, training: bool = False) -> Array:
        """The network's output for a batch X of shape (N, in_features) (or (N, ...), as the first layer takes).

        Raises ``NonFiniteError`` if the output overflows to inf or NaN.
        """
        X = self._check_X(X)
        if training:
            self._check_training_rows(len(X))
        state_before = Snapshot(state_arrays(self.layers))
        with float_errors_as_values():
            y = self._forward_arrays(X, training)
        if not (all_finite(y) and state_finite(self.layers)):
            state_before.restore()
            raise self._nonfinite("the network's output (or a layer's running statistics)", X)
        return y

    def predict(self, X: Any) -> Array:
        """The output in evaluation mode (dropout off, BatchNorm running statistics).

        For a classifier trained with ``CrossEntropy`` these are logits; ``predict_proba``
        gives probabilities.
        """
        return self.forward(X, training=False)

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities for X, shape (N, outputs), from the output and the loss it was trained with.

        ``CrossEntropy``: softmax of the logits, each row a distribution over the classes.
        ``BinaryCrossEntropy(from_logits=True)``: sigmoid of each logit, the probability of
        a 1 for each output. ``BinaryCrossEntropy()``: the output itself, already a
        probability. A regression loss (MSE) has no probabilities: ``TypeError``.

        >>> import numpy as np
        >>> from refnet import CrossEntropy, Dense
        >>> net = NeuralNetwork([Dense(2, 3, seed=0)], CrossEntropy())
        >>> X = np.array([[1.0, 2.0], [0.0, -1.0]])
        >>> probabilities = net.predict_proba(X)
        >>> probabilities.shape, bool(np.allclose(probabilities.sum(axis=1), 1))
        ((2, 3), True)
        >>> bool((probabilities.argmax(axis=1) == net.predict(X).argmax(axis=1)).all())
        True
        """
        loss = self.core.loss
        return loss.probabilities(loss.check_prediction(self.predict(X)))

    def penalty(self) -> float:
        """Σ of every layer's regularization penalty."""
        return sum(layer.penalty() for layer in self.layers)

    def compute_gradients(self, X: Any, Y: Any) -> float:
        """One forward (training mode), the loss, one backward; returns the total loss.

        Total loss = data loss + every layer's penalty; afterwards every layer's ``grads``
        holds the gradient of exactly that number. Raises ``NonFiniteError`` if the loss or
        a gradient overflows to inf or NaN.
        """
        X, target = self.core.prepare(X, Y)
        self._check_training_rows(len(X))
        state_before = Snapshot(state_arrays(self.layers))
        with float_errors_as_values():
            value = self.core.loss_and_gradients(X, target)[0]
        if not (
            math.isfinite(value) and math.isfinite(gradient_square_bound(self.layers)) and state_finite(self.layers)
        ):
            state_before.restore()
            raise self._nonfinite("the loss, a gradient or a layer's running statistics", X)
        return value

    # -- training ------------------------------------------------------------------
    def train(
        self,
        X: Any,
        Y: Any,
        epochs: int,
        optimizer: Optimizer | None = None,
        batch_size: int | None = 32,
        shuffle: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0,
        split_shuffle: bool = True,
        callbacks: Sequence[Callback] | None = (),
        verbose: int = 0,
        initial_epoch: int = 0,
    ) -> History:
        """Train for ``epochs`` passes over (X, Y); returns the History.

        Args:
            optimizer: updates the parameters after every batch (defaults to the one of
                the previous ``train`` call or restored by ``load``).
            batch_size: rows per update, 32 by default (as in Keras); None is full batch (one
                update per epoch). The last partial batch is used.
            shuffle: reorder the rows every epoch, drawing from the network's Generator.
            validation_data: (Xv, Yv) evaluated after every epoch (``val_loss``, ``val_accuracy``).
            validation_split: fraction in [0, 1) of the rows held out for validation instead;
                the held-out rows are the *last* ones after a shuffle (drawn from the
                network's Generator), or simply the last rows with ``split_shuffle=False``.
            callbacks: Callback objects (see ``refnet.callbacks``); None is the same as none.
            verbose: 0 silent, 1 a live progress bar (one line per epoch when the output
                is not a terminal), 2 one line per epoch.
            initial_epoch: the index of the first epoch, as callbacks and History see it:
                to continue a run that stopped after 5 epochs (e.g. from a saved file), pass
                ``initial_epoch=5`` so that schedules pick up where they left off.

        Raises:
            TrainingDivergedError: the loss became inf or NaN; the parameters are those
                from before the failing batch (unless a callback such as TerminateOnNaN
                asked to stop quietly).
        """
        return fit(
            self,
            X,
            Y,
            epochs,
            optimizer,
            batch_size=batch_size,
            shuffle=shuffle,
            validation_data=validation_data,
            validation_split=validation_split,
            split_shuffle=split_shuffle,
            callbacks=callbacks,
            verbose=verbose,
            initial_epoch=initial_epoch,
        )

    def evaluate(self, X: Any, Y: Any) -> dict[str, float]:
        """``{"loss": total loss, "accuracy": ...}`` in evaluation mode (accuracy for classifiers).

        Raises ``NonFiniteError`` if the loss overflows to inf or NaN.
        """
        X, target = self.core.prepare(X, Y)
        result = self.core.evaluate(X, target)
        if not math.isfinite(result["loss"]):
            raise self._nonfinite("the loss", X)
        return result

    # -- inspection ----------------------------------------------------------------
    def parameter_count(self) -> int:
        """Total number of parameter scalars (a frozen layer's included; ``summary()`` shows both counts)."""
        return sum(layer.parameter_count() for layer in self.layers)

    def summary(self, print_fn: Callable[[str], object] = print) -> None:
        """Print a table of the layers, their output shapes and parameter counts (as Keras's ``model.summary()``).

        ``str(network)`` is the same table as text; ``print_fn`` receives it instead of ``print``.
        """
        print_fn(str(self))

    def __str__(self) -> str:
        """The ``summary()`` table: one row per layer with its output shape and parameter count."""
        rows = [("#", "layer", "output shape", "params")]
        if self.input_shape is not None:  # every shape known
            shape: Shape = self.input_shape
            for index, layer in enumerate(self.layers):
                shape = layer.output_shape(shape)
                rows.append((str(index), repr(layer), shape_text(shape), parameter_cell(layer)))
            return self._summary_table(rows)
        width = self.in_features
        for index, layer in enumerate(self.layers):
            if width is None and layer.in_features is not None:
                width = layer.in_features
            width = layer.output_features(width) if width is not None else None
            text = f"(N, {width})" if width is not None else "(N, ?)"
            rows.append((str(index), repr(layer), text, parameter_cell(layer)))
        return self._summary_table(rows)

    def _summary_table(self, rows: Sequence[tuple[str, ...]]) -> str:
        """Rows as aligned columns (the last, a count, right-aligned) under a header rule, with a totals line."""
        widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
        last = len(widths) - 1
        lines = [
            "  ".join(
                cell.rjust(w) if c == last else cell.ljust(w)
                for c, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        rule = "-" * len(lines[0])
        frozen = sum(layer.parameter_count() for layer in self.layers if not layer.trainable)
        counts = f"total parameters: {self.parameter_count():,} (trainable: {self.parameter_count() - frozen:,}"
        footer = f"{counts}, frozen: {frozen:,})   dtype: {self.dtype}   loss: {self.loss!r}"
        return "\n".join([lines[0], rule, *lines[1:], rule, footer])

    def get_arrays(self) -> dict[str, Array]:
        """Copies of every parameter and state array, keyed ``"{index}.{name}"``."""
        arrays = {}
        for index, layer in enumerate(self.layers):
            for name, value in {**layer.params, **layer.state}.items():
                arrays[f"{index}.{name}"] = value.copy()
        return arrays

    def set_arrays(self, arrays: Mapping[str, Any]) -> None:
        """Copy arrays from ``get_arrays`` back into the layers, in place.

        Keys have the form ``"{layer index}.{name}"``, e.g. ``"0.W"`` or ``"1.running_var"``.
        Every value is checked before any is written (so a refused call changes nothing): it
        must be a real numeric array of the target's shape, finite, and representable in the
        network's dtype (1e300 does not fit in float32), and the layer must accept it as
        state (a BatchNorm variance is never negative).
        """
        if not isinstance(arrays, Mapping):
            raise TypeError(
                f"set_arrays takes a dict of arrays keyed 'index.name' (as get_arrays returns), "
                f"got {type(arrays).__name__}"
            )
        checked: list[tuple[Layer, Array, Array]] = []
        for key, value in arrays.items():
            index, _, name = str(key).partition(".")
            if not (index.isdigit() and int(index) < len(self.layers) and name):
                raise ValueError(
                    f"set_arrays: key {key!r} is not of the form 'index.name' with a layer index below "
                    f"{len(self.layers)} (e.g. '0.W'); use the keys of get_arrays()"
                )
            layer = self.layers[int(index)]
            target = layer.params.get(name, layer.state.get(name))
            if target is None:
                names = ", ".join(repr(f"{index}.{known}") for known in (*layer.params, *layer.state)) or "none"
                raise ValueError(
                    f"set_arrays: layer {index} ({type(layer).__name__}) has no array {name!r} (it has {names})"
                )
            array = as_array(value, f"set_arrays: array {key!r}")
            if array.shape != target.shape:
                raise ShapeError(
                    f"set_arrays: array {key!r} has shape {array.shape}, but layer {index} "
                    f"({type(layer).__name__}) needs shape {target.shape}"
                )
            check_finite(array, f"set_arrays: array {key!r}")
            checked.append((layer, target, cast_finite(array, target.dtype, f"set_arrays: array {key!r}")))
        before = Snapshot(target for _, target, _ in checked)
        for _, target, array in checked:
            np.copyto(target, array)
        for layer in {id(layer): layer for layer, _, _ in checked}.values():
            problem = layer.state_problem()  # e.g. a negative running variance
            if problem is not None:
                before.restore()
                raise ValueError(f"set_arrays: layer {self.layers.index(layer)} ({type(layer).__name__}): {problem}")

    # -- files ---------------------------------------------------------------------
    def save(self, path: str | Path, optimizer: Optimizer | None = None) -> None:
        """Write the model (and ``optimizer``'s state, if given) to one ``.npz`` file, atomically.

        The file holds the parameters, the BatchNorm running statistics, the random
        generators' states and a JSON config (layers, hyper-parameters, loss, dtype, format
        version). Pass ``optimizer=network.optimizer`` to be able to resume training exactly.
        A failed save leaves any previous file at ``path`` intact. See ``refnet.io.serialization``.
        """
        from refnet.io.serialization import save_network

        save_network(self, path, optimizer)

    @classmethod
    def load(cls, path: str | Path) -> NeuralNetwork:
        """Read a model written by ``save``; a saved optimizer is restored as ``network.optimizer``.

        The file is read with ``allow_pickle=False`` and checked throughout: a corrupt,
        truncated or foreign file, another format version, missing, extra or mis-shaped
        arrays, or an object (pickle) array raise ``ModelFileError`` (a ValueError).
        """
        from refnet.io.serialization import load_network

        return load_network(path)

    def __repr__(self) -> str:
        return f"NeuralNetwork({len(self.layers)} layers, loss={self.loss!r})"


def shape_text(shape: Sequence[int]) -> str:
    """A batch shape as text: (N, 16, 8, 8)."""
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def parameter_cell(layer: Layer) -> str:
    """A layer's parameter count for ``summary()``, marked when the layer is frozen."""
    count = f"{layer.parameter_count():,}"
    return count if layer.trainable else f"{count} (frozen)"


class Core:
    """The network's core: what training and gradcheck run per batch, on arrays validated once.

    ``train`` validates X and Y once with ``prepare``, then runs thousands of batches through
    ``loss_and_gradients`` and ``evaluate`` without checking them again; gradcheck differentiates
    ``forward``. A user calls the network's own methods (``forward``, ``compute_gradients``,
    ``evaluate``), which validate their input and then call these. Reached as ``network.core``.
    """

    def __init__(
        self,
        network: NeuralNetwork,
        check_X: Callable[[Any, str], Array],
        forward_arrays: Callable[[Array, bool], Array],
        backward_params: Callable[[Array], None],
    ) -> None:
        # The network hands over its own passes (a GraphModel's run its graph): the core adds no math.
        self.network = network
        self._check_X, self._forward_arrays, self._backward_params = check_X, forward_arrays, backward_params

    @property
    def loss(self) -> Loss:
        """The network's loss, or CallOrderError when none is set."""
        if self.network.loss is None:
            raise CallOrderError("no loss set: call set_loss(...) first, e.g. set_loss(MSE())")
        return self.network.loss

    def prepare(self, X: Any, Y: Any, names: tuple[str, str] = ("X", "Y")) -> tuple[Array, Array]:
        """(X, target) validated and cast to the network's dtype: the one check of X and Y.

        X must be (N, in_features) (or (N, ...), as the first layer takes); Y is what the loss
        accepts (e.g. int labels or one-hot rows for CrossEntropy). ``names`` name the two in
        error messages.
        """
        network, loss = self.network, self.loss
        X = self._check_X(X, names[0])
        Y_array = as_array(Y, names[1])
        if Y_array.ndim == 0 or len(Y_array) != len(X):
            got = "a scalar" if Y_array.ndim == 0 else f"{len(Y_array)} rows"
            raise ShapeError(f"{names[0]} has {len(X)} rows but {names[1]} has {got}")
        out = network.output_shape(X.shape[1:])
        target = loss.prepare_target(Y_array, (len(X), *out), network.dtype)
        return X, target

    def forward(self, X: Array, training: bool) -> Array:
        """The network's output for X from ``prepare``; no checks."""
        return self._forward_arrays(X, training)

    def loss_and_gradients(self, X: Array, target: Array) -> tuple[float, Array]:
        """Forward (training mode), loss and backward on arrays from ``prepare``; returns (total loss, prediction).

        Every layer's grads are filled; nobody reads dL/dX here, so the first layer skips it.
        No finiteness check: the caller tests the loss and the gradients (``refnet.training``).
        """
        loss = self.loss
        y_pred = loss.check_prediction(self.forward(X, training=True))
        data_loss, grad_y = loss.value_and_gradient(y_pred, target)
        value = data_loss + self.network.penalty()
        self._backward_params(grad_y)
        return value, y_pred

    def evaluate(self, X: Array, target: Array) -> dict[str, float]:
        """``NeuralNetwork.evaluate`` on arrays from ``prepare``; the loss may be inf/NaN (the caller checks)."""
        loss = self.loss
        with float_errors_as_values():
            y_pred = loss.check_prediction(self.forward(X, training=False))
            result = {"loss": loss.loss(y_pred, target) + self.network.penalty()}
        accuracy = loss.accuracy(y_pred, target)
        if accuracy is not None:
            result["accuracy"] = accuracy
        return result
