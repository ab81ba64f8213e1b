"""A residual MLP on scikit-learn's bundled digits, built as a computational graph.

    x ─ Dense(64→64, relu) ─ h ─ Dense(64→64, relu) ─ Dense(64→64) ─┐
                             └────────────── skip ──────────────── Add ─ Dense(64→10) ─ logits

Run: ``python examples/residual_digits.py`` (needs ``pip install "refnet[examples]"``).
"""

from __future__ import annotations

import numpy as np
from outputs import output_folder  # examples/outputs.py: REFNET_OUT, created if missing
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from refnet import Adam, CrossEntropy, Dense, EarlyStopping
from refnet.graph import Add, GraphModel, Input

digits = load_digits()
X = digits.data / 16.0  # pixel intensities 0..16 -> 0..1
X_train, X_test, y_train, y_test = train_test_split(X, digits.target, test_size=0.25, random_state=0)

x = Input(64, name="pixels")
h = Dense(64, 64, activation="relu", seed=1)(x)
branch = Dense(64, 64, seed=3)(Dense(64, 64, activation="relu", l2_lambda=1e-4, seed=2)(h))
logits = Dense(64, 10, seed=4)(Add()(h, branch))
model = GraphModel(x, logits, loss=CrossEntropy(), seed=0)
model.summary()

history = model.train(
    X_train,
    y_train,
    epochs=60,
    optimizer=Adam(learning_rate=0.003),
    batch_size=32,
    validation_split=0.15,
    callbacks=[EarlyStopping(monitor="val_loss", patience=8)],
    verbose=2,
)
accuracy = model.evaluate(X_test, y_test)["accuracy"]
print(f"test accuracy: {accuracy:.4f} after {len(history.epochs)} epochs")

out = output_folder("refnet-residual-")
(out / "residual_digits.dot").write_text(model.to_dot())
print(f"graph written to {out / 'residual_digits.dot'} (render: dot -Tpng residual_digits.dot -o graph.png)")
assert accuracy >= 0.96, f"test accuracy {accuracy:.4f} is below 0.96"
assert np.isfinite(history["loss"]).all()
