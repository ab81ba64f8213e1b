"""A character-level language model of Python's own help text, with an LSTM (or a GRU, or a plain RNN).

The text is ``pydoc_data.topics``, the help topics that ship with Python (``help("if")``): nothing is
downloaded. The model reads characters as integer ids and predicts the next one at every position:

    Embedding(V, 32) → LSTM(32, 128) → Dense(128, V)      CrossEntropy over every position

Training is truncated backpropagation through time. The training text is cut into B = 32 rows of
equal length, each row into windows of T = 64 characters (inputs c_1 … c_T, targets c_2 … c_{T+1}), and
batch b holds window b of every row: row n of batch b + 1 continues row n of batch b. The LSTM is
``stateful``: each batch starts from the state (h, c) the last batch ended in, so the model reads the
text as 32 long streams, while the gradient flows back only through the current window (the carried
state is a constant to its backward: PyTorch's ``h.detach()``). The state is reset at every epoch's
start and before each validation pass. ``--state zero`` trains the same batches in the same order with
every window started from h_0 = 0 instead, to show what the carried state is worth. Adam with
clip_norm (recurrent nets' gradients can spike), float32.

After every epoch it prints the validation loss in bits per character (the loss in nats / ln 2; the
last tenth of the text is held out, laid out in rows and windows as the training text), measured both
ways: with the state carried from window to window, and from a zero state in every window. It then
samples text at two temperatures (a stateful model reads one character at a time, its state carrying
the context), and asserts that the model beats the unigram entropy of the text (what knowing only the
character frequencies gives) by far. ``--cell gru`` and ``--cell rnn`` train the other cells with the
same budget (epochs, sizes, steps).

    python examples/char_lm.py [--cell lstm|gru|rnn] [--state carried|zero] [--epochs 5]

Outputs go to the folder named by REFNET_OUT (default: a new temporary folder): the loss curves
(char_lm_<cell>_<state>_curves.png) and the samples (char_lm_<cell>_<state>_samples.txt).
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
from pydoc_text import V, alphabet, ids, index, split, text, unigram_bits

from refnet import GRU, LSTM, RNN, Adam, Callback, CrossEntropy, Dense, Embedding, NeuralNetwork

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
T, EMBED, HIDDEN, BATCH = 64, 32, 128, 32

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--cell", choices=list(CELLS), default="lstm")
parser.add_argument("--state", choices=["carried", "zero"], default="carried", help="between windows (default carried)")
# REFNET_EXAMPLE_QUICK=1 (the test suite's smoke run of every example): one epoch, which already passes the assert
parser.add_argument("--epochs", type=int, default=1 if os.environ.get("REFNET_EXAMPLE_QUICK") else 5)
args = parser.parse_args()
out = output_folder("refnet-char-lm-")

# -- the text, as ids (examples/pydoc_text.py: the help topics, the alphabet, the held-out tenth) ------


def tbptt_windows(stream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stream as BATCH rows of windows of T: inputs and next characters (n·BATCH, T), batch by batch.

    Row n of the text is stream[n·L : (n + 1)·L], L a multiple of T; rows b·BATCH … b·BATCH + BATCH − 1
    of the result are window b of every text row, so that in batches of BATCH without shuffling, row n
    of batch b + 1 continues row n of batch b (the characters after L·BATCH are dropped).
    """
    L = (len(stream) - 1) // (BATCH * T) * T  # characters per text row
    inputs = stream[: BATCH * L].reshape(BATCH, L // T, T)
    targets = stream[1 : BATCH * L + 1].reshape(BATCH, L // T, T)
    return inputs.transpose(1, 0, 2).reshape(-1, T), targets.transpose(1, 0, 2).reshape(-1, T)


X_train, Y_train = tbptt_windows(ids[:split])
X_val, Y_val = tbptt_windows(ids[split:])
print(
    f"{len(text):,} characters, {V} distinct; {len(X_train):,} training windows of {T} "
    f"({len(X_train) // BATCH} batches of {BATCH}), {len(X_val):,} validation"
)
print(f"unigram entropy of the training text: {unigram_bits:.3f} bits per character")

# -- the model -------------------------------------------------------------------------------------
f32 = np.float32
net = NeuralNetwork(
    [
        Embedding(V, EMBED, seed=1, dtype=f32),
        CELLS[args.cell](EMBED, HIDDEN, stateful=args.state == "carried", seed=2, dtype=f32),
        Dense(HIDDEN, V, seed=3, dtype=f32),  # logits of the next character at every position
    ],
    CrossEntropy(),
    seed=4,
    input_shape=(T,),
)
net.summary()
cell = net.layers[1]
carried = args.state == "carried"


def validation_bits(carry: bool) -> float:
    """The validation loss in bits per character, batch by batch in order: state carried, or zero per window."""
    stateful, cell.stateful = cell.stateful, carry
    cell.reset_state()
    losses = [net.evaluate(X_val[b : b + BATCH], Y_val[b : b + BATCH])["loss"] for b in range(0, len(X_val), BATCH)]
    cell.stateful = stateful
    cell.reset_state()
    return sum(losses) / len(losses) / math.log(2)  # batches of one size: the mean over every position


class TruncatedBPTT(Callback):
    """Resets the carried state at each epoch's start; after it, measures and prints validation bits/char.

    ``val_loss`` (in nats, for the curves) is the validation measured as the model was trained: with
    the carried state, or from zero in every window.
    """

    def on_epoch_begin(self, epoch: int) -> None:
        cell.reset_state()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        bits = {"carried": validation_bits(True), "zero": validation_bits(False)}
        logs["val_loss"] = bits[args.state] * math.log(2)
        print(
            f"epoch {epoch + 1}: train {logs['loss'] / math.log(2):.3f} bits/char; validation "
            f"{bits['carried']:.3f} bits/char with the state carried, {bits['zero']:.3f} from a zero state per window"
        )


start = time.perf_counter()
history = net.train(
    X_train,
    Y_train,
    epochs=args.epochs,
    optimizer=Adam(learning_rate=3e-3, clip_norm=1.0),
    batch_size=BATCH,
    shuffle=False,  # row n of batch b + 1 continues row n of batch b
    callbacks=[TruncatedBPTT()],
)
seconds = time.perf_counter() - start
val_bits = history.history["val_loss"][-1] / math.log(2)
print(f"{args.cell}, state {args.state}: {args.epochs} epochs in {seconds:.0f} s; validation {val_bits:.3f} bits/char")


# -- sampling --------------------------------------------------------------------------------------
def sample(prompt: str, length: int, temperature: float, rng: np.random.Generator) -> str:
    """``length`` characters after ``prompt``, each drawn from softmax(logits / temperature).

    A stateful model reads the prompt, then one character at a time: its state holds the context. A
    model trained from zero states reads the last T characters again for every new one.
    """
    context = [index[char] for char in prompt]
    cell.reset_state()
    logits = net.predict(np.array([context if carried else context[-T:]]))[0, -1]
    for _ in range(length):
        scaled = logits.astype(np.float64) / temperature
        p = np.exp(scaled - scaled.max())
        context.append(int(rng.choice(V, p=p / p.sum())))
        logits = net.predict(np.array([context[-1:] if carried else context[-T:]]))[0, -1]
    cell.reset_state()
    return "".join(alphabet[i] for i in context)


rng = np.random.default_rng(5)
samples = {temperature: sample("The ", 300, temperature, rng) for temperature in (0.5, 1.0)}
for temperature, generated in samples.items():
    print(f"\n--- sample at temperature {temperature} ---\n{generated}")

curves = out / f"char_lm_{args.cell}_{args.state}_curves.png"
history.plot(curves)
(out / f"char_lm_{args.cell}_{args.state}_samples.txt").write_text(
    "".join(f"--- temperature {temperature} ---\n{generated}\n\n" for temperature, generated in samples.items()),
    encoding="utf-8",
)
print(f"\nloss curves: {curves}")

assert val_bits < unigram_bits - 1.0, f"validation {val_bits:.3f} bits/char is not well below {unigram_bits:.3f}"
