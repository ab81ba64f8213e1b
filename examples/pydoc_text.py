"""The text the language-model examples learn (char_lm.py, tiny_gpt.py): Python's own help topics, as ids.

``pydoc_data.topics`` ships with Python (``help("if")``): nothing is downloaded. The topics, in
sorted order, joined by blank lines; every distinct character gets an id (its place in ``alphabet``);
the first nine tenths are for training, the last tenth is held out. Not an example itself:
``nox -s examples`` skips it.
"""

from __future__ import annotations

import math
from collections import Counter
from pydoc_data.topics import topics

import numpy as np

text = "\n\n".join(topics[name] for name in sorted(topics))
alphabet = sorted(set(text))
index = {char: i for i, char in enumerate(alphabet)}
ids = np.array([index[char] for char in text], dtype=np.int64)
V = len(alphabet)
split = int(0.9 * len(ids))  # ids[:split] for training, ids[split:] held out
counts = Counter(text[:split])
#: What knowing only the training text's character frequencies gives, in bits per character.
unigram_bits = -sum(n / split * math.log2(n / split) for n in counts.values())


def windows(stream: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive windows of T + 1 ids: inputs (n, T) and the next character at each position (n, T)."""
    count = (len(stream) - 1) // T
    inputs = stream[: count * T].reshape(count, T)
    targets = stream[1 : count * T + 1].reshape(count, T)
    return inputs, targets
