"""examples/pydoc_text.py: the text both language-model examples learn, its ids and windows."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
pydoc_text = importlib.import_module("pydoc_text")  # examples/ is no package: its helpers import by name


def test_the_ids_spell_the_text_and_the_alphabet_is_sorted_and_distinct() -> None:
    assert "".join(pydoc_text.alphabet[i] for i in pydoc_text.ids[:2000]) == pydoc_text.text[:2000]
    assert len(pydoc_text.ids) == len(pydoc_text.text) and pydoc_text.V == len(set(pydoc_text.text))
    assert pydoc_text.alphabet == sorted(set(pydoc_text.alphabet))
    assert pydoc_text.split == int(0.9 * len(pydoc_text.text))


def test_windows_are_consecutive_and_each_target_is_the_next_character() -> None:
    stream = np.arange(23)
    inputs, targets = pydoc_text.windows(stream, 5)
    assert inputs.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]
    assert (targets == inputs + 1).all()
    last, _ = pydoc_text.windows(np.arange(21), 5)  # 21 ids: the fourth window's last target is id 20
    assert len(last) == 4
    assert len(pydoc_text.windows(np.arange(20), 5)[0]) == 3  # the fourth window would need a 21st id


def test_the_unigram_entropy_is_that_of_the_training_characters() -> None:
    _, counts = np.unique(list(pydoc_text.text[: pydoc_text.split]), return_counts=True)
    p = counts / counts.sum()
    assert math.isclose(pydoc_text.unigram_bits, float(-(p * np.log2(p)).sum()), rel_tol=1e-12)
    assert 4.0 < pydoc_text.unigram_bits < math.log2(pydoc_text.V)
