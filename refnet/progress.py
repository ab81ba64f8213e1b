"""A dependency-free progress display for ``train(verbose=...)``.

In a terminal it redraws one line per epoch with a bar (``\\r``); when the output is not a
terminal (a log file, CI), or with ``verbose=2``, it prints one line per finished epoch.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from refnet.callbacks import Callback, Logs


class ProgressBar(Callback):
    """Shows epoch, a bar over the batches, the running loss and the epoch's metrics."""

    def __init__(
        self, epochs: int, samples: int, batch_size: int, verbose: int = 1, stream: TextIO | None = None
    ) -> None:
        super().__init__()
        self.epochs = epochs
        self.batches = math.ceil(samples / batch_size)
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.live = verbose == 1 and bool(isatty())
        self._loss_sum = 0.0
        self._seen = 0.0
        self._start = 0.0
        self._epoch = 0

    def on_epoch_begin(self, epoch: int) -> None:
        self._loss_sum, self._seen, self._start, self._epoch = 0.0, 0.0, time.perf_counter(), epoch

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        self._loss_sum += logs["loss"] * logs["size"]
        self._seen += logs["size"]
        if self.live:
            done = batch + 1
            filled = int(30 * done / self.batches)
            bar = "=" * filled + "." * (30 - filled)
            self.stream.write(
                f"\r{self._prefix()} [{bar}] {done}/{self.batches}  loss {self._loss_sum / self._seen:.4f}"
            )
            self.stream.flush()

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        metrics = "  ".join(f"{key} {value:.4f}" for key, value in logs.items())
        elapsed = time.perf_counter() - self._start
        line = f"{self._prefix()}  {metrics}  ({elapsed:.2f}s)"
        self.stream.write(("\r\x1b[2K" if self.live else "") + line + "\n")
        self.stream.flush()

    def _prefix(self) -> str:
        digits = len(str(self.epochs))
        return f"epoch {self._epoch + 1:>{digits}}/{self.epochs}"
