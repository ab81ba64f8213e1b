"""Optimizers: SGD (with momentum and Nesterov), Adam (with decoupled weight decay, amsgrad), RMSProp, AdaGrad.

State is kept per parameter array, keyed by the layer object and the parameter name, so
every layer has its own moments and two layers' ``W`` can never share them.

SGD:   v ← μ·v + g;   θ ← θ − lr·v                  (μ = 0: θ ← θ − lr·g)
       nesterov:      θ ← θ − lr·(g + μ·v)
Adam:  t ← t + 1
       m ← β1·m + (1 − β1)·g;     v ← β2·v + (1 − β2)·g²
       m̂ = m / (1 − β1ᵗ);         v̂ = v / (1 − β2ᵗ)
       θ ← θ − lr·m̂ / (√v̂ + ε)                     (ε outside the root)
       weight_decay (AdamW): θ ← θ·(1 − lr·wd) before the Adam step
       amsgrad:       v_max ← max(v_max, v);  v̂ = v_max / (1 − β2ᵗ)
RMSProp: v ← ρ·v + (1 − ρ)·g²;  θ ← θ − lr·g/(√v + ε)
       momentum:      b ← μ·b + g/(√v + ε);  θ ← θ − lr·b
AdaGrad: G ← G + g²;  θ ← θ − lr·g/(√G + ε)
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import numpy as np

from refnet.base import Array, Layer
from refnet.support.checks import check_positive, check_unit_interval
from refnet.support.packing import Member, Packed, ParamState, Single, blocks, packable

#: What a state slot holds: an array shaped like its parameter, or a step counter.
SlotKind = Literal["array", "counter"]


class Optimizer:
    """Base class: ``step(layers)`` updates every parameter from its gradient.

    A subclass writes only the math: ``update(theta, g, state)``, the formula for one
    parameter, in place (``theta -= ...``, ``m *= beta1`` or ``m[:] = ...``), and declares its state in
    ``slots``. Around it, the base class keeps the state per parameter, creates each slot
    (zeros shaped like the parameter; counters at 0, advanced by one before every update),
    clips gradients, and runs the formula on cache-sized blocks of all parameters packed
    into one buffer per dtype (``refnet.support.packing``): the same numbers as running it
    on each array, elementwise, with a fraction of the NumPy calls and memory traffic.

    Args:
        learning_rate: the step size lr (> 0); callbacks may change it between steps.
        clip_norm: if given, gradients are scaled by ``clip_norm / max(norm, clip_norm)``
            where ``norm`` is the global L2 norm over all parameters of the step.
    """

    #: True when ``update`` treats every element on its own (no statistic over a whole array),
    #: so that the parameters of many arrays may be updated as one flat array (``pack``).
    #: A subclass whose update is not elementwise sets it to False.
    elementwise = False

    @property
    def slots(self) -> dict[str, SlotKind]:
        """The state kept per parameter: slot name -> ``"array"`` (shaped like the parameter) or
        ``"counter"`` (steps taken). What a saved file holds for each parameter."""
        return {}

    def __init__(self, learning_rate: float, clip_norm: float | None = None) -> None:
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.clip_norm = None if clip_norm is None else check_positive(clip_norm, "clip_norm")
        self._state: weakref.WeakKeyDictionary[Layer, dict[str, ParamState]] = weakref.WeakKeyDictionary()
        # What the last step updated (see ``pack``), and for each parameter in order, its unit and index there.
        self._plan: list[Packed | Single] = []
        self._plan_entries: list[tuple[Packed | Single, int]] = []
        #: ``in_dtype_of``'s last conversion per dtype: (the Python values, their scalars of that dtype).
        self._scalars: dict[np.dtype[Any], tuple[tuple[float, ...], tuple[Any, ...]]] = {}

    def set_learning_rate(self, learning_rate: float, name: str = "learning_rate") -> None:
        """Set the learning rate as training state: any finite number >= 0.

        The constructor refuses 0 (a run that cannot learn is a mistake), but a schedule may
        bring the rate down to 0 (``cosine_decay(..., min_lr=0)`` freezes the last epochs),
        and a file saved then must restore it: as state, 0 is a rate like any other.
        """
        self.learning_rate = check_positive(learning_rate, name, allow_zero=True)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Rebuild an optimizer from ``get_config()``: the hyper-parameters through the
        constructor's checks, the learning rate as state (``set_learning_rate``: 0 allowed)."""
        if "learning_rate" not in config:
            raise TypeError(f"a {cls.__name__} config needs a learning_rate")
        optimizer = cls(**{**config, "learning_rate": 1.0})  # a rate the constructor takes; the saved one follows
        optimizer.set_learning_rate(config["learning_rate"])
        return optimizer

    def state_problem(self, state: ParamState) -> str | None:
        """What is wrong with one parameter's state (say, from a file) beyond shape and
        finiteness, or None: values ``update`` could never have written."""
        return None

    # -- copy.deepcopy and pickle --------------------------------------------------
    # The state is keyed by weak references to the layers (an optimizer does not keep a
    # discarded layer alive), and weak references can neither be pickled nor deep-copied
    # onto the copied layers. For a copy, the state is written out as (layer, state) pairs:
    # pickle and deepcopy copy each layer once, so inside a copied network the pairs name
    # the copied layers, and the copy continues bit for bit where the original stands.
    # (An optimizer copied on its own, without its layers, keeps no state: nothing else
    # holds the copied layers.)
    def __getstate__(self) -> dict[str, Any]:
        fields = dict(self.__dict__)
        fields["_state"] = list(self._state.items())
        fields["_plan"], fields["_plan_entries"] = [], []  # the packing of the last step, rebuilt on the next
        fields["_scalars"] = {}  # rebuilt on the next step too
        return fields

    def __setstate__(self, fields: dict[str, Any]) -> None:
        pairs = fields.pop("_state")
        self.__dict__.update(fields)
        self._state = weakref.WeakKeyDictionary(pairs)
        self._scalars = {}  # (absent from optimizers pickled before it existed)

    def state_for(self, layer: Layer, name: str) -> ParamState:
        """The state of one parameter array (created empty on first use)."""
        return self._state.setdefault(layer, {}).setdefault(name, {})

    def _parameters(self, layers: Iterable[Layer]) -> Iterator[tuple[Layer, str, Array, Array]]:
        for layer in trainable(layers):
            for name, param in layer.params.items():
                yield layer, name, param, layer.grads[name]

    def global_norm(self, layers: Iterable[Layer]) -> float:
        """sqrt(Σ over all parameters of Σ g²): the norm gradient clipping compares (frozen layers left out)."""
        total = 0.0
        for _, _, _, grad in self._parameters(layers):
            flat = grad.ravel()
            total += float(flat @ flat)
        return math.sqrt(total)

    def step(self, layers: Iterable[Layer]) -> None:
        """Apply one update to every parameter of ``layers``, in place; a frozen layer (``trainable`` False)
        is left exactly as it is."""
        if isinstance(layers, Layer):
            raise TypeError(
                f"step() takes a list of layers, e.g. step(network.layers), got one {type(layers).__name__}"
            )
        layers = list(layers)
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"step() takes Layer objects (e.g. Dense), got {type(layer).__name__}")
        layers = trainable(layers)
        scale = 1.0
        if self.clip_norm is not None:
            norm = self.global_norm(layers)
            if norm > self.clip_norm:
                scale = self.clip_norm / norm
        for unit in self.pack(layers):
            grad = unit.grad if scale == 1.0 else unit.grad * unit.grad.dtype.type(scale)
            self.start_step(unit.theta, unit.state)
            for theta, g, state in blocks(unit.theta, grad, unit.state, whole=not self.elementwise):
                self.update(theta, g, state)
            unit.share_state()

    def start_step(self, param: Array, state: ParamState) -> None:
        """Before a parameter's update: create the slots it lacks, advance its counters."""
        for slot, kind in self.slots.items():
            if kind == "array" and slot not in state:
                state[slot] = np.zeros_like(param)
            elif kind == "counter":
                state[slot] = state.get(slot, 0) + 1

    def pack(self, layers: list[Layer]) -> list[Packed | Single]:
        """What ``step`` updates: the parameters of each dtype gathered into one flat buffer.

        With an elementwise update, one pass of ufunc calls then serves every array (see
        ``refnet.support.packing``); each layer's ``params``/``grads`` entries become views of the
        buffers, with the same values. Parameters that cannot share a buffer stay single.
        Packing happens on the first step and again whenever an array was replaced since;
        call it before keeping references to the arrays across a step. Frozen layers are not packed.
        """
        layers = trainable(layers)
        if not self._plan_intact(layers):
            self._plan, self._plan_entries = self._make_plan(layers)
        return self._plan

    def _plan_intact(self, layers: list[Layer]) -> bool:
        entries = self._plan_entries
        position = 0
        for layer in layers:
            if not layer.params:
                continue
            states = self._state.get(layer)  # read once per layer, not created: a layer without state is new
            if states is None:
                return False
            for name in layer.params:
                if position == len(entries) or name not in states:
                    return False
                unit, index = entries[position]
                if not unit.intact(index, layer, name, states[name]):
                    return False
                position += 1
        return position == len(entries)

    def _make_plan(self, layers: list[Layer]) -> tuple[list[Packed | Single], list[tuple[Packed | Single, int]]]:
        by_dtype: dict[np.dtype[Any], list[Member]] = {}
        for layer, name, param, _ in self._parameters(layers):
            by_dtype.setdefault(param.dtype, []).append(Member(layer, name, self.state_for(layer, name)))
        plan: list[Packed | Single] = []
        where: dict[tuple[int, str], tuple[Packed | Single, int]] = {}
        for members in by_dtype.values():
            if self.elementwise and packable(members):
                packed = Packed(members)
                plan.append(packed)
                where.update({(id(member.layer), member.name): (packed, i) for i, member in enumerate(members)})
                continue
            for member in members:
                single = Single(member)
                plan.append(single)
                where[(id(member.layer), member.name)] = (single, 0)
        return plan, [where[(id(layer), name)] for layer in layers for name in layer.params]

    def in_dtype_of(self, theta: Array, *values: float) -> tuple[Any, ...]:
        """The hyper-parameters as scalars of θ's dtype, so that float32 stays float32 under every
        NumPy (NumPy 1 computes lr·g in float64 where lr does not fit float32; NumPy 2 does not).

        Converted once and kept while the values stay the same (a schedule changing lr converts
        again). New scalars on every step were never freed here (NumPy 2.4.6, Python 3.11: a reference
        whose holder gc cannot find), so the training loop's memory grew by them epoch after epoch
        (benchmarks/test_bench_memory.py); and the conversion is per-step work.
        """
        cached = self._scalars.get(theta.dtype)
        if cached is None or cached[0] != values:
            cached = self._scalars[theta.dtype] = (values, tuple(theta.dtype.type(value) for value in values))
        return cached[1]

    def update(self, theta: Array, g: Array, state: ParamState) -> None:
        """The update rule: change ``theta`` (and the slots of ``state``) in place from the gradient ``g``.

        ``theta``, ``g`` and every array slot have one shape; ``step`` may call this on a block of
        a parameter, so the rule must treat every element on its own (``elementwise``).
        """
        raise NotImplementedError

    # -- bounds for a step that cannot overflow (used by training to skip a snapshot) -------
    def state_bound(self, layers: list[Layer]) -> float:
        """A bound on the magnitude of the state that ``step_bounds`` takes (read from the arrays).

        The base class knows nothing of a subclass's state: inf, so every step is guarded.
        """
        return math.inf

    def step_bounds(self, param_bound: float, state_bound: float, gradient_bound: float) -> tuple[float, float]:
        """Bounds after one step, from bounds on |θ|, on the state and on |g| before it.

        Returns (largest magnitude any number of the step's arithmetic can reach,
        bound on the state after the step). When the first is far below the dtype's
        largest float, the step cannot overflow, so training takes it without a snapshot.
        The base class returns inf: unknown, so training snapshots before every step; a
        subclass that changes ``update`` must override this (and ``state_bound``) to match.
        """
        return math.inf, math.inf

    def _largest(self, layers: list[Layer], slot: str) -> float:
        """max |value| over the ``slot`` arrays of these layers' parameters (0.0 when none yet)."""
        largest = 0.0
        for layer in layers:
            for state in self._state.get(layer, {}).values():
                if slot in state and state[slot].size:  # max |x| without a temporary |x| as large as x
                    largest = max(largest, float(state[slot].max()), -float(state[slot].min()))
        return largest

    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters that rebuild this optimizer (JSON-serializable)."""
        return {"learning_rate": self.learning_rate, "clip_norm": self.clip_norm}

    def state_arrays(self, layers: list[Layer]) -> dict[str, Array]:
        """Copies of the state as flat arrays keyed ``"{layer index}.{param}.{slot}"`` (for saving)."""
        arrays: dict[str, Array] = {}
        for index, layer in enumerate(layers):
            for name, state in self._state.get(layer, {}).items():
                for slot, value in state.items():
                    arrays[f"{index}.{name}.{slot}"] = np.array(value)  # a copy: the caller may keep it
        return arrays

    def load_state_arrays(self, layers: list[Layer], arrays: dict[str, Array]) -> None:
        """Restore what ``state_arrays`` returned, for the same list of layers."""
        for key, value in arrays.items():
            index, name, slot = key.split(".")
            layer = layers[int(index)]
            if name not in layer.params:
                raise ValueError(f"optimizer state names parameter {name!r} that layer {index} does not have")
            self.state_for(layer, name)[slot] = value.item() if value.ndim == 0 else value.copy()

    def restore_state_arrays(self, layers: list[Layer], arrays: dict[str, Array]) -> None:
        """Make these layers' state exactly what ``state_arrays`` returned (dropping anything newer)."""
        for layer in layers:
            self._state.pop(layer, None)
        self.load_state_arrays(layers, arrays)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


def trainable(layers: Iterable[Layer]) -> list[Layer]:
    """The layers an optimizer updates: those not frozen (``layer.trainable``)."""
    return [layer for layer in layers if layer.trainable]


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    v ← μ·v + g;  θ ← θ − lr·v;  nesterov: θ ← θ − lr·(g + μ·v).  μ = 0 is plain SGD.
    """

    elementwise = True

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clip_norm)
        self.momentum = check_unit_interval(momentum, "momentum")
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)

    @property
    def slots(self) -> dict[str, SlotKind]:
        """The velocity v, with momentum; plain SGD keeps no state."""
        return {"velocity": "array"} if self.momentum else {}

    def update(self, theta: Array, g: Array, state: ParamState) -> None:
        lr, mu = self.in_dtype_of(theta, self.learning_rate, self.momentum)
        if mu == 0.0:
            theta -= lr * g
            return
        v = state["velocity"]
        v *= mu  # v ← μ·v + g, in place
        v += g
        if self.nesterov:
            theta -= lr * (g + mu * v)
        else:
            theta -= lr * v

    def state_bound(self, layers: list[Layer]) -> float:
        """max |velocity| (0.0 without momentum)."""
        return self._largest(layers, "velocity")

    def step_bounds(self, param_bound: float, state_bound: float, gradient_bound: float) -> tuple[float, float]:
        """|v'| <= μ·|v| + |g|;  |θ'| <= |θ| + lr·|v'| (nesterov: + lr·(|g| + μ·|v'|))."""
        velocity = self.momentum * state_bound + gradient_bound
        direction = gradient_bound + self.momentum * velocity if self.nesterov else velocity
        # lr itself is cast to the parameter dtype: it must be representable too.
        largest = max(param_bound + self.learning_rate * direction, direction, velocity, self.learning_rate)
        return largest, velocity

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba, Algorithm 1), ε outside the root, decoupled weight decay.

    m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  m̂ = m/(1 − β1ᵗ);  v̂ = v/(1 − β2ᵗ)
    θ ← θ·(1 − lr·wd) − lr·m̂/(√v̂ + ε)
    amsgrad=True (Reddi et al., 2018, as PyTorch's): v_max ← max(v_max, v);  v̂ = v_max/(1 − β2ᵗ)
    """

    elementwise = True

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(learning_rate, clip_norm)
        self.beta1 = check_unit_interval(beta1, "beta1")
        self.beta2 = check_unit_interval(beta2, "beta2")
        self.epsilon = check_positive(epsilon, "epsilon")
        self.weight_decay = check_positive(weight_decay, "weight_decay", allow_zero=True)
        if not isinstance(amsgrad, bool):
            raise TypeError(f"amsgrad must be True or False, got {type(amsgrad).__name__}")
        self.amsgrad = amsgrad

    @property
    def slots(self) -> dict[str, SlotKind]:
        """The step count t and the moments m and v (with amsgrad, v_max: the largest v so far)."""
        slots: dict[str, SlotKind] = {"t": "counter", "m": "array", "v": "array"}
        return {**slots, "v_max": "array"} if self.amsgrad else slots

    def update(self, theta: Array, g: Array, state: ParamState) -> None:
        """One Adam step of θ, in place (``step`` has advanced t):
        m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  m̂ = m/(1 − β1ᵗ);  v̂ = v/(1 − β2ᵗ);
        θ ← θ·(1 − lr·wd) − lr·m̂/(√v̂ + ε);  amsgrad: v_max ← max(v_max, v), v̂ = v_max/(1 − β2ᵗ)."""
        lr, beta1, beta2, epsilon = self.in_dtype_of(theta, self.learning_rate, self.beta1, self.beta2, self.epsilon)
        t, m, v = state["t"], state["m"], state["v"]
        m *= beta1  # m ← β1·m + (1 − β1)·g, in place (no temporary for β1·m)
        m += (1 - beta1) * g
        v *= beta2  # v ← β2·v + (1 − β2)·g²
        v += (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        if self.amsgrad:  # v̂ from the largest v so far (PyTorch's amsgrad): the step size never grows back
            v_max = state["v_max"]
            np.maximum(v_max, v, out=v_max)
            v_hat = v_max / (1 - beta2**t)
        else:
            v_hat = v / (1 - beta2**t)
        if self.weight_decay:  # 1 − lr·wd in Python floats: lr·wd may be tiny where wd alone is not a float32
            theta *= 1 - self.learning_rate * self.weight_decay
        theta -= lr * m_hat / (np.sqrt(v_hat) + epsilon)

    def state_problem(self, state: ParamState) -> str | None:
        """t counts the steps taken (>= 1 once m and v exist); v, a mean of squares, is never negative."""
        if state["t"] < 1:
            return f"t (the step count) must be at least 1, got {state['t']}"
        if (state["v"] < 0).any():
            return "v (the second moment, a mean of squares) has negative values"
        if "v_max" in state and (state["v_max"] < state["v"]).any():
            return "v_max (amsgrad's largest second moment so far) is below v somewhere"
        return None

    def state_bound(self, layers: list[Layer]) -> float:
        """max(|m|, √v, √v_max): one bound on the moments (v_max only with amsgrad)."""
        return max(
            self._largest(layers, "m"), math.sqrt(max(self._largest(layers, "v"), self._largest(layers, "v_max")))
        )

    def step_bounds(self, param_bound: float, state_bound: float, gradient_bound: float) -> tuple[float, float]:
        """With B >= |m|, √v and G >= |g|:  |m'| <= M = max(B, G) and v' <= M²;  t >= 1 gives
        m̂ <= M/(1 − β1) and v̂ <= M²/(1 − β2);  m̂/(√v̂ + ε) <= m̂/ε;  |θ'| <= |θ|·max(1, |1 − lr·wd|) + lr·m̂/ε.

        Loose (it ignores √v̂ in the denominator), yet in float32 far below overflow for any
        ordinary gradient, so ordinary training never pays for a snapshot.
        """
        if np.float32(self.epsilon) == 0.0:  # ε is 0 in float32: a zero gradient would step by 0/0
            return math.inf, math.inf
        m = max(state_bound, gradient_bound)
        m_hat, v_hat = m / (1.0 - self.beta1), m * m / (1.0 - self.beta2)
        ratio = m_hat / self.epsilon
        decay = abs(1.0 - self.learning_rate * self.weight_decay)
        step = self.learning_rate * ratio
        # Every scalar the step uses in the parameter dtype (lr, 1 − lr·wd) must be representable as well.
        return max(param_bound * max(1.0, decay) + step, step, ratio, v_hat, m * m, self.learning_rate, decay), m

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "weight_decay": self.weight_decay,
            "amsgrad": self.amsgrad,
        }


OPTIMIZERS: dict[str, type[Optimizer]] = {cls.__name__: cls for cls in (SGD, Adam)}


# -- the learner's toolkit (issue 22): RMSProp and AdaGrad, as PyTorch defines them -------------


class RMSProp(Optimizer):
    """RMSProp as PyTorch's RMSprop (not centered), ε outside the root:

    v ← ρ·v + (1 − ρ)·g²;  θ ← θ − lr·g/(√v + ε)
    momentum μ > 0:  b ← μ·b + g/(√v + ε);  θ ← θ − lr·b
    """

    elementwise = True

    def __init__(
        self,
        learning_rate: float = 0.01,
        rho: float = 0.99,
        epsilon: float = 1e-8,
        momentum: float = 0.0,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clip_norm)
        self.rho = check_unit_interval(rho, "rho")
        self.epsilon = check_positive(epsilon, "epsilon")
        self.momentum = check_unit_interval(momentum, "momentum")

    @property
    def slots(self) -> dict[str, SlotKind]:
        """The mean square v (and, with momentum, the buffer b)."""
        return {"v": "array", "b": "array"} if self.momentum else {"v": "array"}

    def update(self, theta: Array, g: Array, state: ParamState) -> None:
        """v ← ρ·v + (1 − ρ)·g²;  θ ← θ − lr·g/(√v + ε)  (momentum: b ← μ·b + g/(√v + ε); θ ← θ − lr·b)."""
        lr, rho, epsilon, mu = self.in_dtype_of(theta, self.learning_rate, self.rho, self.epsilon, self.momentum)
        v = state["v"]
        v *= rho  # v ← ρ·v + (1 − ρ)·g², in place
        v += (1 - rho) * g**2
        if mu == 0.0:
            theta -= lr * g / (np.sqrt(v) + epsilon)
            return
        b = state["b"]
        b *= mu  # b ← μ·b + g/(√v + ε)
        b += g / (np.sqrt(v) + epsilon)
        theta -= lr * b

    def state_problem(self, state: ParamState) -> str | None:
        """v, a mean of squares, is never negative."""
        if (state["v"] < 0).any():
            return "v (the mean of squared gradients) has negative values"
        return None

    def state_bound(self, layers: list[Layer]) -> float:
        """max(√v, |b|): one bound on both slots."""
        return max(math.sqrt(self._largest(layers, "v")), self._largest(layers, "b"))

    def step_bounds(self, param_bound: float, state_bound: float, gradient_bound: float) -> tuple[float, float]:
        """With B >= √v, |b| and G >= |g|:  √v' <= max(B, G);  |g|/(√v' + ε) <= G/ε;
        |b'| <= μ·B + G/ε;  |θ'| <= |θ| + lr·|b'| (without momentum, + lr·G/ε). Loose, as Adam's."""
        if np.float32(self.epsilon) == 0.0:
            return math.inf, math.inf
        ratio = gradient_bound / self.epsilon
        direction = self.momentum * state_bound + ratio if self.momentum else ratio
        root = max(state_bound, gradient_bound)
        largest = max(param_bound + self.learning_rate * direction, direction, root * root, self.learning_rate)
        return largest, max(root, direction if self.momentum else 0.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon, "momentum": self.momentum}


class AdaGrad(Optimizer):
    """AdaGrad as PyTorch's Adagrad (no lr decay, accumulator from 0), ε outside the root:

    G ← G + g²;  θ ← θ − lr·g/(√G + ε)
    (on a constant g the t-th step is lr·g/(√t·|g| + ε): the steps shrink as 1/√t)
    """

    elementwise = True

    def __init__(self, learning_rate: float = 0.01, epsilon: float = 1e-10, clip_norm: float | None = None) -> None:
        super().__init__(learning_rate, clip_norm)
        self.epsilon = check_positive(epsilon, "epsilon")

    @property
    def slots(self) -> dict[str, SlotKind]:
        """The running sum of squared gradients G."""
        return {"G": "array"}

    def update(self, theta: Array, g: Array, state: ParamState) -> None:
        """G ← G + g²;  θ ← θ − lr·g/(√G + ε)."""
        lr, epsilon = self.in_dtype_of(theta, self.learning_rate, self.epsilon)
        G = state["G"]
        G += g**2
        theta -= lr * g / (np.sqrt(G) + epsilon)

    def state_problem(self, state: ParamState) -> str | None:
        """G, a sum of squares, is never negative."""
        if (state["G"] < 0).any():
            return "G (the sum of squared gradients) has negative values"
        return None

    def state_bound(self, layers: list[Layer]) -> float:
        """√G (the largest)."""
        return math.sqrt(self._largest(layers, "G"))

    def step_bounds(self, param_bound: float, state_bound: float, gradient_bound: float) -> tuple[float, float]:
        """With B >= √G and |g| <= g_max:  G' <= B² + g_max²;  |Δθ| <= lr·g_max/ε (loose, as Adam's)."""
        if np.float32(self.epsilon) == 0.0:
            return math.inf, math.inf
        root = math.hypot(state_bound, gradient_bound)
        step = self.learning_rate * gradient_bound / self.epsilon
        return max(param_bound + step, step, gradient_bound / self.epsilon, root * root, self.learning_rate), root

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


OPTIMIZERS.update({cls.__name__: cls for cls in (RMSProp, AdaGrad)})
