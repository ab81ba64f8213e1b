"""A tiny GPT learns Python's own documentation, one character at a time, beside an LSTM of its size.

The text is the pydoc topics that ship with Python (``pydoc_data.topics``, about 470,000
characters), the same as the recurrent language model's (``examples/pydoc_text.py`` loads it for
both). The model (``refnet.transformer.tiny_gpt``) reads 64 characters and predicts, at every
position, the next one: token and position embeddings, two causal pre-LN transformer blocks of 4
heads, a final LayerNorm, a Dense to the characters; softmax cross-entropy on every position, Adam,
float32.

It prints bits per character (the cross-entropy in bits) on held-out text after every epoch,
against the unigram entropy (a model that knows only how often each character occurs), then
samples at two temperatures. The run asserts that the model ends well below the unigram entropy.

Then the side-by-side: an LSTM language model (char_lm.py's, Embedding → LSTM → Dense, with the
hidden width that gives it the GPT's number of parameters, within a few per cent) trains on the
same random windows for the same wall-clock time the GPT's training took. That is the time
budget: the GPT's 8 epochs (256 steps), 19 s on 2 cores at load average 1.5 (the whole run: 45 s),
144 s at load average 9; the clock counts training steps only, never the evaluations. A table gives both:
parameters, steps done in the budget, held-out bits per character, and the load average the
times were measured under (a busy machine slows both alike only roughly).

The curves (held-out bits per character against training seconds, both models) go to $REFNET_OUT:
``tiny_gpt.png`` and ``tiny_gpt.json``. REFNET_EXAMPLE_QUICK=1 (the test suite's smoke run) trains
2 epochs instead of 8, which already pass the assert.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np
from outputs import output_folder  # examples/outputs.py: REFNET_OUT, created if missing
from pydoc_text import V, alphabet, ids, index, split, text, unigram_bits, windows

from refnet import LSTM, Adam, CrossEntropy, Dense, Embedding, NeuralNetwork
from refnet.transformer import tiny_gpt

try:  # the products here are small: one BLAS thread is as fast, and never waits for a busy core
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
except ImportError:
    pass

T, EMBED, HEADS, BLOCKS = 64, 64, 4, 2
EPOCHS = 2 if os.environ.get("REFNET_EXAMPLE_QUICK") else 8
WINDOWS, BATCH = 1024, 32  # each epoch: WINDOWS random windows of the training text, BATCH per step
LSTM_EMBED = 32  # char_lm.py's embedding width
f32 = np.float32

train_ids = ids[:split]
X_val, Y_val = (array[::4] for array in windows(ids[split:], T))  # every fourth window of the held-out tenth
print(f"{len(text):,} characters, {V} distinct; unigram entropy {unigram_bits:.3f} bits/char")
print(f"held out: {len(X_val)} windows of {T} characters from the last tenth")

rng = np.random.default_rng(0)


def random_windows(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random windows of the training text: inputs ids[s : s + T], targets ids[s + 1 : s + T + 1]."""
    starts = rng.integers(0, len(train_ids) - T - 1, count)
    X = np.stack([train_ids[s : s + T] for s in starts])
    return X, np.stack([train_ids[s + 1 : s + T + 1] for s in starts])


def held_out_bits(model: NeuralNetwork) -> float:
    return model.evaluate(X_val, Y_val)["loss"] / math.log(2)


# -- the tiny GPT ------------------------------------------------------------------------------
model = tiny_gpt(V, T, EMBED, HEADS, BLOCKS, seed=1, dtype=f32)
print(f"tiny GPT: {model.parameter_count():,} parameters")
optimizer = Adam(learning_rate=3e-3)
gpt_curve: dict[str, list[float]] = {"train_bits": [], "val_bits": [], "seconds": []}
gpt_seconds = 0.0  # training time only: the clock stops while the held-out text is evaluated
for epoch in range(1, EPOCHS + 1):
    X, Y = random_windows(WINDOWS)
    start = time.perf_counter()
    history = model.train(X, Y, epochs=1, optimizer=optimizer, batch_size=BATCH, verbose=False)
    gpt_seconds += time.perf_counter() - start
    train_bits = history["loss"][-1] / math.log(2)
    val_bits = held_out_bits(model)
    gpt_curve["train_bits"].append(train_bits)
    gpt_curve["val_bits"].append(val_bits)
    gpt_curve["seconds"].append(gpt_seconds)
    print(f"epoch {epoch}: {train_bits:.3f} bits/char (training), {val_bits:.3f} held out, {gpt_seconds:.0f} s")
gpt_steps = EPOCHS * WINDOWS // BATCH


def sample(prompt: str, length: int, temperature: float) -> str:
    """Characters drawn one at a time from softmax(logits / temperature) at the last position."""
    context = [index[char] for char in prompt]
    for _ in range(length):
        logits = model.predict(np.array([context[-T:]]))[0, -1].astype(np.float64) / temperature
        p = np.exp(logits - logits.max())
        context.append(int(rng.choice(V, p=p / p.sum())))
    return "".join(alphabet[i] for i in context)


for temperature in (0.5, 1.0):
    print(f"\n--- sample at temperature {temperature} ---")
    print(sample("The ", 240, temperature))


# -- the LSTM of the same size, for the same time ----------------------------------------------
def lstm_parameters(hidden: int) -> int:
    """Embedding V·E, LSTM 4H(E + H) weights and 4H biases, Dense (H + 1)·V."""
    return V * LSTM_EMBED + 4 * hidden * (LSTM_EMBED + hidden + 1) + (hidden + 1) * V


HIDDEN = min(range(16, 513), key=lambda hidden: abs(lstm_parameters(hidden) - model.parameter_count()))
lstm = NeuralNetwork(
    [
        Embedding(V, LSTM_EMBED, seed=1, dtype=f32),
        LSTM(LSTM_EMBED, HIDDEN, seed=2, dtype=f32),
        Dense(HIDDEN, V, seed=3, dtype=f32),
    ],
    CrossEntropy(),
    seed=4,
    input_shape=(T,),
)
print(f"\nLSTM (hidden {HIDDEN}): {lstm.parameter_count():,} parameters, trained for the GPT's {gpt_seconds:.0f} s")
lstm_optimizer = Adam(learning_rate=3e-3, clip_norm=1.0)  # char_lm.py's optimizer
lstm_curve: dict[str, list[float]] = {"val_bits": [], "seconds": []}
lstm_seconds, lstm_steps = 0.0, 0
while lstm_seconds < gpt_seconds:  # one step at a time, so the budget is overrun by one step at most
    X, Y = random_windows(BATCH)
    start = time.perf_counter()
    lstm.train(X, Y, epochs=1, optimizer=lstm_optimizer, batch_size=BATCH, verbose=False)
    lstm_seconds += time.perf_counter() - start
    lstm_steps += 1
    if lstm_steps % (WINDOWS // BATCH) == 0 or lstm_seconds >= gpt_seconds:  # as often as the GPT's epochs
        lstm_curve["val_bits"].append(held_out_bits(lstm))
        lstm_curve["seconds"].append(lstm_seconds)
load = os.getloadavg()

rows = [
    ("tiny GPT", model.parameter_count(), gpt_steps, gpt_seconds, gpt_curve["val_bits"][-1]),
    (f"LSTM (hidden {HIDDEN})", lstm.parameter_count(), lstm_steps, lstm_seconds, lstm_curve["val_bits"][-1]),
]
print(f"\nthe same time budget, batches of {BATCH} windows of {T}; load average {' '.join(f'{x:.1f}' for x in load)}")
print(f"{'model':<20} {'parameters':>10} {'steps':>6} {'seconds':>8} {'held-out bits/char':>19} {'unigram':>8}")
for name, parameters, steps, seconds, bits in rows:
    print(f"{name:<20} {parameters:>10,} {steps:>6} {seconds:>8.1f} {bits:>19.3f} {unigram_bits:>8.3f}")

out = output_folder("refnet-tiny-gpt-")
table = [dict(zip(("model", "parameters", "steps", "seconds", "val_bits"), row, strict=True)) for row in rows]
results = {"unigram_bits": unigram_bits, "gpt": gpt_curve, "lstm": lstm_curve, "table": table, "load": load}
(out / "tiny_gpt.json").write_text(json.dumps(results, indent=2))
try:
    from matplotlib.figure import Figure
except ImportError:
    print("\nmatplotlib is not installed: the curves are in tiny_gpt.json only")
else:
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    axes.plot(gpt_curve["seconds"], gpt_curve["train_bits"], marker="o", label="tiny GPT, training")
    axes.plot(gpt_curve["seconds"], gpt_curve["val_bits"], marker="o", label="tiny GPT, held out")
    axes.plot(lstm_curve["seconds"], lstm_curve["val_bits"], marker="s", label=f"LSTM {HIDDEN}, held out")
    axes.axhline(unigram_bits, color="gray", linestyle="--", label="unigram entropy")
    axes.set(xlabel="training seconds", ylabel="bits per character", title="pydoc topics, the same time budget")
    axes.legend()
    figure.savefig(out / "tiny_gpt.png", dpi=100)
print(f"\ncurves written to {out}")

assert abs(lstm.parameter_count() / model.parameter_count() - 1) < 0.03, "the two models should be the same size"
assert gpt_curve["val_bits"][-1] < unigram_bits - 1.0, "the model should end well below the unigram entropy"
