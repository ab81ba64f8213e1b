"""The training loop behind ``NeuralNetwork.train``: mini-batches, validation, callbacks.

One epoch, for a network with layers, loss and optimizer:

    order = permutation of the rows (from the network's Generator), unless shuffle=False
    for each batch of batch_size rows (the last, partial batch included):
        L = loss(forward(X_b), Y_b) + Σ penalties     (forward in training mode)
        backward: every layer's grads = dL/dθ
        if L or a gradient is inf/NaN: stop before touching the parameters
        optimizer.step(layers)                          (undone if it made a number inf/NaN: StepGuard)
    epoch loss = Σ_b L_b·|b| / N                        (batch-size-weighted mean)
    validation loss and accuracy, then the callbacks' on_epoch_end
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from refnet.base import Array, Layer
from refnet.callbacks import Callback, History
from refnet.errors import ShapeError, TrainingDivergedError
from refnet.optimizers import Optimizer
from refnet.progress import ProgressBar
from refnet.support.checks import check_int, check_unit_interval
from refnet.support.numerics import Snapshot, all_finite, float_errors_as_values, largest_square

if TYPE_CHECKING:  # the network calls this module: it uses only the network's public methods
    from refnet.network import NeuralNetwork


def split_validation(
    network: NeuralNetwork, X: Array, target: Array, fraction: float, shuffle: bool
) -> tuple[Array, Array, tuple[Array, Array]]:
    """Hold out ``round(N·fraction)`` rows: the last ones after a permutation drawn from the
    network's Generator (or simply the last rows with ``shuffle=False``)."""
    N = len(X)
    fraction = check_unit_interval(fraction, "validation_split")
    held = round(N * fraction)
    if held == 0 or held == N:
        raise ValueError(f"validation_split={fraction} leaves {held} of {N} rows for validation")
    rows = network.rng.permutation(N) if shuffle else np.arange(N)
    kept, out = rows[:-held], rows[-held:]
    return X[kept], target[kept], (X[out], target[out])


def fit(
    network: NeuralNetwork,
    X: Any,
    Y: Any,
    epochs: int,
    optimizer: Optimizer | None,
    *,
    batch_size: int | None,
    shuffle: bool,
    validation_data: tuple[Any, Any] | None,
    validation_split: float,
    split_shuffle: bool,
    callbacks: Sequence[Callback] | None,
    verbose: int,
    initial_epoch: int = 0,
) -> History:
    """Train ``network``; the arguments are those of ``NeuralNetwork.train``."""
    verbose = check_verbose(verbose)
    optimizer = optimizer if optimizer is not None else network.optimizer
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"train() needs an optimizer such as SGD() or Adam(), got {type(optimizer).__name__}")
    epochs = check_int(epochs, "epochs")
    initial_epoch = check_int(initial_epoch, "initial_epoch", minimum=0)
    X, target = network.core.prepare(X, Y)
    batch = len(X) if batch_size is None else check_int(batch_size, "batch_size")
    if validation_data is not None and validation_split:
        raise ValueError("pass validation_data or validation_split, not both")
    validation: tuple[Array, Array] | None = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (X_val, Y_val)")
        validation = network.core.prepare(*validation_data, names=("X_val", "Y_val"))
    elif validation_split:
        X, target, validation = split_validation(network, X, target, validation_split, split_shuffle)
    check_batch_size(network.layers, len(X), batch)
    hooks, history = _hooks(network, optimizer, callbacks, initial_epoch + epochs, len(X), batch, verbose)

    network.optimizer = optimizer
    network.stop_training, network.stop_reason = False, None
    for hook in hooks:
        hook.on_train_begin()
    for epoch in range(initial_epoch, initial_epoch + epochs):
        for hook in hooks:
            hook.on_epoch_begin(epoch)
        logs = _run_epoch(network, optimizer, hooks, X, target, batch, shuffle, epoch)
        if logs is None:  # stopped on the epoch's first batch
            break
        if validation is not None:
            logs.update({f"val_{key}": value for key, value in network.core.evaluate(*validation).items()})
        for hook in hooks:
            hook.on_epoch_end(epoch, logs)
        if network.stop_training:
            break
    history.stopped_reason = network.stop_reason
    for hook in hooks:
        hook.on_train_end()
    return history


def check_batch_size(layers: Sequence[Layer], N: int, batch: int) -> None:
    """Refuse up front a batch size whose last batch is smaller than a layer needs (BatchNorm: 2 rows).

    (Found mid-epoch instead, the error would come after some steps had been taken.)
    """
    last = N % batch or batch
    for index, layer in enumerate(layers):
        if last < layer.min_batch_rows:
            raise ShapeError(
                f"layer {index} ({type(layer).__name__}) needs batches of at least {layer.min_batch_rows} rows, "
                f"but {N} training rows in batches of {batch} leave a last batch of {last} row"
                f"{'s' if last != 1 else ''}; choose another batch_size"
            )


# -- the guard's checks: a batch whose loss, gradients or running statistics are not finite is undone --
def state_arrays(layers: Sequence[Layer]) -> list[Array]:
    """Every layer's non-trainable state arrays (BatchNorm's running statistics), live: what a Snapshot keeps."""
    return [array for layer in layers for array in layer.state.values()]


def state_finite(layers: Sequence[Layer]) -> bool:
    """True when every layer's state (BatchNorm running statistics) is finite."""
    return all(all_finite(array) for array in state_arrays(layers))


def gradient_square_bound(layers: Sequence[Layer]) -> float:
    """The largest Σg² over the layers' gradient arrays, inf when one is not finite.

    Its square root bounds every |g|. Inf also when a square overflows: such a gradient
    would overflow the optimizer's own arithmetic (Adam's g², the clip norm), so it
    counts as divergence before the step, while the parameters are still good.
    """
    return largest_square([grad for layer in layers for grad in layer.grads.values()])


def check_verbose(verbose: Any) -> int:
    """Return ``verbose`` as an int if it is 0, 1 or 2 (False and True count as 0 and 1), else raise."""
    if not isinstance(verbose, numbers.Integral):
        raise TypeError(f"verbose must be 0, 1 or 2, got {type(verbose).__name__} {verbose!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0 (silent), 1 (progress bar) or 2 (one line per epoch), got {verbose!r}")
    return int(verbose)


def _hooks(
    network: NeuralNetwork,
    optimizer: Optimizer,
    callbacks: Sequence[Callback] | None,
    epochs: int,
    samples: int,
    batch: int,
    verbose: int,
) -> tuple[list[Callback], History]:
    """The callbacks in their documented order, bound to the network and optimizer.

    The user's callbacks come first, then History, then the progress display, so that
    History and the display see what a callback adds to the logs (e.g. "lr").
    """
    if isinstance(callbacks, Callback):
        raise TypeError("callbacks must be a list of Callback objects, e.g. callbacks=[EarlyStopping()]")
    history = History()
    hooks: list[Callback] = [*(callbacks if callbacks is not None else ()), history]
    if verbose:
        hooks.append(ProgressBar(epochs=epochs, samples=samples, batch_size=batch, verbose=verbose))
    for hook in hooks:
        if not isinstance(hook, Callback):
            raise TypeError(f"callbacks must be Callback objects, got {type(hook).__name__}")
        hook.bind(network, optimizer)
    return hooks, history


def train_step(network: NeuralNetwork, guard: StepGuard, X: Array, target: Array) -> tuple[float, Array, str | None]:
    """One batch: forward, loss, backward, and the optimizer step if everything is finite.

    Returns (total loss, prediction, failure): failure is None when the step was taken,
    ``"loss"`` when the loss, a gradient or a running statistic was inf/NaN (nothing was
    stepped), ``"step"`` when the step itself would have overflowed (the guard undid it).
    This is all ``train`` does per batch besides logging, and what the benchmarks time.
    """
    with float_errors_as_values():
        value, y_pred = network.core.loss_and_gradients(X, target)
    square_bound = gradient_square_bound(network.layers)
    if not (math.isfinite(value) and math.isfinite(square_bound) and state_finite(network.layers)):
        return value, y_pred, "loss"
    # The step itself may overflow (a huge learning rate); the guard then undoes it.
    if not guard.step(square_bound):
        return value, y_pred, "step"
    return value, y_pred, None


def _run_epoch(
    network: NeuralNetwork,
    optimizer: Optimizer,
    hooks: list[Callback],
    X: Array,
    target: Array,
    batch: int,
    shuffle: bool,
    epoch: int,
) -> dict[str, float] | None:
    """One pass over the data; returns the epoch's logs, or None if it stopped before any step."""
    loss = network.core.loss
    N = len(X)
    order = network.rng.permutation(N) if shuffle else None
    guard = StepGuard(network.layers, optimizer, network.dtype)
    # A callback's on_batch_end may write the parameters (set_arrays, say): the guard's carried
    # bounds then no longer hold, so they are measured again after such hooks.
    writers = any(
        type(hook).on_batch_end is not Callback.on_batch_end and not isinstance(hook, ProgressBar) for hook in hooks
    )
    loss_sum, correct, seen = 0.0, 0.0, 0
    batch_rows = BatchRows(X, target)
    for index, start in enumerate(range(0, N, batch)):
        if order is None:
            xb, tb = X[start : start + batch], target[start : start + batch]  # views, no copy
        else:
            xb, tb = batch_rows.take(order[start : start + batch])
        # Non-trainable state (BatchNorm running statistics) changes in the forward pass:
        # kept from before each batch, so a non-finite batch cannot corrupt it.
        state_before = Snapshot(state_arrays(network.layers))
        value, y_pred, failure = train_step(network, guard, xb, tb)
        if failure is not None:
            state_before.restore()
            if any(hook.on_nonfinite_loss(epoch, index, value) for hook in hooks):
                network.stop_training, network.stop_reason = True, "non-finite loss"
                break
            raise _divergence(value, epoch, index, optimizer, in_step=failure == "step")
        size = len(xb)
        loss_sum += value * size
        seen += size
        if loss.is_classification:
            correct += (loss.accuracy(y_pred, tb) or 0.0) * size
        batch_logs = {"loss": value, "size": float(size)}
        for hook in hooks:
            hook.on_batch_end(index, batch_logs)
        if writers:
            guard.measure()
    if seen == 0:
        return None
    logs: dict[str, float] = {"loss": loss_sum / seen}
    if loss.is_classification:
        logs["accuracy"] = correct / seen
    return logs


class BatchRows:
    """The rows of a shuffled batch, gathered into buffers reused from batch to batch.

    A fresh copy per batch would live next to the previous one, which the first layer keeps
    in its cache until the next forward: two input batches in memory instead of one.
    """

    def __init__(self, X: Array, target: Array) -> None:
        self.X, self.target = X, target
        self.buffers: tuple[Array, Array] | None = None

    def take(self, rows: Array) -> tuple[Array, Array]:
        """(X[rows], target[rows]), written into the buffers (new ones when the batch size changes)."""
        if self.buffers is None or len(self.buffers[0]) != len(rows):
            self.buffers = (
                np.empty((len(rows), *self.X.shape[1:]), self.X.dtype),
                np.empty((len(rows), *self.target.shape[1:]), self.target.dtype),
            )
        xb, tb = self.buffers
        # mode="clip" (the rows are always in range): with the default "raise", take with out= copies first.
        return np.take(self.X, rows, axis=0, out=xb, mode="clip"), np.take(
            self.target, rows, axis=0, out=tb, mode="clip"
        )


class StepGuard:
    """Takes optimizer steps that never leave an inf or NaN in the parameters or the optimizer state.

    Almost every step provably cannot overflow: from bounds on |θ|, on |g| (from the
    gradient check already made) and on the optimizer's state, ``Optimizer.step_bounds``
    bounds every number the step computes; far below the dtype's largest float, the step is
    simply taken. Only a step whose bound comes near it is taken from a copy of the
    parameters and the optimizer state, checked, and undone if anything became inf or NaN.

    The bounds on |θ| and on the state are measured when the guard is made (once per
    epoch) and then carried from step to step by the optimizer's own recursion, so the
    hot path reads no array; a loose carried bound is measured again before any copy.
    (Within an epoch, only the optimizer is assumed to write the parameters and its state.)
    """

    def __init__(self, layers: list[Layer], optimizer: Optimizer, dtype: np.dtype[Any]) -> None:
        self.layers, self.optimizer = layers, optimizer
        # A wide margin under the largest float covers the rounding of the bounds themselves.
        self.limit = float(np.finfo(dtype).max) / 16
        self.param_bound = self.state_bound = math.inf
        #: How many steps were taken from a snapshot (near overflow); 0 in ordinary training.
        self.checked_steps = 0
        self.measure()

    def measure(self) -> None:
        """Measure the bounds on |θ| and on the optimizer state from the arrays themselves."""
        self.param_bound = self._measured_param_bound()
        self.state_bound = self.optimizer.state_bound(self.layers)

    def step(self, gradient_square_bound: float) -> bool:
        """One ``optimizer.step``; False (with nothing changed) if it would make a number inf or NaN."""
        gradient_bound = math.sqrt(gradient_square_bound)
        largest, state_bound = self.optimizer.step_bounds(self.param_bound, self.state_bound, gradient_bound)
        if not largest < self.limit:  # the carried bound may only be loose: measure |θ| before copying
            self.param_bound = self._measured_param_bound()
            largest, state_bound = self.optimizer.step_bounds(self.param_bound, self.state_bound, gradient_bound)
        if largest < self.limit:
            self.optimizer.step(self.layers)
            self.param_bound, self.state_bound = largest, state_bound
            return True
        return self._checked_step()

    @property
    def params(self) -> list[Array]:
        """The live parameter arrays (read each time: the optimizer may pack them into new arrays)."""
        return [param for layer in self.layers for param in layer.params.values()]

    def _measured_param_bound(self) -> float:
        """max |θ| <= max over arrays of sqrt(Σθ²) (inf if one is not finite or a square overflows)."""
        return math.sqrt(largest_square(self.params))

    def _checked_step(self) -> bool:
        """The step from a copy: kept if every parameter and state array is finite, else undone."""
        self.checked_steps += 1
        self.optimizer.pack(self.layers)  # the arrays the step will update, before copying them
        params_before = Snapshot(self.params)
        state_before = self.optimizer.state_arrays(self.layers)
        with float_errors_as_values():
            self.optimizer.step(self.layers)
        state_after = self.optimizer.state_arrays(self.layers).values()
        if all(all_finite(param) for param in self.params) and all(all_finite(value) for value in state_after):
            self.measure()
            return True
        params_before.restore()
        self.optimizer.restore_state_arrays(self.layers, state_before)
        return False


def _divergence(
    value: float, epoch: int, batch: int, optimizer: Optimizer, *, in_step: bool = False
) -> TrainingDivergedError:
    if in_step:
        what = "the optimizer step would have made a parameter (or the optimizer state) inf or NaN"
    elif not math.isfinite(value):
        what = f"the loss became {value}"
    else:
        what = "a gradient (or its square) or a layer's running statistics became inf or NaN"
    return TrainingDivergedError(
        f"training diverged: {what} at epoch {epoch}, batch {batch} (counting from 0). "
        f"The parameters are kept from before this batch. "
        f"Try a smaller learning rate (it is {optimizer.learning_rate:g}) or clip_norm.",
        epoch=epoch,
        batch=batch,
    )
