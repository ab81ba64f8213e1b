"""Write the format-1 fixture files in this folder (run once; the files are committed).

They were written by refnet at commit f146190 (before the issue 10 refactor) with
``python tests/data/make_format1_fixtures.py``, and ``tests/test_serialization_fixtures.py``
checks that every later refnet still loads them: the same predictions, and training resumed
from them gives the same numbers as it did then. Re-running this script with a newer refnet
would defeat that purpose: do not regenerate the files, add new ones beside them instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refnet import (
    MSE,
    SGD,
    Adam,
    BatchNorm,
    CrossEntropy,
    Dense,
    Dropout,
    LeakyReLU,
    NeuralNetwork,
)
from refnet.graph import Add, Concatenate, GraphModel, Input

HERE = Path(__file__).resolve().parent


def data(n: int, outputs: int) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(2024)
    X = rng.normal(size=(n, 4))
    labels = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    targets = rng.normal(size=(n, outputs))
    return X, labels, targets


def plain() -> NeuralNetwork:
    layers = [
        Dense(4, 16, "relu", l2_lambda=1e-3, seed=1),
        BatchNorm(16),
        Dropout(0.2, seed=2),
        Dense(16, 8, seed=3),
        LeakyReLU(0.05),
        Dense(8, 3, "identity", l1_lambda=1e-4, seed=4),
    ]
    return NeuralNetwork(layers, CrossEntropy(), seed=5)


def graph() -> NeuralNetwork:
    x = Input(4, name="features")
    h = Dense(4, 8, "tanh", seed=11)(x)
    skip = Add()(h, Dense(8, 8, "sigmoid", seed=12)(Dropout(0.1, seed=13)(h)))
    both = Concatenate()(skip, BatchNorm(4, dtype=np.float64)(x))
    return GraphModel(x, Dense(12, 2, seed=14)(both), loss=MSE(), seed=15)


def plain_float32() -> NeuralNetwork:
    return NeuralNetwork([Dense(4, 5, "relu", seed=21, dtype=np.float32), Dense(5, 3, seed=22, dtype=np.float32)])


def main() -> None:
    X, labels, targets = data(40, 2)
    expected: dict[str, NDArray[Any]] = {"X": X, "labels": labels, "targets": targets}

    net = plain()
    net.train(X, labels, epochs=3, optimizer=Adam(0.01, weight_decay=1e-3), batch_size=16)
    net.save(HERE / "format1_plain_adam.npz", optimizer=net.optimizer)
    expected["plain_adam.predict"] = net.predict(X)
    net.train(X, labels, epochs=2, batch_size=16)
    expected.update({f"plain_adam.resumed.{key}": value for key, value in net.get_arrays().items()})

    model = graph()
    model.train(X, targets, epochs=3, optimizer=SGD(0.05, momentum=0.9, nesterov=True), batch_size=8)
    model.save(HERE / "format1_graph_sgd.npz", optimizer=model.optimizer)
    expected["graph_sgd.predict"] = model.predict(X)
    model.train(X, targets, epochs=2, batch_size=8)
    expected.update({f"graph_sgd.resumed.{key}": value for key, value in model.get_arrays().items()})

    small = plain_float32()
    small.save(HERE / "format1_float32_no_loss.npz")
    expected["float32_no_loss.predict"] = small.predict(X)

    np.savez(HERE / "format1_expected.npz", **expected)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
