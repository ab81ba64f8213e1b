"""A character-level language model of Python's own help text, with an LSTM (or a GRU, or a plain RNN).

The text is ``pydoc_data.topics``, the help topics that ship with Python (``help("if")``): nothing is
downloaded. The model reads characters as integer ids and predicts the next one at every position:

    Embedding(V, 32) → LSTM(32, 128) → Dense(128, V)      CrossEntropy over every position

Training cuts the text into windows of T = 64 characters (inputs c_1 … c_T, targets c_2 … c_{T+1}):
truncated backpropagation through time, each window a sequence of its own. refnet's recurrent layers
start every sequence from h_0 = 0 and do not offer to carry the state from one window to the next, so
the model learns to predict from at most the T characters of its window, and the gradient flows back
at most T steps. Adam with clip_norm (recurrent nets' gradients can spike), float32.

After every epoch it prints the validation loss in bits per character (the loss in nats / ln 2; the
last tenth of the text is held out), then samples text at two temperatures, and asserts that the model
beats the unigram entropy of the text (what knowing only the character frequencies gives) by far.
``--cell gru`` and ``--cell rnn`` train the other cells with the same budget (epochs, sizes, steps).

    python examples/char_lm.py [--cell lstm|gru|rnn] [--epochs 5]

Outputs go to the folder named by REFNET_OUT (default: a new temporary folder): the loss curves
(char_lm_<cell>_curves.png) and the samples (char_lm_<cell>_samples.txt).
"""

from __future__ import annotations

import argparse
import math
import os
import time

# One step's matrices are small (32 × 128 by 128 × 512): BLAS threads cost more than they gain there, and
# many times more on a busy machine. Set before NumPy loads its BLAS; a value already set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from outputs import output_folder  # examples/outputs.py: REFNET_OUT, created if missing
from pydoc_text import V, alphabet, ids, index, split, text, unigram_bits, windows

from refnet import GRU, LSTM, RNN, Adam, Callback, CrossEntropy, Dense, Embedding, NeuralNetwork

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
T, EMBED, HIDDEN, BATCH = 64, 32, 128, 32

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--cell", choices=list(CELLS), default="lstm")
# REFNET_EXAMPLE_QUICK=1 (the test suite's smoke run of every example): one epoch, which already passes the assert
parser.add_argument("--epochs", type=int, default=1 if os.environ.get("REFNET_EXAMPLE_QUICK") else 5)
args = parser.parse_args()
out = output_folder("refnet-char-lm-")

# -- the text, as ids (examples/pydoc_text.py: the help topics, the alphabet, the held-out tenth) ------
X_train, Y_train = windows(ids[:split], T)
X_val, Y_val = windows(ids[split:], T)
print(f"{len(text):,} characters, {V} distinct; {len(X_train):,} training windows of {T}, {len(X_val):,} validation")
print(f"unigram entropy of the training text: {unigram_bits:.3f} bits per character")

# -- the model -------------------------------------------------------------------------------------
f32 = np.float32
net = NeuralNetwork(
    [
        Embedding(V, EMBED, seed=1, dtype=f32),
        CELLS[args.cell](EMBED, HIDDEN, seed=2, dtype=f32),
        Dense(HIDDEN, V, seed=3, dtype=f32),  # logits of the next character at every position
    ],
    CrossEntropy(),
    seed=4,
    input_shape=(T,),
)
net.summary()


class BitsPerCharacter(Callback):
    """Prints each epoch's training and validation loss in bits per character (nats / ln 2)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        bits = {key: logs[key] / math.log(2) for key in ("loss", "val_loss")}
        print(f"epoch {epoch + 1}: train {bits['loss']:.3f} bits/char, validation {bits['val_loss']:.3f} bits/char")


start = time.perf_counter()
history = net.train(
    X_train,
    Y_train,
    epochs=args.epochs,
    optimizer=Adam(learning_rate=3e-3, clip_norm=1.0),
    batch_size=BATCH,
    validation_data=(X_val, Y_val),
    callbacks=[BitsPerCharacter()],
)
seconds = time.perf_counter() - start
val_bits = history.history["val_loss"][-1] / math.log(2)
print(f"{args.cell}: {args.epochs} epochs in {seconds:.0f} s; validation {val_bits:.3f} bits/char")


# -- sampling --------------------------------------------------------------------------------------
def sample(prompt: str, length: int, temperature: float, rng: np.random.Generator) -> str:
    """``length`` characters after ``prompt``, each drawn from softmax(logits / temperature) given the last T."""
    context = [index[char] for char in prompt]
    for _ in range(length):
        logits = net.predict(np.array([context[-T:]]))[0, -1].astype(np.float64) / temperature
        p = np.exp(logits - logits.max())
        context.append(int(rng.choice(V, p=p / p.sum())))
    return "".join(alphabet[i] for i in context)


rng = np.random.default_rng(5)
samples = {temperature: sample("The ", 300, temperature, rng) for temperature in (0.5, 1.0)}
for temperature, generated in samples.items():
    print(f"\n--- sample at temperature {temperature} ---\n{generated}")

curves = out / f"char_lm_{args.cell}_curves.png"
history.plot(curves)
(out / f"char_lm_{args.cell}_samples.txt").write_text(
    "".join(f"--- temperature {temperature} ---\n{generated}\n\n" for temperature, generated in samples.items()),
    encoding="utf-8",
)
print(f"\nloss curves: {curves}")

assert val_bits < unigram_bits - 1.0, f"validation {val_bits:.3f} bits/char is not well below {unigram_bits:.3f}"
