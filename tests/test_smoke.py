"""The seed example's network learns XOR (the loss falls and every prediction is right)."""

import numpy as np

from refnet import MSE, Adam, Dense, NeuralNetwork


def test_xor_is_learned_and_loss_falls() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0.0, 1.0, 1.0, 0.0])
    net = NeuralNetwork([Dense(2, 8, "tanh", seed=1), Dense(8, 1, "sigmoid", seed=2)], MSE(), seed=0)
    history = net.train(X, y, epochs=1000, optimizer=Adam(0.05))
    assert history["loss"][-1] < history["loss"][0] / 10
    assert np.array_equal(net.predict(X).ravel() > 0.5, y > 0.5)
