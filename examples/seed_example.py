"""The seed's example: a small network learns XOR, with only ``refnet.`` added to its imports."""

import numpy as np

from refnet.functions import ReLU, Sigmoid, Tanh  # noqa: F401  (the seed imports them all)
from refnet.layer import Dense
from refnet.losses import MSE
from refnet.network import NeuralNetwork
from refnet.neuron import Neuron  # noqa: F401
from refnet.optimizers import SGD, Adam  # noqa: F401

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
y = np.array([[0], [1], [1], [0]], dtype=np.float64)

nn = NeuralNetwork(seed=0)
nn.add(Dense(2, 8, activation="tanh", l1_lambda=0.0, l2_lambda=1e-4, seed=1))
nn.add(Dense(8, 1, activation="sigmoid", seed=2))
nn.set_loss(MSE())

history = nn.train(X, y, epochs=1000, optimizer=Adam(learning_rate=0.05))
predictions = nn.predict(X)
nn.summary()
print(f"loss: first epoch {history['loss'][0]:.4f}, last epoch {history['loss'][-1]:.6f}")
print("predictions:", np.round(predictions.ravel(), 3))

assert history["loss"][-1] < history["loss"][0] / 10, "the loss did not go down"
assert np.array_equal(predictions.ravel() > 0.5, y.ravel() > 0.5), "XOR not learned"
