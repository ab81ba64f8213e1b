"""Model files saved by an earlier refnet keep loading, and keep training exactly as they would have.

``tests/data/model_v1_*.npz`` were written by refnet at commit f146190 (before the module
layout of issue 10) with ``tests/data/make_model_v1.py``, which also recorded in
``model_v1_expected.json`` what that version predicted and what it predicted after 2 more
epochs of training from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_as_recorded

from refnet import GraphModel, NeuralNetwork

DATA = Path(__file__).parent / "data"
EXPECTED = json.loads((DATA / "model_v1_expected.json").read_text())


@pytest.mark.parametrize(("name", "kind", "target"), [("stack", NeuralNetwork, "labels"), ("graph", GraphModel, "Y")])
def test_a_model_saved_by_the_previous_version_loads_predicts_and_resumes_bitwise(
    name: str, kind: type, target: str
) -> None:
    model = NeuralNetwork.load(DATA / f"model_v1_{name}.npz")
    assert type(model) is kind and model.optimizer is not None
    X = np.array(EXPECTED["X"])
    assert_as_recorded(model.predict(X), np.array(EXPECTED[name]["predict"]))
    model.train(np.array(EXPECTED["train_X"]), np.array(EXPECTED[target]), epochs=2, batch_size=8)
    assert_as_recorded(model.predict(X), np.array(EXPECTED[name]["after_2_epochs"]))
