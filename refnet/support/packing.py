"""Many parameter arrays as one: the flat buffers an optimizer updates in a single pass.

An update written with NumPy is a handful of ufunc calls per array (Adam: a dozen), and
each call costs about a microsecond before any arithmetic. A network of six parameter
arrays pays that six times. Gathered into one contiguous buffer per dtype, the same calls
serve every array at once:

    theta = [W₁ | b₁ | W₂ | b₂ | ...]      (1-D, every parameter of one dtype, in order)
    grad  = [dW₁ | db₁ | dW₂ | db₂ | ...]  (the gradients, same layout)
    state = {"m": [...], "v": [...], "t": 3}  (each state slot of the optimizer, same layout;
                                               scalars such as Adam's t are shared)

Nothing else changes: each layer's ``params[name]`` and ``grads[name]`` becomes a view of
its stretch of ``theta`` and ``grad`` (same shape, same values), and each slot of the
optimizer's per-parameter state a view of its stretch of the slot's buffer, so every piece
of code that reads or writes one array still does, in place. Only an *elementwise* update
may be run on the buffer (the same arithmetic on every element, hence bitwise the same
numbers); parameters whose state disagrees (say, Adam's t after a layer joined later) are
left as they are and updated one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # annotations only: support code sits below the Layer interface
    from refnet.base import Array, Layer

ParamState = dict[str, Any]

#: Bytes per array in one block of a blocked update (see ``blocks``).
BLOCK_BYTES = 256 * 1024


def blocks(
    theta: Array, grad: Array, state: ParamState, whole: bool = False
) -> Iterator[tuple[Array, Array, ParamState]]:
    """Matching 1-D blocks of a parameter, its gradient and its state's arrays, for an elementwise update.

    An update written as NumPy expressions makes one pass over memory per operation, and each
    temporary it makes is as large as its operands. Run on blocks of ``BLOCK_BYTES``, every pass
    after the first finds its block still in the CPU cache and the temporaries stay small, so the
    update costs about what one fused loop would. Each block is a view: what the update writes in
    place (``theta -= ...``, ``m[:] = ...``) lands in the arrays; a slot it rebinds instead
    (``state["m"] = ...``) is copied into its block afterwards. Scalars of the state (Adam's t, which
    ``Optimizer.step`` advances before the update) are read, the same for every block. The arithmetic
    is elementwise, hence bitwise the same as on whole arrays. ``whole=True`` (an update that is not
    elementwise) yields the arrays themselves, once.
    """
    size = theta.size
    step = max(1, BLOCK_BYTES // theta.dtype.itemsize)
    slots = {slot: value for slot, value in state.items() if isinstance(value, np.ndarray)}
    if whole or size <= step or not all(array.flags.c_contiguous for array in (theta, grad, *slots.values())):
        yield theta, grad, state  # one block: the arrays themselves
        _keep_arrays(state, slots)
        return
    flat_theta, flat_grad = theta.reshape(-1), grad.reshape(-1)
    flat = {slot: array.reshape(-1) for slot, array in slots.items()}
    scalars = {slot: value for slot, value in state.items() if slot not in flat}
    for start in range(0, size, step):
        stop = min(start + step, size)
        views = {slot: array[start:stop] for slot, array in flat.items()}
        block_state: ParamState = {**scalars, **views}
        yield flat_theta[start:stop], flat_grad[start:stop], block_state
        _keep_arrays(block_state, views)


def _keep_arrays(state: ParamState, arrays: dict[str, Array]) -> None:
    """Where an update rebound a slot of ``state``, copy the new values into the slot's own array and put
    that array back: the state's arrays (views of a packed buffer, or of a block) stay the ones shared."""
    for slot, array in arrays.items():
        if state[slot] is not array:
            array[...] = state[slot]
            state[slot] = array


@dataclass
class Member:
    """One parameter: its layer, its name there, and the optimizer's state for it."""

    layer: Layer
    name: str
    state: ParamState


def packable(members: Sequence[Member]) -> bool:
    """True when these parameters (of one dtype) can share one buffer.

    They must be distinct arrays with gradients of the same shape and dtype, no layer may keep
    its own reference to them beside ``params``/``grads`` (it would keep reading the old array),
    and their optimizer states must agree: the same slots, arrays of the parameter's shape,
    equal scalars.
    """
    if len(members) < 2:
        return False
    params = [member.layer.params[member.name] for member in members]
    grads = [member.layer.grads[member.name] for member in members]
    if len({id(array) for array in (*params, *grads)}) != 2 * len(members):
        return False
    dtype = params[0].dtype
    for member, param, grad in zip(members, params, grads, strict=True):
        if grad.shape != param.shape or grad.dtype != dtype or param.dtype != dtype:
            return False
        if any(value is param or value is grad for value in vars(member.layer).values()):
            return False
    first = members[0].state
    for member, param in zip(members, params, strict=True):
        if member.state.keys() != first.keys():
            return False
        for slot, value in member.state.items():
            if isinstance(value, np.ndarray):
                if value.shape != param.shape or value.dtype != dtype:
                    return False
            elif isinstance(first[slot], np.ndarray) or value != first[slot]:
                return False
    return True


class Single:
    """One parameter updated on its own arrays (where packing does not apply)."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.theta = member.layer.params[member.name]
        self.grad = member.layer.grads[member.name]
        self.state = member.state

    def share_state(self) -> None:
        """Nothing to share: the update wrote the parameter's own state."""

    def intact(self, index: int, layer: Layer, name: str, state: ParamState) -> bool:
        """True when this is still the same parameter with the same arrays and state."""
        member = self.member
        return (
            member.layer is layer
            and member.name == name
            and member.state is state
            and layer.params[name] is self.theta
            and layer.grads[name] is self.grad
        )


class Packed:
    """The parameters, gradients and optimizer state of some members, in flat buffers.

    Building it copies every array into its buffer and puts a view of the buffer in its
    place (``layer.params[name]``, ``layer.grads[name]``, each state slot).
    """

    def __init__(self, members: Sequence[Member]) -> None:
        self.members = list(members)
        params = [member.layer.params[member.name] for member in members]
        self.shapes = [param.shape for param in params]
        self.stops = np.cumsum([param.size for param in params]).tolist()
        self.theta = self._gather(params)
        self.grad = self._gather([member.layer.grads[member.name] for member in members])
        self.state: ParamState = {}
        for slot, value in members[0].state.items():
            if isinstance(value, np.ndarray):
                self.state[slot] = self._gather([member.state[slot] for member in members])
            else:
                self.state[slot] = value
        self.params = self._views(self.theta)
        self.grads = self._views(self.grad)
        self.slots: dict[str, list[Array]] = {}
        for member, param, grad in zip(self.members, self.params, self.grads, strict=True):
            member.layer.params[member.name] = param
            member.layer.grads[member.name] = grad
        self.share_state()

    def _gather(self, arrays: list[Array]) -> Array:
        flat = np.empty(self.stops[-1], dtype=arrays[0].dtype)
        start = 0
        for array, stop in zip(arrays, self.stops, strict=True):
            flat[start:stop] = array.reshape(-1)
            start = stop
        return flat

    def _views(self, flat: Array) -> list[Array]:
        starts = [0, *self.stops[:-1]]
        return [
            flat[start:stop].reshape(shape) for start, stop, shape in zip(starts, self.stops, self.shapes, strict=True)
        ]

    def share_state(self) -> None:
        """After an update of the buffers: every member's state shows the buffers' slots and scalars."""
        for slot, value in self.state.items():
            if not isinstance(value, np.ndarray):
                for member in self.members:
                    member.state[slot] = value
            elif slot not in self.slots:  # a slot the update just created
                self.slots[slot] = self._views(value)
                for member, view in zip(self.members, self.slots[slot], strict=True):
                    member.state[slot] = view

    def intact(self, index: int, layer: Layer, name: str, state: ParamState) -> bool:
        """True when member ``index`` is still this parameter, with its arrays the buffers' views.

        False after anything replaced an array (a loaded state, a copy of the model, a
        layer's own assignment): the caller then packs again from the arrays as they are.
        """
        member = self.members[index]
        if member.layer is not layer or member.name != name or member.state is not state:
            return False
        # The views this buffer made, by identity (each is a view of the buffer: nothing else to check).
        if layer.params[name] is not self.params[index] or layer.grads[name] is not self.grads[index]:
            return False
        if len(state) != len(self.state):
            return False
        for slot, value in self.state.items():
            if isinstance(value, np.ndarray):
                if state.get(slot) is not self.slots[slot][index]:
                    return False
            elif state.get(slot) != value:
                return False
        return True
