"""A digest of an array's bytes: how a layer tells that its weights are still as drawn (private).

A layer built without ``rng`` or ``seed`` redraws its initial weights from a network's seed
(``Layer.adopt_rng``) only while they are unchanged; it keeps this digest of them as drawn.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from numpy.typing import NDArray


def fingerprint(array: NDArray[Any]) -> bytes:
    """A 16-byte digest of ``array``'s bytes: equal digests mean (but for a 2⁻¹²⁸ chance) equal arrays."""
    return hashlib.blake2b(np.ascontiguousarray(array).data, digest_size=16).digest()


def parameters_fingerprint(params: dict[str, NDArray[Any]]) -> bytes:
    """The digests of every parameter array, in order: equal when (but for that chance) none has changed."""
    return b"".join(fingerprint(value) for value in params.values())
