"""Exceptions raised by refnet at its public boundary.

Every one of them subclasses a built-in exception (``ValueError``, ``TypeError`` or
``FloatingPointError``), so code that catches the built-in keeps working.
"""

from __future__ import annotations


class ShapeError(ValueError):
    """An array has the wrong rank, length or number of features."""


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated, of an unknown version or unsafe."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became non-finite (inf or NaN).

    The network keeps the last finite parameters, from before the failing batch, and the
    optimizer keeps the state that goes with them.
    """

    def __init__(self, message: str, *, epoch: int, batch: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
