"""The per-sample shape check of layers that take sequences (N, T, E): attention, positions (private)."""

from __future__ import annotations

from refnet.errors import ShapeError


def check_sequence_shape(shape: tuple[int, ...], width: int, layer: object) -> None:
    """A per-sample shape must be (T, width): what ``output_shape`` of a sequence layer accepts."""
    if len(shape) != 2 or shape[-1] != width:
        raise ShapeError(
            f"{layer!r} takes sequences of shape (N, T, {width}), got inputs of shape (N, {', '.join(map(str, shape))})"
        )
