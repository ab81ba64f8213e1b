"""Recurrent layers, RNN, LSTM and GRU, with backpropagation through time.

A sequence x of shape (N, T, D) (batch first) is read one step at a time, t = 1 … T, each step
from x_t (N, D) and the previous hidden state h_{t−1} (N, H), starting from h_0 = 0 (and c_0 = 0), or
from a state the user set or the last batch left (see "Carried state" below):

    RNN   h_t = tanh(x_t @ W_x + h_{t−1} @ W_h + b)
    LSTM  z = x_t @ W_x + h_{t−1} @ W_h + b = [i | f | g | o]  (four blocks of H, PyTorch's order)
          i, f, o = σ(·);  g = tanh(·);  c_t = f ⊙ c_{t−1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
    GRU   a = x_t @ W_x + b_x = [a_r | a_z | a_n];  u = h_{t−1} @ W_h + b_h = [u_r | u_z | u_n]
          r = σ(a_r + u_r);  z = σ(a_z + u_z);  n = tanh(a_n + r ⊙ u_n);  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

The output is every h_t, (N, T, H), or with ``return_sequences=False`` the last one, h_T (N, H).

Backpropagation through time runs the same steps backwards, t = T … 1, carrying dL/dh_t (and
dL/dc_t): the gradient reaching h_t is what the output sends it plus what step t + 1 sends back
through h_t @ W_h. Each step's backward gives its pre-activation gradient dz_t; the weights are
shared by every step, so their gradients are sums over t:

    dW_x = Σ_t x_tᵀ @ dz_t      dW_h = Σ_t h_{t−1}ᵀ @ dz_t      db = Σ_t Σ_n dz_t      dx_t = dz_t @ W_xᵀ

and what the loop carries past t = 1 is dL/dh_0 (and dL/dc_0): the gradient of the initial state.

Carried state (truncated backpropagation through time). ``set_initial_state(h_0[, c_0])`` makes
every forward start from the given state, and ``initial_state_gradient()`` returns dL/dh_0 (and
dL/dc_0) after a backward (PyTorch's h0/c0 arguments). With ``stateful=True`` each forward, in training
or not, leaves its final state h_T (and c_T) as the next forward's initial state (Keras's
``stateful=True``): row n of the next batch continues row n of this one. The carried state is a
copy, a constant to the next window's backward: gradients stop at the window boundary (PyTorch's
``h.detach()``). ``reset_state()`` goes back to the zero state (Keras's ``reset_states()``); a batch of
another size than the carried state's is a ShapeError until then. The state is not saved with the
model: a loaded model starts from zeros.

Speed comes from around the formulas, not from changing them: the sequence is stored time-major
(T, N, ·) so each step reads one contiguous block; x_t @ W_x for every t is one matrix product before
the loop (it does not depend on h), the four (three) gate blocks are one product with W_h per step,
and the sums over t above are single matrix products after the loop. Layouts are PyTorch's
transposed, so weights port to ``torch.nn.RNN``/``LSTM``/``GRU`` by transposing (an LSTM's b is
PyTorch's b_ih + b_hh).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike

from refnet.base import Array, Layer, Shape
from refnet.errors import CallOrderError, ShapeError
from refnet.support.checks import as_array, cast_finite, check_dtype, check_finite, check_int, make_rng

__all__ = ["GRU", "LSTM", "RNN", "Recurrent", "sigmoid"]


def sigmoid(z: Array, out: Array | None = None) -> Array:
    """σ(z) = 1/(1 + e^(−z)), computed as (1 + tanh(z/2))/2: the same function (1 − 2/(1 + e^z) = tanh(z/2)).

    One transcendental and no overflow for any z (the limits 0 and 1 are exact); the gates run it
    every step, where it is several times faster than refnet's ``Sigmoid`` (exp, abs, where, divide:
    ten times in float32). The two agree to rounding (tests/test_recurrent.py). Writes into ``out``.
    """
    y = np.multiply(z, 0.5, out=out)
    np.tanh(y, out=y)
    y += 1
    y *= 0.5
    return y


RECURRENT_INITS = ("uniform", "orthogonal")


# -- the math of one step, forward and backward -----------------------------------------------


def rnn_step(a: Array, h_prev: Array, W_h: Array) -> Array:
    """h = tanh(a + h_prev @ W_h), a = x_t @ W_x + b.  Shapes: a (N, H), h_prev (N, H), W_h (H, H) -> h (N, H)."""
    return np.tanh(a + h_prev @ W_h)


def rnn_step_backward(dh: Array, h: Array, W_h: Array) -> tuple[Array, Array]:
    """dz = dh ⊙ (1 − h²);  dh_prev = dz @ W_hᵀ.  Shapes: dh, h (N, H) -> dz (N, H), dh_prev (N, H)."""
    dz = dh * (1 - h * h)
    return dz, dz @ W_h.T


def lstm_step(a: Array, h_prev: Array, c_prev: Array, W_h: Array) -> tuple[Array, Array, Array, Array]:
    """One LSTM step, a = x_t @ W_x + b:

        z = a + h_prev @ W_h = [i | f | g | o];  i, f, o = σ(·), g = tanh(·)
        c = f ⊙ c_prev + i ⊙ g;  h = o ⊙ tanh(c)

    Shapes: a (N, 4H), h_prev, c_prev (N, H), W_h (H, 4H) -> h, c (N, H), gates (N, 4H) holding the
    activated [i | f | g | o], tanh_c (N, H).
    """
    H = h_prev.shape[1]
    gates = a + h_prev @ W_h
    sigmoid(gates[:, : 2 * H], out=gates[:, : 2 * H])  # i, f
    np.tanh(gates[:, 2 * H : 3 * H], out=gates[:, 2 * H : 3 * H])  # g
    sigmoid(gates[:, 3 * H :], out=gates[:, 3 * H :])  # o
    i, f, g, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    return o * tanh_c, c, gates, tanh_c


def lstm_step_backward(
    dh: Array, dc: Array, gates: Array, c_prev: Array, tanh_c: Array, W_h: Array, dz: Array
) -> tuple[Array, Array]:
    """One LSTM step backward, from dh = dL/dh_t and dc = dL/dc_t through step t + 1:

        dc ← dc + dh ⊙ o ⊙ (1 − tanh²(c))             (c reaches the loss through h and through c_{t+1})
        do = dh ⊙ tanh(c);  di = dc ⊙ g;  df = dc ⊙ c_prev;  dg = dc ⊙ i
        dz = [di ⊙ i(1 − i) | df ⊙ f(1 − f) | dg ⊙ (1 − g²) | do ⊙ o(1 − o)]
        dh_prev = dz @ W_hᵀ;  dc_prev = dc ⊙ f

    Shapes: dh, dc, c_prev, tanh_c (N, H), gates (N, 4H) [i | f | g | o], W_h (H, 4H); dz (N, 4H) is
    written in place; returns dh_prev, dc_prev (N, H).
    """
    H = dh.shape[1]
    i, f, g, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    do = dh * tanh_c
    di, df, dg = dc * g, dc * c_prev, dc * i
    dz[:, :H] = di * i * (1 - i)
    dz[:, H : 2 * H] = df * f * (1 - f)
    dz[:, 2 * H : 3 * H] = dg * (1 - g * g)
    dz[:, 3 * H :] = do * o * (1 - o)
    return dz @ W_h.T, dc * f


def gru_step(a: Array, h_prev: Array, W_h: Array, b_h: Array) -> tuple[Array, Array, Array]:
    """One GRU step (PyTorch's formulation), a = x_t @ W_x + b_x = [a_r | a_z | a_n]:

        u = h_prev @ W_h + b_h = [u_r | u_z | u_n]
        r = σ(a_r + u_r);  z = σ(a_z + u_z);  n = tanh(a_n + r ⊙ u_n);  h = (1 − z) ⊙ n + z ⊙ h_prev

    Shapes: a (N, 3H), h_prev (N, H), W_h (H, 3H), b_h (3H,) -> h (N, H), gates (N, 3H) holding
    [r | z | n], u_n (N, H).
    """
    H = h_prev.shape[1]
    u = h_prev @ W_h + b_h
    gates = np.empty_like(a)
    sigmoid(a[:, : 2 * H] + u[:, : 2 * H], out=gates[:, : 2 * H])  # r, z
    r, z, u_n = gates[:, :H], gates[:, H : 2 * H], u[:, 2 * H :]
    n = np.tanh(a[:, 2 * H :] + r * u_n, out=gates[:, 2 * H :])
    return (1 - z) * n + z * h_prev, gates, u_n


def gru_step_backward(dh: Array, gates: Array, u_n: Array, h_prev: Array, W_h: Array, da: Array, du: Array) -> Array:
    """One GRU step backward, from dh = dL/dh_t:

        dn = dh ⊙ (1 − z);  dz = dh ⊙ (h_prev − n)
        dn_pre = dn ⊙ (1 − n²);  dr = dn_pre ⊙ u_n
        da = [dr ⊙ r(1 − r) | dz ⊙ z(1 − z) | dn_pre]           (the gradient of a = x_t @ W_x + b_x)
        du = [dr ⊙ r(1 − r) | dz ⊙ z(1 − z) | dn_pre ⊙ r]       (the gradient of u = h_prev @ W_h + b_h)
        dh_prev = dh ⊙ z + du @ W_hᵀ

    Shapes: dh, u_n, h_prev (N, H), gates (N, 3H) [r | z | n], W_h (H, 3H); da, du (N, 3H) are written
    in place; returns dh_prev (N, H).
    """
    H = dh.shape[1]
    r, z, n = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
    dn_pre = dh * (1 - z) * (1 - n * n)
    da[:, :H] = dn_pre * u_n * r * (1 - r)
    da[:, H : 2 * H] = dh * (h_prev - n) * z * (1 - z)
    da[:, 2 * H :] = dn_pre
    du[:, : 2 * H] = da[:, : 2 * H]
    du[:, 2 * H :] = dn_pre * r
    return dh * z + du @ W_h.T


# -- the layers: a loop over t forward, a loop from T down to 1 backward -------------------------


class Recurrent(Layer):
    """What RNN, LSTM and GRU share: the weights, the (N, T, D) boundary, return_sequences, config.

    Subclasses set ``blocks`` (gate blocks of H in W_x, W_h: 1, 4, 3), ``bias_names`` and ``state_names``
    (("h",), or ("h", "c") for the LSTM), and write ``sequence_forward(x, state) -> h`` and
    ``sequence_backward(grad_h) -> grad_x`` on time-major arrays: x (T, N, D), h and grad_h (T, N, H),
    grad_h[t − 1] = dL/dh_t as the layer's output sends it, state the initial (h_0[, c_0]), each (N, H);
    ``sequence_backward`` leaves dL/dh_0 (and dL/dc_0) in ``_grad_state``.

    Args:
        input_size: D, the width of each x_t.
        hidden_size: H, the width of each h_t.
        return_sequences: True: output every h_t, (N, T, H); False: only h_T, (N, H).
        stateful: True: every forward's final state (h_T[, c_T]) is the next forward's initial state, a
            constant to its backward (truncated BPTT); ``reset_state()`` sets it back to zeros.
        recurrent_init: ``'uniform'`` (PyTorch's U(−1/√H, 1/√H), as every other weight and bias) or
            ``'orthogonal'`` (each H × H gate block of W_h an orthogonal matrix, Saxe et al. 2014).
        rng, seed: where the initial weights come from (a Generator, or a seed for one).
        dtype: float64 (default) or float32, end to end: weights, states, outputs and gradients.
    """

    blocks: ClassVar[int] = 1
    bias_names: ClassVar[tuple[str, ...]] = ("b",)
    state_names: ClassVar[tuple[str, ...]] = ("h",)
    #: h_0 … h_T of the last forward, (T + 1, N, H): set by ``sequence_forward``.
    _h: Array

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        return_sequences: bool = True,
        *,
        stateful: bool = False,
        recurrent_init: str = "uniform",
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        if not isinstance(return_sequences, bool):
            raise TypeError(f"{name}: return_sequences must be True or False, got {return_sequences!r}")
        self.return_sequences = return_sequences
        if not isinstance(stateful, bool):
            raise TypeError(f"{name}: stateful must be True or False, got {stateful!r}")
        self.stateful = stateful
        if recurrent_init not in RECURRENT_INITS:
            valid = ", ".join(repr(init) for init in RECURRENT_INITS)
            raise ValueError(f"{name}: unknown recurrent_init {recurrent_init!r}; valid names are {valid}")
        self.recurrent_init = recurrent_init
        self.params = self._initial_params(make_rng(rng, seed, name), check_dtype(dtype))
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.remember_draw(rng, seed)  # a network seed redraws the weights if no rng or seed chose them (adopt_rng)
        self._x: Array | None = None
        #: The state (h_0[, c_0]), each (N, H), the next forward starts from; None: zeros of any N.
        self.initial_state: tuple[Array, ...] | None = None
        #: True while ``initial_state`` is what the last forward left (stateful), not what the user set.
        self._carried = False
        self._grad_state: tuple[Array, ...] | None = None

    def _initial_params(self, rng: np.random.Generator, dtype: np.dtype[Any]) -> dict[str, Array]:
        """W_x (D, kH), W_h (H, kH), biases (kH,) ~ U(−1/√H, 1/√H), k = ``blocks``; W_h's blocks orthogonal if asked."""
        D, H, k = self.input_size, self.hidden_size, self.blocks
        bound = 1.0 / np.sqrt(H)
        params = {
            "W_x": rng.uniform(-bound, bound, size=(D, k * H)),
            "W_h": rng.uniform(-bound, bound, size=(H, k * H)),
            **{name: rng.uniform(-bound, bound, size=k * H) for name in self.bias_names},
        }
        if self.recurrent_init == "orthogonal":
            params["W_h"] = np.concatenate([orthogonal(H, rng) for _ in range(k)], axis=1)
        return {name: np.ascontiguousarray(value, dtype=dtype) for name, value in params.items()}

    def forward(self, x: Array, training: bool = True) -> Array:
        """y = every h_t (N, T, H), or h_T (N, H) without return_sequences, from x (N, T, D) and h_0.

        h_0 (and c_0) is ``initial_state``, zeros when None; stateful: the final state becomes it.
        """
        x_time_major = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, N, D)
        self._x = x_time_major
        h = self.sequence_forward(x_time_major, self.start_state(x.shape[0]))  # (T, N, H)
        if self.stateful:  # copies: the next window's h_0 is a constant, its gradient stops there
            self.initial_state, self._carried = self.final_state(), True
        return np.ascontiguousarray(h.transpose(1, 0, 2)) if self.return_sequences else h[-1].copy()

    def backward(self, grad_y: Array) -> Array:
        """grad_x (N, T, D) from grad_y = dL/dy, (N, T, H) or (N, H); fills grads (sums over t).

        Without return_sequences only h_T reaches the loss: dL/dh_t = 0 from the output for t < T.
        Skips grad_x while ``input_grad_needed`` is False (the network's first layer).
        """
        assert self._x is not None  # set by forward (the interface checks the order)
        T, N, _ = self._x.shape
        if self.return_sequences:
            grad_h = grad_y.transpose(1, 0, 2)  # (T, N, H)
        else:
            grad_h = np.zeros((T, N, self.hidden_size), dtype=grad_y.dtype)
            grad_h[-1] = grad_y
        grad_x = self.sequence_backward(grad_h)
        if grad_x is None:
            return grad_h  # read by nobody (see Layer.backward_params)
        return np.ascontiguousarray(grad_x.transpose(1, 0, 2))

    def sequence_forward(self, x: Array, state: tuple[Array, ...]) -> Array:
        """h (T, N, H) from x (T, N, D), time-major, and state = (h_0[, c_0]); caches what backward needs."""
        raise NotImplementedError

    def sequence_backward(self, grad_h: Array) -> Array | None:
        """grad_x (T, N, D) from grad_h (T, N, H) (None while ``input_grad_needed`` is False); fills grads."""
        raise NotImplementedError

    # -- the state at the window boundary: what h_0 (and c_0) is, and its gradient ------------
    def start_state(self, N: int) -> tuple[Array, ...]:
        """The initial state (h_0[, c_0]) for a batch of N sequences: ``initial_state``, or zeros (N, H)."""
        if self.initial_state is None:
            dtype = self.params["W_x"].dtype
            return tuple(np.zeros((N, self.hidden_size), dtype=dtype) for _ in self.state_names)
        rows = self.initial_state[0].shape[0]
        if rows != N:
            name = type(self).__name__
            if self._carried:
                raise ShapeError(
                    f"{name}(stateful=True) carries the state of the last batch, {rows} sequences, but this batch "
                    f"has {N}: row n of a batch continues row n of the last one. Call reset_state() before a batch "
                    "of another size (e.g. at the start of each epoch), and make every batch the same size"
                )
            raise ShapeError(
                f"{name}: the initial state set by set_initial_state has {rows} rows, but x has {N} sequences: "
                "set a state of as many rows, or call reset_state() for zeros"
            )
        return self.initial_state

    def final_state(self) -> tuple[Array, ...]:
        """(h_T[, c_T]) of the last forward, each (N, H) (copies): where a following window starts."""
        if self._x is None:
            raise CallOrderError(f"{type(self).__name__}.final_state called before forward: call forward(x) first")
        return (self._h[-1].copy(),)

    def set_initial_state(self, h: Any, c: Any = None) -> None:
        """Start every following forward from h_0 = h (and c_0 = c, the LSTM's cell state), each (N, H).

        Copied, in the layer's dtype. With ``stateful=True`` the next forward replaces it by its final
        state. ``reset_state()`` goes back to zeros.
        """
        name = type(self).__name__
        given = {"h": h, "c": c}
        if c is not None and "c" not in self.state_names:
            raise TypeError(f"{name} has no cell state: set_initial_state takes h only")
        if c is None and "c" in self.state_names:
            raise TypeError(f"{name}: set_initial_state needs both h_0 and c_0 (the cell state)")
        dtype = self.params["W_x"].dtype
        states = []
        for key in self.state_names:
            array = as_array(given[key], f"{name}: initial state {key}")
            if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != self.hidden_size:
                raise ShapeError(
                    f"{name}: initial state {key} must have shape (N, {self.hidden_size}) (N sequences, "
                    f"hidden_size {self.hidden_size}), got {array.shape}"
                )
            check_finite(array, f"{name}: initial state {key}")
            states.append(np.array(cast_finite(array, dtype, f"{name}: initial state {key}"), dtype=dtype))
        if len(states) == 2 and states[0].shape != states[1].shape:
            raise ShapeError(f"{name}: h_0 and c_0 must have one shape, got {states[0].shape} and {states[1].shape}")
        self.initial_state, self._carried = tuple(states), False

    def reset_state(self) -> None:
        """Back to the zero initial state (Keras's ``reset_states()``): the next forward takes any batch size."""
        self.initial_state, self._carried = None, False

    def initial_state_gradient(self) -> tuple[Array, ...]:
        """(dL/dh_0[, dL/dc_0]) of the last backward, each (N, H): what BPTT carries past t = 1 (a copy).

        With a carried state it is dropped (truncated BPTT); hand it to whatever produced h_0 otherwise.
        """
        if self._grad_state is None:
            raise CallOrderError(
                f"{type(self).__name__}.initial_state_gradient called before backward: call backward(grad_y) first"
            )
        return tuple(grad.copy() for grad in self._grad_state)

    def weight_gradients(self, x: Array, h_prev: Array, dz: Array, da: Array | None = None) -> Array | None:
        """The sums over t of the shared weights' gradients, each one matrix product over all T·N rows:

            dW_x = Σ_t x_tᵀ @ da_t;  dW_h = Σ_t h_{t−1}ᵀ @ dz_t;  biases Σ_t Σ_n;  grad_x_t = da_t @ W_xᵀ

        (da = dz but in the GRU, whose b_x and b_h get different gradients). Shapes: x (T, N, D),
        h_prev (T, N, H) = [h_0 … h_{T−1}], dz, da (T, N, kH). Returns grad_x (T, N, D), or None when
        nobody reads it.
        """
        da = dz if da is None else da
        T, N, D = x.shape
        da_rows, dz_rows = da.reshape(T * N, -1), dz.reshape(T * N, -1)
        np.matmul(x.reshape(T * N, D).T, da_rows, out=self.grads["W_x"])  # in place: the optimizer holds views
        np.matmul(h_prev.reshape(T * N, -1).T, dz_rows, out=self.grads["W_h"])
        if self.bias_names == ("b",):
            da_rows.sum(axis=0, out=self.grads["b"])
        else:
            da_rows.sum(axis=0, out=self.grads["b_x"])
            dz_rows.sum(axis=0, out=self.grads["b_h"])
        if not self.input_grad_needed:
            return None
        return (da_rows @ self.params["W_x"].T).reshape(T, N, D)

    # -- the boundary: the interface checks x and grad_y against output_shape (see refnet.base) --
    @property
    def in_features(self) -> int:
        return self.input_size

    def output_features(self, in_features: int | None) -> int:
        return self.hidden_size

    def output_shape(self, shape: Shape) -> Shape:
        """Per sample: (T, D) -> (T, H), or (H,) without return_sequences."""
        if len(shape) != 2 or shape[0] < 1 or shape[1] != self.input_size:
            hint = ""
            if len(shape) == 1:
                hint = (
                    ": one vector per sample, not a sequence (X of shape (N, T, D) is a batch of sequences; "
                    "a recurrent layer before this one needs return_sequences=True)"
                )
            raise ShapeError(
                f"{type(self).__name__} expects sequences of shape (T, {self.input_size}) per sample, got {shape}{hint}"
            )
        return (shape[0], self.hidden_size) if self.return_sequences else (self.hidden_size,)

    # -- bookkeeping: a network seed taking over, copies, config ------------------------------
    def redraw(self, rng: np.random.Generator) -> None:
        """Every weight and bias drawn again from ``rng``: a network seed taking over."""
        for name, value in self._initial_params(rng, self.params["W_x"].dtype).items():
            np.copyto(self.params[name], value)

    def get_config(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "return_sequences": self.return_sequences,
            "stateful": self.stateful,
            "recurrent_init": self.recurrent_init,
            "dtype": str(self.params["W_x"].dtype),
        }

    def __repr__(self) -> str:
        defaults = {
            "return_sequences": True,
            "stateful": False,
            "recurrent_init": "uniform",
            "forget_bias": None,
            "dtype": "float64",
        }
        config = self.get_config()
        options = "".join(
            f", {key}={config[key]!r}" for key in defaults if key in config and config[key] != defaults[key]
        )
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{options})"

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """W_x (D, kH), W_h (H, kH), each bias (kH,); no state (a carried h_T is not saved)."""
        D = check_int(config.get("input_size"), "input_size")
        H = check_int(config.get("hidden_size"), "hidden_size")
        k = cls.blocks
        return {"W_x": (D, k * H), "W_h": (H, k * H), **{name: (k * H,) for name in cls.bias_names}}, {}


class RNN(Recurrent):
    """Elman RNN: h_t = tanh(x_t @ W_x + h_{t−1} @ W_h + b), h_0 = 0.

    Params ``W_x`` (D, H), ``W_h`` (H, H), ``b`` (H,). See ``Recurrent`` for the arguments.
    """

    def sequence_forward(self, x: Array, state: tuple[Array, ...]) -> Array:
        """a = x @ W_x + b for every t at once; h_t = rnn_step(a_t, h_{t−1}), t = 1 … T.  x (T, N, D) -> (T, N, H)."""
        W_x, W_h, b = self.params["W_x"], self.params["W_h"], self.params["b"]
        T, N, D = x.shape
        a = (x.reshape(T * N, D) @ W_x).reshape(T, N, -1) + b  # (T, N, H)
        h = np.empty((T + 1, N, self.hidden_size), dtype=W_x.dtype)  # h[t] = h_t
        (h[0],) = state  # h_0
        for t in range(1, T + 1):
            h[t] = rnn_step(a[t - 1], h[t - 1], W_h)
        self._h = h
        return h[1:]

    def sequence_backward(self, grad_h: Array) -> Array | None:
        """For t = T … 1: dh = grad_h_t + dh_next;  dz_t, dh_next = rnn_step_backward(dh, h_t); then the sums over t."""
        assert self._x is not None
        h, W_h = self._h, self.params["W_h"]
        T, N, H = grad_h.shape
        dz = np.empty((T, N, H), dtype=h.dtype)
        dh_next: Array = np.zeros((N, H), dtype=h.dtype)  # dL/dh_T through step T + 1: there is none
        for t in range(T, 0, -1):
            dh = grad_h[t - 1] + dh_next
            dz[t - 1], dh_next = rnn_step_backward(dh, h[t], W_h)
        self._grad_state = (dh_next,)  # dL/dh_0
        return self.weight_gradients(self._x, h[:-1], dz)


class LSTM(Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), gates [i, f, g, o] as PyTorch's.

    Params ``W_x`` (D, 4H), ``W_h`` (H, 4H), ``b`` (4H,); the block of gate k is columns k·H … (k+1)·H − 1.
    ``forget_bias``: None keeps PyTorch's uniform draw for b_f; a number sets every b_f to it (1.0 is
    the usual advice, Jozefowicz et al. 2015: the cell remembers by default early in training).
    See ``Recurrent`` for the other arguments.
    """

    blocks = 4
    state_names = ("h", "c")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        return_sequences: bool = True,
        *,
        stateful: bool = False,
        forget_bias: float | None = None,
        recurrent_init: str = "uniform",
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        if forget_bias is not None and (isinstance(forget_bias, bool) or not np.isfinite(forget_bias)):
            raise ValueError(f"LSTM: forget_bias must be None or a finite number, got {forget_bias!r}")
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        super().__init__(
            input_size,
            hidden_size,
            return_sequences,
            stateful=stateful,
            recurrent_init=recurrent_init,
            rng=rng,
            seed=seed,
            dtype=dtype,
        )

    def _initial_params(self, rng: np.random.Generator, dtype: np.dtype[Any]) -> dict[str, Array]:
        params = super()._initial_params(rng, dtype)
        if self.forget_bias is not None:
            H = self.hidden_size
            params["b"][H : 2 * H] = self.forget_bias
        return params

    def sequence_forward(self, x: Array, state: tuple[Array, ...]) -> Array:
        """a = x @ W_x + b for every t at once; h_t, c_t = lstm_step(a_t, h_{t−1}, c_{t−1}), t = 1 … T."""
        W_x, W_h, b = self.params["W_x"], self.params["W_h"], self.params["b"]
        T, N, D = x.shape
        H = self.hidden_size
        a = (x.reshape(T * N, D) @ W_x).reshape(T, N, 4 * H) + b  # (T, N, 4H)
        h = np.empty((T + 1, N, H), dtype=W_x.dtype)  # h[t] = h_t
        c = np.empty((T + 1, N, H), dtype=W_x.dtype)  # c[t] = c_t
        h[0], c[0] = state  # h_0, c_0
        gates = np.empty((T, N, 4 * H), dtype=W_x.dtype)  # activated [i | f | g | o] of every step
        tanh_c = np.empty((T, N, H), dtype=W_x.dtype)
        for t in range(1, T + 1):
            h[t], c[t], gates[t - 1], tanh_c[t - 1] = lstm_step(a[t - 1], h[t - 1], c[t - 1], W_h)
        self._h, self._c, self._gates, self._tanh_c = h, c, gates, tanh_c
        return h[1:]

    def sequence_backward(self, grad_h: Array) -> Array | None:
        """For t = T … 1: dh = grad_h_t + dh_next;  dz_t, dh_next, dc_next = lstm_step_backward(dh, dc_next, ...)."""
        assert self._x is not None
        h, c, gates, tanh_c, W_h = self._h, self._c, self._gates, self._tanh_c, self.params["W_h"]
        T, N, H = grad_h.shape
        dz = np.empty((T, N, 4 * H), dtype=h.dtype)
        dh_next: Array = np.zeros((N, H), dtype=h.dtype)  # dL/dh_T through step T + 1: there is none
        dc_next: Array = np.zeros((N, H), dtype=h.dtype)  # dL/dc_T likewise
        for t in range(T, 0, -1):
            dh = grad_h[t - 1] + dh_next
            dh_next, dc_next = lstm_step_backward(dh, dc_next, gates[t - 1], c[t - 1], tanh_c[t - 1], W_h, dz[t - 1])
        self._grad_state = (dh_next, dc_next)  # dL/dh_0, dL/dc_0
        return self.weight_gradients(self._x, h[:-1], dz)

    def cell_states(self) -> Array:
        """c_t for t = 1 … T of the last forward, (N, T, H) (a copy): the memory the gates wrote."""
        if self._x is None:
            raise CallOrderError("LSTM.cell_states called before forward: call forward(x) first")
        return np.ascontiguousarray(self._c[1:].transpose(1, 0, 2))

    def final_state(self) -> tuple[Array, ...]:
        """(h_T, c_T) of the last forward, each (N, H) (copies): where a following window starts."""
        (h_T,) = super().final_state()
        return h_T, self._c[-1].copy()

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "forget_bias": self.forget_bias}


class GRU(Recurrent):
    """Gated recurrent unit (Cho et al., 2014) in PyTorch's formulation, blocks [r, z, n].

    Params ``W_x`` (D, 3H), ``W_h`` (H, 3H), ``b_x`` (3H,), ``b_h`` (3H,): the reset gate multiplies
    u_n = h_{t−1} @ W_h,n + b_h,n, bias included, so b_x and b_h are not one bias. See ``Recurrent``.
    """

    blocks = 3
    bias_names = ("b_x", "b_h")

    def sequence_forward(self, x: Array, state: tuple[Array, ...]) -> Array:
        """a = x @ W_x + b_x for every t at once; h_t = gru_step(a_t, h_{t−1}), t = 1 … T."""
        W_x, W_h, b_x, b_h = self.params["W_x"], self.params["W_h"], self.params["b_x"], self.params["b_h"]
        T, N, D = x.shape
        H = self.hidden_size
        a = (x.reshape(T * N, D) @ W_x).reshape(T, N, 3 * H) + b_x  # (T, N, 3H)
        h = np.empty((T + 1, N, H), dtype=W_x.dtype)  # h[t] = h_t
        (h[0],) = state  # h_0
        gates = np.empty((T, N, 3 * H), dtype=W_x.dtype)  # [r | z | n] of every step
        u_n = np.empty((T, N, H), dtype=W_x.dtype)
        for t in range(1, T + 1):
            h[t], gates[t - 1], u_n[t - 1] = gru_step(a[t - 1], h[t - 1], W_h, b_h)
        self._h, self._gates, self._u_n = h, gates, u_n
        return h[1:]

    def sequence_backward(self, grad_h: Array) -> Array | None:
        """For t = T … 1: dh = grad_h_t + dh_next;  da_t, du_t, dh_next = gru_step_backward(dh, ...)."""
        assert self._x is not None
        h, gates, u_n, W_h = self._h, self._gates, self._u_n, self.params["W_h"]
        T, N, H = grad_h.shape
        da = np.empty((T, N, 3 * H), dtype=h.dtype)  # gradient of a_t = x_t @ W_x + b_x
        du = np.empty((T, N, 3 * H), dtype=h.dtype)  # gradient of u_t = h_{t−1} @ W_h + b_h
        dh_next: Array = np.zeros((N, H), dtype=h.dtype)  # dL/dh_T through step T + 1: there is none
        for t in range(T, 0, -1):
            dh = grad_h[t - 1] + dh_next
            dh_next = gru_step_backward(dh, gates[t - 1], u_n[t - 1], h[t - 1], W_h, da[t - 1], du[t - 1])
        self._grad_state = (dh_next,)  # dL/dh_0
        return self.weight_gradients(self._x, h[:-1], du, da)


def orthogonal(size: int, rng: np.random.Generator) -> Array:
    """A random orthogonal (size, size) matrix Q (QᵀQ = I): Q of the QR of a Gaussian matrix, columns signed by diag(R).

    The signs make Q uniformly distributed over the orthogonal matrices (Mezzadri, 2007).
    """
    Q, R = np.linalg.qr(rng.standard_normal((size, size)))
    return Q * np.sign(np.diag(R))
