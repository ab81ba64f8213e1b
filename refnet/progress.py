"""A dependency-free progress display for ``train(verbose=...)``.

- ``verbose=1`` in a terminal: a live line per epoch, redrawn in place (``\\r``) as the
  batches go by, with a bar and the running loss; when the epoch ends it is replaced by
  the epoch's summary (loss, accuracy, val_loss, ...), which stays on screen.
- ``verbose=1`` when the output is not a terminal (a log file, CI, a pipe), or
  ``verbose=2``: only the summary, one line per finished epoch, no control characters.
- ``verbose=0``: nothing (``train`` does not create a ProgressBar at all).

A summary line looks like::

    epoch  3/20  loss 0.2143  accuracy 0.9412  val_loss 0.2518  val_accuracy 0.9300  (0.04s)

When a callback stops training (EarlyStopping, TerminateOnNaN, or any that sets
``network.stop_training``), a last line says when and why::

    stopped after epoch 12/50: early stopping: no val_loss improvement for 5 epochs; best val_loss 0.0812 at ...
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from refnet.callbacks import Callback, Logs

BAR_WIDTH = 30


def format_logs(logs: Logs) -> str:
    """``"loss 0.1234  val_loss 0.2345"``: 4 decimals, the learning rate in 3 significant digits.

    >>> format_logs({"loss": 0.123456, "val_loss": 0.2, "lr": 0.00125})
    'loss 0.1235  val_loss 0.2000  lr 0.00125'
    """
    return "  ".join(f"{key} {value:.3g}" if key == "lr" else f"{key} {value:.4f}" for key, value in logs.items())


class ProgressBar(Callback):
    """Shows the epoch, a bar over the batches, the running loss and the epoch's metrics.

    Args:
        epochs: number of epochs of the training run (for ``epoch 3/20``).
        samples, batch_size: to know the number of batches per epoch.
        verbose: 1 live in a terminal (one line per epoch otherwise), 2 one line per epoch.
        stream: where to write (default ``sys.stdout``); its ``isatty()`` decides "terminal".
    """

    def __init__(
        self, epochs: int, samples: int, batch_size: int, verbose: int = 1, stream: TextIO | None = None
    ) -> None:
        super().__init__()
        self.epochs = epochs
        self.batches = max(1, math.ceil(samples / batch_size))
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.live = verbose == 1 and callable(isatty) and bool(isatty())
        self._loss_sum = 0.0
        self._seen = 0.0
        self._start = 0.0
        self._epoch = 0
        self._finished = -1  # the last epoch whose summary was written
        self._drawn = -1
        self._pending = False  # a live bar is on screen without its final newline

    def on_epoch_begin(self, epoch: int) -> None:
        self._loss_sum, self._seen, self._epoch, self._drawn = 0.0, 0.0, epoch, -1
        self._start = time.perf_counter()

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        self._loss_sum += logs["loss"] * logs["size"]
        self._seen += logs["size"]
        if not self.live:
            return
        done = batch + 1
        filled = BAR_WIDTH * done // self.batches
        # Redraw only when the bar grows (at most BAR_WIDTH times an epoch): writing to a
        # terminal on every one of thousands of small batches would slow training down.
        if filled == self._drawn and done != self.batches:
            return
        self._drawn = filled
        bar = "=" * filled + "." * (BAR_WIDTH - filled)
        running = self._loss_sum / self._seen
        self.stream.write(f"\r{self._prefix()}  [{bar}] {done}/{self.batches}  loss {running:.4f}")
        self.stream.flush()
        self._pending = True

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        elapsed = time.perf_counter() - self._start
        line = f"{self._prefix()}  {format_logs(logs)}  ({elapsed:.2f}s)"
        # In a terminal, "\r" + "erase line" replaces the live bar with the summary.
        self.stream.write(("\r\x1b[2K" if self.live else "") + line + "\n")
        self.stream.flush()
        self._pending = False
        self._finished = epoch

    def on_train_end(self) -> None:
        if self._pending:  # training stopped mid-epoch (TerminateOnNaN): end the bar's line
            self.stream.write("\n")
            self._pending = False
        if self.network is not None and self.network.stop_training:
            when = "after" if self._finished == self._epoch else "during"
            reason = self.network.stop_reason or "a callback set network.stop_training"
            self.stream.write(f"stopped {when} epoch {self._epoch + 1}/{self.epochs}: {reason}\n")
        self.stream.flush()

    def _prefix(self) -> str:
        digits = len(str(self.epochs))
        return f"epoch {self._epoch + 1:>{digits}}/{self.epochs}"
