"""Handwritten digits (scikit-learn's 8x8 ``load_digits``) with a small convolutional network.

    image (1, 8, 8) ─ Conv2D 3x3, 16 filters, relu ─ MaxPool 2x2 ─ (16, 4, 4)
                    ─ Conv2D 3x3, 32 filters, relu ─ MaxPool 2x2 ─ (32, 2, 2) ─ Flatten ─ Dropout ─ Dense ─ 10 logits

The same split as ``digits_classification.py`` (the MLP, >= 97 %): a quarter of the digits held
out. The training digits are also shown moved by one pixel up, down, left and right (the
convolution's filters look for the same strokes anywhere; the copies teach the last layers that
a shifted digit is the same digit). Five networks (seeds 0..4) are trained; for each the
checkpoint of its best validation loss is saved, reloaded and measured on the held-out digits.
The script asserts the mean held-out accuracy of the five: >= 98.5 %. It draws the first
layer's 16 filters and their feature maps of one test digit, and the loss curves, as PNGs.

Outputs go to the folder named by the environment variable REFNET_OUT (default: a new temporary
folder). Needs the examples extra: ``pip install "refnet[examples]"``.

    python examples/digits_cnn.py
"""

from __future__ import annotations

import os
import time

import numpy as np
from matplotlib.figure import Figure
from outputs import output_folder  # examples/outputs.py: REFNET_OUT, created if missing
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from refnet import (
    Adam,
    Conv2D,
    CrossEntropy,
    Dense,
    Dropout,
    Flatten,
    LearningRateScheduler,
    MaxPool2D,
    ModelCheckpoint,
    NeuralNetwork,
    cosine_decay,
)

SEEDS = range(5)
if os.environ.get("REFNET_EXAMPLE_QUICK"):  # the test suite's smoke run of every example: one seed of the five
    SEEDS = range(2, 3)
EPOCHS = 10
out = output_folder("refnet-digits-cnn-")

# 1797 images (N, 1, 8, 8): one channel of 8x8 pixels with values 0..16, scaled to [0, 1].
digits = load_digits()
images = digits.images[:, np.newaxis] / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    images, digits.target, test_size=0.25, stratify=digits.target, random_state=0
)
X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.15, stratify=y_train, random_state=0)


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The images moved dy pixels down and dx right, the uncovered border filled with 0 (background)."""
    moved = np.zeros_like(x)
    H, W = x.shape[2:]
    moved[:, :, max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = x[
        :, :, max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return moved


SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
X_shown = np.concatenate([shifted(X_fit, dy, dx) for dy, dx in SHIFTS])
y_shown = np.tile(y_fit, len(SHIFTS))


def build(seed: int) -> NeuralNetwork:
    return NeuralNetwork(
        [
            Conv2D(1, 16, kernel_size=3, padding=1, activation="relu"),
            MaxPool2D(2),
            Conv2D(16, 32, kernel_size=3, padding=1, activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dropout(0.3),
            Dense(32 * 2 * 2, 10),  # logits; CrossEntropy applies the softmax
        ],
        CrossEntropy(),
        seed=seed,  # drives every layer's initial weights and Dropout's masks
        input_shape=(1, 8, 8),
    )


build(0).summary()
accuracies, histories, start = [], [], time.perf_counter()
for seed in SEEDS:
    net = build(seed)
    best_path = out / f"digits_cnn_best_seed{seed}.npz"
    history = net.train(
        X_shown,
        y_shown,
        epochs=EPOCHS,
        optimizer=Adam(learning_rate=0.003),
        batch_size=32,
        validation_data=(X_val, y_val),
        callbacks=[LearningRateScheduler(cosine_decay(EPOCHS)), ModelCheckpoint(best_path, monitor="val_loss")],
        verbose=0,
    )
    best = NeuralNetwork.load(best_path)  # the epoch of the lowest validation loss
    accuracy = best.evaluate(X_test, y_test)["accuracy"]
    accuracies.append(accuracy)
    histories.append(history)
    print(f"seed {seed}: held-out accuracy {accuracy:.2%} (best checkpoint reloaded from {best_path.name})")
mean = float(np.mean(accuracies))
print(f"mean held-out accuracy over {len(accuracies)} seeds: {mean:.2%} ({time.perf_counter() - start:.0f} s)")

# The first layer's filters W (16, 1, 3, 3) and what each makes of a test digit: its feature maps relu(z) (16, 8, 8).
first = best.layers[0]
digit = X_test[:1]
maps = first.forward(digit, training=False)[0]
figure = Figure(figsize=(12, 2.4))
figure.suptitle(f"first layer of the seed-{SEEDS[-1]} network: 16 filters (top) and their maps of a test digit")
grid = figure.add_gridspec(2, 17)
axis = figure.add_subplot(grid[:, 0])
axis.imshow(digit[0, 0], cmap="gray_r")
axis.set_title(f"digit {y_test[0]}")
for k in range(16):
    scale = float(np.abs(first.params["W"]).max())  # one colour scale for every filter: red > 0 > blue
    for row, picture in ((0, first.params["W"][k, 0]), (1, maps[k])):
        axis = figure.add_subplot(grid[row, k + 1])
        if row == 0:
            axis.imshow(picture, cmap="RdBu_r", vmin=-scale, vmax=scale)
        else:
            axis.imshow(picture, cmap="viridis")
        axis.set_xticks([])
        axis.set_yticks([])
axes = figure.axes[0]
axes.set_xticks([])
axes.set_yticks([])
filters_png = out / "digits_cnn_filters.png"
figure.savefig(filters_png, dpi=80)
print(f"filters and feature maps: {filters_png}")

curves = out / "digits_cnn_curves.png"
histories[-1].plot(curves)
print(f"loss curves: {curves}")

assert mean >= 0.985, f"mean held-out accuracy {mean:.2%} over seeds {list(SEEDS)} is below 98.5%"
assert filters_png.stat().st_size > 0 and curves.stat().st_size > 0
