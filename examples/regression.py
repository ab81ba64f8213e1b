"""Regression of a noisy 2-D function with MSE: f(x1, x2) = sin(2·x1)·cos(x2) + x1²/4.

Shows BatchNorm, a cosine learning-rate schedule, gradient clipping, validation data, and
saving and loading the model with its optimizer state. Needs only numpy (and matplotlib
for the curve PNG, skipped without it). Outputs go to REFNET_OUT (default: a temporary folder).

The script asserts its own result: the test error comes down to the noise level.

    python examples/regression.py
"""

from __future__ import annotations

import numpy as np
from outputs import output_folder  # examples/outputs.py: REFNET_OUT, created if missing

from refnet import MSE, Adam, BatchNorm, Dense, LearningRateScheduler, NeuralNetwork, cosine_decay

out = output_folder("refnet-regression-")

NOISE = 0.1  # standard deviation of the noise: the best possible test MSE is NOISE² = 0.01


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-2.0, 2.0, size=(n, 2))
    f = np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + X[:, 0] ** 2 / 4
    return X, (f + NOISE * rng.normal(size=n)).reshape(-1, 1)


rng = np.random.default_rng(0)
X_train, y_train = make_data(2000, rng)
X_val, y_val = make_data(500, rng)
X_test, y_test = make_data(1000, rng)

net = NeuralNetwork(
    [
        Dense(2, 64, activation="tanh", seed=1),
        BatchNorm(64),
        Dense(64, 64, activation="tanh", seed=2),
        Dense(64, 1, seed=3),
    ],
    MSE(),
    seed=4,
)
EPOCHS = 80
history = net.train(
    X_train,
    y_train,
    epochs=EPOCHS,
    optimizer=Adam(learning_rate=0.01, clip_norm=5.0),  # clip the global gradient norm at 5
    batch_size=64,
    validation_data=(X_val, y_val),
    callbacks=[LearningRateScheduler(cosine_decay(epochs=EPOCHS, min_lr=1e-4))],
    verbose=2,  # one line per epoch
)

# Save with the optimizer state and load: the same predictions, and training could resume
# exactly where it stopped (loaded.train(X, y, epochs=...) uses the restored Adam moments).
path = out / "regression.npz"
net.save(path, optimizer=net.optimizer)
loaded = NeuralNetwork.load(path)
np.testing.assert_array_equal(loaded.predict(X_test), net.predict(X_test))

test_mse = loaded.evaluate(X_test, y_test)["loss"]
baseline = float(np.mean((y_test - y_train.mean()) ** 2))  # predicting the mean
print(f"test MSE {test_mse:.4f} (noise floor {NOISE**2:.4f}, predicting the mean {baseline:.4f})")
print(f"R² on the test set: {1 - test_mse / baseline:.3f}")

try:
    history.plot(out / "regression_curves.png")
    print(f"loss curves: {out / 'regression_curves.png'}")
except ImportError as exc:
    print(f"(no plot: {exc})")

assert history["loss"][-1] < history["loss"][0] / 10, "the training loss did not come down"
assert test_mse < 2.5 * NOISE**2, f"test MSE {test_mse:.4f} is far above the noise floor {NOISE**2}"
