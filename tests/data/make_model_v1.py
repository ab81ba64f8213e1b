"""Usage: PYTHONPATH=<old checkout> python tests/data/make_model_v1.py tests/data

Writes the model files saved by refnet before the issue-10 layout change (run with the old code)."""

import json
import sys

import numpy as np

from refnet import MSE, SGD, Adam, BatchNorm, CrossEntropy, Dense, Dropout, NeuralNetwork
from refnet.graph import Add, Concatenate, GraphModel, Input

out = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.standard_normal((40, 5))
labels = rng.integers(0, 3, 40)
net = NeuralNetwork(
    [Dense(5, 8, "relu", l2_lambda=0.01, seed=1), BatchNorm(8), Dropout(0.2, seed=2), Dense(8, 3, seed=3)],
    CrossEntropy(),
    seed=4,
)
net.train(X, labels, epochs=3, optimizer=Adam(0.01), batch_size=8)
net.save(f"{out}/model_v1_stack.npz", optimizer=net.optimizer)
x = Input(5)
h = Dense(5, 5, "tanh", seed=5)(x)
y = Dense(10, 2, seed=6)(Concatenate()(Add()(x, h), h))
graph = GraphModel(x, y, MSE(), seed=7)
Y = rng.standard_normal((40, 2))
graph.train(X, Y, epochs=2, optimizer=SGD(0.05, momentum=0.9), batch_size=10)
graph.save(f"{out}/model_v1_graph.npz", optimizer=graph.optimizer)
Xq = X[:6]
# what the old code predicts, and the first 2 epochs it trains after loading (bitwise resume)
expected = {"X": Xq.tolist()}
for name, model, target in (("stack", net, labels), ("graph", graph, Y)):
    expected[name] = {"predict": model.predict(Xq).tolist()}
    resumed = NeuralNetwork.load(f"{out}/model_v1_{name}.npz")
    resumed.train(X, target, epochs=2, batch_size=8)
    expected[name]["after_2_epochs"] = resumed.predict(Xq).tolist()
expected["train_X"] = X.tolist()
expected["labels"] = labels.tolist()
expected["Y"] = Y.tolist()
json.dump(expected, open(f"{out}/model_v1_expected.json", "w"))
print("ok")
