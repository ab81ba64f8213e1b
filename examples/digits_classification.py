"""Handwritten digits (scikit-learn's 8x8 ``load_digits``) with a small MLP.

Shows the training features together: a live progress display, a validation split,
EarlyStopping, ModelCheckpoint saving the best model, reloading it, and the loss curves
written as a PNG. Needs the examples extra: ``pip install "refnet[examples]"``.

Outputs go to the folder named by the environment variable REFNET_OUT (default: a new
temporary folder). The script asserts its own result: >= 97% accuracy on held-out digits.

    python examples/digits_classification.py
"""

from __future__ import annotations

import numpy as np
from outputs import output_folder  # examples/outputs.py: REFNET_OUT, created if missing
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from refnet import Adam, CrossEntropy, Dense, Dropout, EarlyStopping, ModelCheckpoint, NeuralNetwork

out = output_folder("refnet-digits-")

# 1797 images of 8x8 pixels with values 0..16, flattened to 64 features and scaled to [0, 1].
digits = load_digits()
X = digits.data / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=0.25, stratify=digits.target, random_state=0
)

net = NeuralNetwork(
    [
        Dense(64, 128, activation="relu", seed=1),
        Dropout(0.2, seed=2),
        Dense(128, 64, activation="relu", seed=3),
        Dense(64, 10, seed=4),  # logits; CrossEntropy applies the softmax
    ],
    CrossEntropy(),
    seed=5,
)
net.summary()

best_path = out / "digits_best.npz"
history = net.train(
    X_train,
    y_train,
    epochs=200,
    optimizer=Adam(learning_rate=0.001),
    batch_size=32,
    validation_split=0.15,  # a shuffled 15% of the training rows, drawn from the network's Generator
    callbacks=[
        EarlyStopping(monitor="val_loss", patience=20, restore_best_weights=True),
        ModelCheckpoint(best_path, monitor="val_loss"),
    ],
    verbose=1,  # a live bar in a terminal, one line per epoch in a log
)
# The display's last line said when and why training stopped; the History keeps the reason too.
assert history.stopped_reason is None or history.stopped_reason.startswith("early stopping")

# The checkpoint holds the best epoch's model: reload it and measure it on the test digits.
best = NeuralNetwork.load(best_path)
test = best.evaluate(X_test, y_test)
print(f"reloaded best model: test loss {test['loss']:.4f}, test accuracy {test['accuracy']:.2%}")
np.testing.assert_array_equal(best.predict(X_test), net.predict(X_test))  # EarlyStopping restored the same epoch

curves = out / "digits_curves.png"
history.plot(curves)
print(f"loss curves: {curves}")

assert test["accuracy"] >= 0.97, f"test accuracy {test['accuracy']:.2%} is below 97%"
assert curves.stat().st_size > 0
