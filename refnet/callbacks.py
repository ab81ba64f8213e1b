"""Training callbacks: History, early stopping, learning-rate schedules, checkpoints.

``NeuralNetwork.train`` first calls ``bind(network, optimizer)`` on every callback, then
the hooks, in this order (epochs and batches count from 0):

    on_train_begin()
    for each epoch:
        on_epoch_begin(epoch)
        for each batch: on_batch_end(batch, logs)           logs: {"loss", "size"}
        on_epoch_end(epoch, logs)                           logs: {"loss", "accuracy", "val_loss", ...}
    on_train_end()                                          (also after an early stop)

Within one hook, the callbacks run in the order they were given, then the History, then
the progress display; so values a callback adds to the epoch logs (LearningRateScheduler's
``lr``) are recorded by the History. ``on_nonfinite_loss(epoch, batch, loss)`` is asked
before training raises ``TrainingDivergedError``; a callback that returns True turns the
error into a quiet stop. A callback stops training after the current epoch by setting
``network.stop_training = True`` (and, to say why, ``network.stop_reason``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refnet.base import Array
from refnet.support.checks import check_int, check_positive

if TYPE_CHECKING:
    from refnet.network import NeuralNetwork
    from refnet.optimizers import Optimizer

Logs = dict[str, float]


class Callback:
    """Base class; every hook does nothing by default."""

    def __init__(self) -> None:
        self.network: NeuralNetwork | None = None
        self.optimizer: Optimizer | None = None

    def bind(self, network: NeuralNetwork, optimizer: Optimizer) -> None:
        """Called by ``train`` before ``on_train_begin``."""
        self.network, self.optimizer = network, optimizer

    def on_train_begin(self) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Before each epoch."""

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        """After each optimizer step; logs has the batch ``loss`` and ``size``."""

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        """After each epoch; logs has ``loss`` and, when available, ``val_loss`` and accuracies."""

    def on_train_end(self) -> None:
        """After the last epoch (also after an early stop)."""

    def on_nonfinite_loss(self, epoch: int, batch: int, loss: float) -> bool:
        """The batch loss, a gradient or the step would be inf or NaN; return True to stop quietly instead of raising.

        ``loss`` is the batch loss (finite when it is the step that would have overflowed).
        """
        return False


class History(Callback, Mapping[str, list[float]]):
    """Per-epoch values of every logged quantity, as a read-only mapping: metric name -> list.

    ``history["loss"]``, ``history.keys()``, ``dict(history)`` and ``"val_loss" in history``
    work as on a dict; ``history.history`` is the dict itself (as in Keras), ``history.epochs``
    the epoch numbers, ``history.stopped_reason`` why training stopped early (or None).

    >>> import numpy as np
    >>> from refnet import SGD, Dense, MSE, NeuralNetwork
    >>> net = NeuralNetwork(seed=0).add(Dense(2, 1, seed=0)).set_loss(MSE())
    >>> history = net.train(np.ones((4, 2)), np.ones((4, 1)), epochs=3, optimizer=SGD(0.1))
    >>> list(history), len(history["loss"]), history.epochs
    (['loss'], 3, [0, 1, 2])
    >>> history["loss"][-1] < history["loss"][0]
    True
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        #: Why training ended early ("early stopping: ...", "non-finite loss", ...), or None.
        self.stopped_reason: str | None = None

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.epochs.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.history)

    def __len__(self) -> int:
        return len(self.history)

    def plot(self, path: str | Path | None = None, keys: tuple[str, ...] | None = None) -> Any:
        """Draw the curves (loss and val_loss on one axis, accuracies on another) with matplotlib.

        Saves a PNG to ``path`` when given; returns the matplotlib Figure.
        """
        from refnet.plotting import plot_history

        return plot_history(self, path, keys)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epochs)}, keys={list(self.history)})"


def _is_better(mode: str, value: float, best: float, min_delta: float) -> bool:
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _check_mode(monitor: str, mode: str) -> str:
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the network ends with the parameters (and BatchNorm
    statistics) of its best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = check_int(patience, "patience", minimum=0)
        self.min_delta = check_positive(min_delta, "min_delta", allow_zero=True)
        self.mode = _check_mode(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._wait = 0
        self._best_arrays: dict[str, Array] | None = None

    def on_train_begin(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.stopped_epoch, self._wait, self._best_arrays = None, None, 0, None

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, but the logs only have {sorted(logs)}")
        value = logs[self.monitor]
        assert self.network is not None
        if _is_better(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_arrays = self.network.get_arrays()
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            self.network.stop_training = True
            self.network.stop_reason = self._reason()

    def _reason(self) -> str:
        """Why it stopped, for ``history.stopped_reason`` and the progress display (epochs counted from 1, as shown)."""
        reason = f"early stopping: no {self.monitor} improvement for {self._wait} epochs"
        if self.best_epoch is None:
            return reason
        reason += f"; best {self.monitor} {self.best:.4g} at epoch {self.best_epoch + 1}"
        return reason + (", whose weights are restored" if self._best_arrays is not None else "")

    def on_train_end(self) -> None:
        if self.restore_best_weights and self._best_arrays is not None and self.network is not None:
            self.network.set_arrays(self._best_arrays)


Schedule = Callable[[int, float], float]


def step_decay(drop: float = 0.5, every: int = 10) -> Schedule:
    """lr(epoch) = lr0 · drop^floor(epoch / every).

    >>> step_decay(0.5, every=10)(25, 0.1)  # two drops by epoch 25
    0.025
    """
    check_positive(drop, "drop")
    check_int(every, "every")
    return lambda epoch, lr0: lr0 * drop ** (epoch // every)


def exponential_decay(rate: float = 0.96) -> Schedule:
    """lr(epoch) = lr0 · rate^epoch.

    >>> round(exponential_decay(0.9)(2, 1.0), 10)
    0.81
    """
    check_positive(rate, "rate")
    return lambda epoch, lr0: lr0 * rate**epoch


def cosine_decay(epochs: int, min_lr: float = 0.0) -> Schedule:
    """lr(epoch) = min_lr + (lr0 − min_lr)·(1 + cos(π·min(epoch, epochs)/epochs))/2.

    >>> schedule = cosine_decay(epochs=10, min_lr=0.001)
    >>> schedule(0, 0.1), round(schedule(5, 0.1), 10), schedule(10, 0.1), schedule(20, 0.1)
    (0.1, 0.0505, 0.001, 0.001)
    """
    check_int(epochs, "epochs")
    check_positive(min_lr, "min_lr", allow_zero=True)
    return lambda epoch, lr0: min_lr + (lr0 - min_lr) * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)) / 2


def linear_warmup(epochs: int, then: Schedule | None = None, start_factor: float = 0.1) -> Schedule:
    """Warm up linearly for ``epochs`` epochs, then follow ``then`` (counted from the end of the warm-up):

        lr(epoch) = lr0·(f + (1 − f)·epoch/epochs)     for epoch < epochs   (f = start_factor)
                  = then(epoch − epochs, lr0)          afterwards (lr0 when ``then`` is None)

    as PyTorch's LinearLR followed by another schedule in a SequentialLR.

    >>> schedule = linear_warmup(4, cosine_decay(epochs=10), start_factor=0.2)
    >>> [round(schedule(epoch, 1.0), 10) for epoch in (0, 1, 2, 3, 4, 9, 14)]
    [0.2, 0.4, 0.6, 0.8, 1.0, 0.5, 0.0]
    """
    check_int(epochs, "epochs")
    factor = check_positive(start_factor, "start_factor")
    if factor > 1.0:
        raise ValueError(f"start_factor must lie in (0, 1], got {start_factor!r}")
    if then is not None and not callable(then):
        raise TypeError("then must be a schedule: a callable (epoch, lr0) -> lr, e.g. cosine_decay(epochs=50)")

    return lambda epoch, lr0: warmup_rate(epoch, lr0, epochs, factor, then)


def warmup_rate(epoch: int, lr0: float, epochs: int, factor: float, then: Schedule | None) -> float:
    """``linear_warmup``'s formula: lr0·(f + (1 − f)·epoch/epochs) while warming up, then ``then``'s rate."""
    if epoch < epochs:
        return lr0 * (factor + (1 - factor) * epoch / epochs)
    return lr0 if then is None else then(epoch - epochs, lr0)


class LearningRateScheduler(Callback):
    """Set ``optimizer.learning_rate = schedule(epoch, lr0)`` at the start of each epoch.

    ``lr0`` is ``initial_lr`` if given, else the optimizer's learning rate when training
    begins. The built-in schedules are ``step_decay``, ``exponential_decay``,
    ``cosine_decay`` and ``linear_warmup`` (which composes with the others); any callable
    ``(epoch, lr0) -> lr`` works. The rate used is logged as ``lr``.

    The epoch is the one ``train`` reports: it counts from ``train(initial_epoch=...)``
    (0 by default). To continue a schedule exactly after loading a saved run, pass the
    original ``initial_lr`` and ``train(..., initial_epoch=epochs_done)``.
    """

    def __init__(self, schedule: Schedule, initial_lr: float | None = None) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError("schedule must be a callable (epoch, lr0) -> lr")
        self.schedule = schedule
        self.fixed_initial_lr = None if initial_lr is None else check_positive(initial_lr, "initial_lr")
        self.initial_lr: float | None = None

    def on_train_begin(self) -> None:
        assert self.optimizer is not None
        self.initial_lr = self.fixed_initial_lr if self.fixed_initial_lr is not None else self.optimizer.learning_rate

    def on_epoch_begin(self, epoch: int) -> None:
        assert self.optimizer is not None and self.initial_lr is not None
        lr = self.schedule(epoch, self.initial_lr)
        # A schedule may reach 0 (cosine_decay with min_lr=0): a frozen epoch, not an error.
        self.optimizer.set_learning_rate(lr, "scheduled learning_rate")

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        assert self.optimizer is not None
        logs["lr"] = self.optimizer.learning_rate


class ModelCheckpoint(Callback):
    """Save the network to ``path`` whenever ``monitor`` improves (or every epoch).

    Saving is atomic, so the file always holds a complete model. With
    ``include_optimizer=True`` the optimizer state is saved too, to resume training.
    """

    def __init__(
        self,
        path: str | Path,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = True,
        include_optimizer: bool = False,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.mode = _check_mode(monitor, mode)
        self.save_best_only = save_best_only
        self.include_optimizer = include_optimizer
        #: The best monitored value so far; kept across ``train`` calls, so a later call
        #: never overwrites the file with a worse model.
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved_epochs: list[int] = []

    def on_train_begin(self) -> None:
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"ModelCheckpoint: the folder {self.path.parent} of {self.path} does not exist")

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        assert self.network is not None
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(f"ModelCheckpoint monitors {self.monitor!r}, but the logs only have {sorted(logs)}")
            if not _is_better(self.mode, logs[self.monitor], self.best, 0.0):
                return
            self.best = logs[self.monitor]
        self.network.save(self.path, optimizer=self.optimizer if self.include_optimizer else None)
        self.saved_epochs.append(epoch)


class TerminateOnNaN(Callback):
    """Stop training quietly (instead of raising) when the loss becomes inf or NaN.

    The network keeps the last finite parameters either way.
    """

    def on_nonfinite_loss(self, epoch: int, batch: int, loss: float) -> bool:
        return True


__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "TerminateOnNaN",
    "cosine_decay",
    "exponential_decay",
    "linear_warmup",
    "step_decay",
]
