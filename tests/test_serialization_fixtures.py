"""Files written by an earlier refnet keep loading: format-1 fixtures in tests/data.

The fixtures were written by refnet at commit f146190 (before the issue 10 refactor) with
``tests/data/make_format1_fixtures.py``. A loaded fixture must predict what the model
predicted when it was saved, and training resumed from it must reach the arrays the
uninterrupted run reached then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_as_recorded
from numpy.typing import NDArray

from refnet import SGD, Adam, CrossEntropy, NeuralNetwork
from refnet.graph import GraphModel

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def expected() -> dict[str, NDArray[Any]]:
    with np.load(DATA / "format1_expected.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_a_format1_plain_network_with_adam_predicts_and_resumes_as_saved(expected: dict[str, NDArray[Any]]) -> None:
    net = NeuralNetwork.load(DATA / "format1_plain_adam.npz")
    assert type(net) is NeuralNetwork and isinstance(net.loss, CrossEntropy)
    assert isinstance(net.optimizer, Adam) and net.optimizer.weight_decay == 1e-3
    assert_as_recorded(net.predict(expected["X"]), expected["plain_adam.predict"])
    net.train(expected["X"], expected["labels"], epochs=2, batch_size=16)
    for key, value in net.get_arrays().items():
        assert_as_recorded(value, expected[f"plain_adam.resumed.{key}"], err_msg=key)


def test_a_format1_graph_with_nesterov_sgd_predicts_and_resumes_as_saved(expected: dict[str, NDArray[Any]]) -> None:
    model = NeuralNetwork.load(DATA / "format1_graph_sgd.npz")
    assert isinstance(model, GraphModel) and model.input_node.name == "features"
    assert isinstance(model.optimizer, SGD) and model.optimizer.nesterov
    assert_as_recorded(model.predict(expected["X"]), expected["graph_sgd.predict"])
    model.train(expected["X"], expected["targets"], epochs=2, batch_size=8)
    for key, value in model.get_arrays().items():
        assert_as_recorded(value, expected[f"graph_sgd.resumed.{key}"], err_msg=key)


def test_a_format1_float32_network_without_loss_loads_as_saved(expected: dict[str, NDArray[Any]]) -> None:
    net = NeuralNetwork.load(DATA / "format1_float32_no_loss.npz")
    assert net.loss is None and net.optimizer is None and net.dtype == np.float32
    prediction = net.predict(expected["X"])
    assert prediction.dtype == np.float32
    assert_as_recorded(prediction, expected["float32_no_loss.predict"])
