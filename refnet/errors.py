"""Exceptions raised by refnet at its public boundary.

Every one of them subclasses ``ValueError`` (and, where the situation is better known by
another built-in, that one too: ``RuntimeError``, ``FloatingPointError``), so code that
catches the built-in keeps working and ``except ValueError`` catches any bad use.
"""

from __future__ import annotations


class ShapeError(ValueError):
    """An array has the wrong rank, length or number of features."""


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated, of an unknown version or unsafe."""


class CallOrderError(ValueError, RuntimeError):
    """A method was called before what it depends on (``backward`` before ``forward``,
    ``train`` before ``set_loss``)."""


class NonFiniteError(ValueError):
    """Finite inputs gave an inf or NaN result: the values are too large for the model's
    dtype, or its parameters have diverged."""


class TrainingDivergedError(NonFiniteError, FloatingPointError):
    """The training loss (or a gradient) became non-finite (inf or NaN).

    The network keeps the last finite parameters, from before the failing batch, and the
    optimizer keeps the state that goes with them.
    """

    def __init__(self, message: str, *, epoch: int, batch: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
