"""A tiny GPT learns Python's own documentation, one character at a time.

The text is the pydoc topics that ship with Python (``pydoc_data.topics``, about 465,000
characters), the same as the recurrent language model's. The model (``refnet.transformer.tiny_gpt``)
reads 64 characters and predicts, at every position, the next one: token and position
embeddings, two causal pre-LN transformer blocks of 4 heads, a final LayerNorm, a Dense to the
characters; softmax cross-entropy on every position, Adam.

It prints bits per character (the cross-entropy in bits) on held-out text after every epoch,
against the unigram entropy (a model that knows only how often each character occurs), then
samples at two temperatures, and writes the curves to $REFNET_OUT (``tiny_gpt.png`` and
``tiny_gpt.json``). The run asserts that the model ends well below the unigram entropy.
"""

from __future__ import annotations

import json
import math
import pydoc_data.topics
import time
from collections import Counter

import numpy as np
from outputs import output_folder  # examples/outputs.py: REFNET_OUT, created if missing

from refnet import Adam
from refnet.transformer import tiny_gpt

try:  # the products here are small: one BLAS thread is as fast, and never waits for a busy core
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
except ImportError:
    pass

T, EMBED, HEADS, BLOCKS = 64, 64, 4, 2
EPOCHS, WINDOWS, BATCH = 4, 1024, 32  # each epoch: WINDOWS random windows of the training text

text = "".join(pydoc_data.topics.topics[key] for key in sorted(pydoc_data.topics.topics))
chars = sorted(set(text))
index = {char: i for i, char in enumerate(chars)}
ids = np.array([index[char] for char in text], dtype=np.int64)
split = int(0.9 * len(ids))
train_ids, held_out = ids[:split], ids[split:]

counts = Counter(train_ids.tolist())
unigram_bits = -sum(c / split * math.log2(c / split) for c in counts.values())
print(f"{len(text):,} characters, {len(chars)} distinct; unigram entropy {unigram_bits:.3f} bits/char")

rng = np.random.default_rng(0)


def windows(source: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random windows: inputs source[s : s + T], targets source[s + 1 : s + T + 1]."""
    starts = rng.integers(0, len(source) - T - 1, count)
    X = np.stack([source[s : s + T] for s in starts])
    return X, np.stack([source[s + 1 : s + T + 1] for s in starts])


model = tiny_gpt(len(chars), T, EMBED, HEADS, BLOCKS, seed=1)
print(f"tiny GPT: {model.parameter_count():,} parameters")
X_val, Y_val = windows(held_out, 128)
optimizer = Adam(learning_rate=3e-3)
curve: dict[str, list[float]] = {"train_bits": [], "val_bits": [], "seconds": []}
start = time.perf_counter()
for epoch in range(1, EPOCHS + 1):
    X, Y = windows(train_ids, WINDOWS)
    history = model.train(X, Y, epochs=1, optimizer=optimizer, batch_size=BATCH, verbose=False)
    train_bits = history["loss"][-1] / math.log(2)
    val_bits = model.evaluate(X_val, Y_val)["loss"] / math.log(2)
    curve["train_bits"].append(train_bits)
    curve["val_bits"].append(val_bits)
    curve["seconds"].append(time.perf_counter() - start)
    print(
        f"epoch {epoch}: {train_bits:.3f} bits/char (training), {val_bits:.3f} held out, {curve['seconds'][-1]:.0f} s"
    )


def sample(prompt: str, length: int, temperature: float) -> str:
    """Characters drawn one at a time from softmax(logits / temperature) at the last position."""
    context = [index[char] for char in prompt]
    for _ in range(length):
        logits = model.predict(np.array([context[-T:]]))[0, -1] / temperature
        p = np.exp(logits - logits.max())
        context.append(int(rng.choice(len(chars), p=p / p.sum())))
    return "".join(chars[i] for i in context)


for temperature in (0.5, 1.0):
    print(f"\n--- sample at temperature {temperature} ---")
    print(sample("The ", 240, temperature))

out = output_folder("refnet-tiny-gpt-")
(out / "tiny_gpt.json").write_text(json.dumps({"unigram_bits": unigram_bits, **curve}, indent=2))
try:
    from matplotlib.figure import Figure
except ImportError:
    print("\nmatplotlib is not installed: the curves are in tiny_gpt.json only")
else:
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    epochs = range(1, EPOCHS + 1)
    axes.plot(epochs, curve["train_bits"], marker="o", label="training")
    axes.plot(epochs, curve["val_bits"], marker="o", label="held out")
    axes.axhline(unigram_bits, color="gray", linestyle="--", label="unigram entropy")
    axes.set(xlabel="epoch", ylabel="bits per character", title="tiny GPT on pydoc topics")
    axes.legend()
    figure.savefig(out / "tiny_gpt.png", dpi=100)
print(f"\ncurves written to {out}")

assert curve["val_bits"][-1] < unigram_bits - 1.0, "the model should end well below the unigram entropy"
