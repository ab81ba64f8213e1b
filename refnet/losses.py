"""Loss functions: a mean over the batch, with a hand-written gradient.

Each loss has ``forward(y_pred, y_true) -> float`` and ``backward() -> dL/dy_pred`` of
that same float, shape (N, C) like y_pred. Because the loss is a mean, the gradient
carries the 1/N (or 1/size) and nothing downstream divides again.

Predictions may have more axes than (N, C): MSE and BCE take the mean over every element of
any shape; CrossEntropy takes logits (N, ..., C), a distribution over the last axis at every
position (a sequence's (N, T, C)), and averages over the positions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from refnet.base import Array
from refnet.errors import CallOrderError, NonFiniteError, ShapeError
from refnet.functions import Sigmoid
from refnet.support.checks import as_array, cast_finite, check_finite, check_positive


class Loss:
    """Base class: ``forward`` computes and caches, ``backward`` returns dL/dy_pred.

    The math lives in two pure methods, ``loss(y_pred, target)`` and
    ``gradient(y_pred, target)``, on validated arrays; ``prepare_target`` turns what the
    user passes as ``y_true`` into ``target`` (same shape and dtype as y_pred).
    """

    #: Whether accuracy is a meaningful metric for this loss.
    is_classification = False

    def __init__(self) -> None:
        self._cache: tuple[Array, Array] | None = None

    def forward(self, y_pred: Any, y_true: Any) -> float:
        """The mean loss of predictions y_pred (N, C) against targets y_true.

        Raises ``NonFiniteError`` if the value overflows y_pred's dtype (e.g. squared errors
        of 1e20 in float32) instead of returning inf with a NumPy warning.
        """
        y_pred = self.check_prediction(y_pred)
        check_finite(y_pred, "y_pred")
        target = self.prepare_target(y_true, y_pred.shape, y_pred.dtype)
        self._cache = (y_pred, target)
        with np.errstate(over="ignore", invalid="ignore"):
            value = self.loss(y_pred, target)
        if not math.isfinite(value):
            raise self._overflow("loss")
        return value

    def backward(self) -> Array:
        """dL/dy_pred of the last ``forward``, same shape and dtype as y_pred."""
        if self._cache is None:
            raise CallOrderError(
                f"{type(self).__name__}.backward called before forward: call forward(y_pred, y_true) first"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            grad = self.gradient(*self._cache)
        if not np.isfinite(grad).all():
            raise self._overflow("gradient")
        return grad

    def _overflow(self, what: str) -> NonFiniteError:
        assert self._cache is not None
        y_pred, target = self._cache
        largest = max(float(np.abs(y_pred).max()), float(np.abs(target).max()))
        return NonFiniteError(
            f"{type(self).__name__}: the {what} overflows {y_pred.dtype} (values up to {largest:g}); "
            "rescale the predictions and targets, or use float64"
        )

    __call__ = forward

    # -- pure math, overridden by each loss ------------------------------------------
    def loss(self, y_pred: Array, target: Array) -> float:
        """The loss value for validated arrays."""
        raise NotImplementedError

    def gradient(self, y_pred: Array, target: Array) -> Array:
        """dL/dy_pred for validated arrays."""
        raise NotImplementedError

    def value_and_gradient(self, y_pred: Array, target: Array) -> tuple[float, Array]:
        """``(loss(y_pred, target), gradient(y_pred, target))``; losses whose two formulas
        share work (CrossEntropy: the log-softmax) override it to compute that work once."""
        return self.loss(y_pred, target), self.gradient(y_pred, target)

    def accuracy(self, y_pred: Array, target: Array) -> float | None:
        """Fraction of correct predictions, or None for a regression loss."""
        return None

    def probabilities(self, y_pred: Array) -> Array:
        """The probabilities the validated outputs y_pred stand for (``NeuralNetwork.predict_proba``).

        A regression loss has none: TypeError.
        """
        raise TypeError(
            f"{type(self).__name__} is a regression loss: the network's outputs are not probabilities. "
            "predict_proba needs a classification loss (CrossEntropy or BinaryCrossEntropy); use predict(X)"
        )

    # -- validation ------------------------------------------------------------------
    def check_prediction(self, y_pred: Any) -> Array:
        """Validate y_pred: a non-empty float array (N, outputs) or (N, ..., outputs)."""
        y_pred = as_array(y_pred, "y_pred")
        if y_pred.ndim < 2 or y_pred.size == 0:
            raise ShapeError(
                f"{type(self).__name__}: y_pred must be (N, outputs) or (N, ..., outputs), got shape {y_pred.shape}"
            )
        if not np.issubdtype(y_pred.dtype, np.floating):
            y_pred = y_pred.astype(np.float64)
        return y_pred

    def prepare_target(self, y_true: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        """Validate y_true against the prediction shape; return it as ``dtype``, ``shape``.

        A 1-D target is accepted for a single output column.
        """
        target = as_array(y_true, "y_true")
        if target.ndim == 1 and len(shape) == 2 and shape[1] == 1:
            target = target.reshape(-1, 1)
        if target.shape != tuple(shape):
            raise ShapeError(f"{type(self).__name__}: y_true must have shape {tuple(shape)}, got {target.shape}")
        check_finite(target, "y_true")
        return cast_finite(target, dtype, "y_true")

    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters that rebuild this loss (JSON-serializable)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MSE(Loss):
    """Mean squared error over all elements: L = mean((ŷ − y)²);  dL/dŷ = 2(ŷ − y)/size."""

    def loss(self, y_pred: Array, target: Array) -> float:
        return self._mean_square(y_pred - target)

    def gradient(self, y_pred: Array, target: Array) -> Array:
        return self._scaled(y_pred - target)

    def value_and_gradient(self, y_pred: Array, target: Array) -> tuple[float, Array]:
        diff = y_pred - target
        return self._mean_square(diff), self._scaled(diff)

    @staticmethod
    def _mean_square(diff: Array) -> float:
        flat = diff.ravel()
        return float(flat @ flat) / flat.size

    @staticmethod
    def _scaled(diff: Array) -> Array:
        """2·diff/size, computed in place in ``diff``."""
        diff *= diff.dtype.type(2.0 / diff.size)
        return diff


def log_softmax(z: Array) -> Array:
    """log softmax(z) over the last axis through log-sum-exp: z − max − log Σ exp(z − max)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits z (N, C), fused through log-sum-exp.

    L = −(1/N) Σ_n Σ_c y_nc · log softmax(z_n)_c ;   dL/dz = (softmax(z) − y) / N

    Targets are integer labels of shape (N,) with values in [0, C), or one-hot /
    probability rows of shape (N, C). Logits with more axes, (N, T, C) for a sequence, are
    a classification at every position: labels (N, T), and N above counts every position
    (the loss is the mean over all N·T of them).
    """

    is_classification = True

    def check_prediction(self, y_pred: Any) -> Array:
        y_pred = super().check_prediction(y_pred)
        if y_pred.shape[-1] < 2:
            raise ShapeError(f"CrossEntropy: logits need at least 2 classes (the last axis), got shape {y_pred.shape}")
        return y_pred

    def prepare_target(self, y_true: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        """Integer labels (N, ...) become one-hot rows; (N, ..., C) probability rows are used as given."""
        positions, C = shape[:-1], shape[-1]
        target = as_array(y_true, "y_true")
        if target.ndim != len(positions):
            if target.ndim != len(shape):
                raise ShapeError(
                    f"CrossEntropy: for logits of shape {tuple(shape)}, y_true must be integer labels of shape "
                    f"{tuple(positions)} or probability rows of shape {tuple(shape)}, got shape {target.shape}"
                )
            return self.check_probability_rows(super().prepare_target(target, shape, dtype))
        if target.shape != positions:
            if len(positions) == 1:
                raise ShapeError(f"CrossEntropy: got {target.shape[0]} labels for {positions[0]} rows of logits")
            raise ShapeError(
                f"CrossEntropy: labels must have shape {tuple(positions)} for logits of shape {tuple(shape)}, "
                f"got shape {target.shape}"
            )
        if not np.issubdtype(target.dtype, np.integer):
            check_finite(target, "y_true")
            if not np.array_equal(target, np.round(target)):
                raise ValueError("CrossEntropy: label targets must be integer class labels 0..C-1")
        low, high = target.min(), target.max()
        if low < 0 or high >= C:
            bad = low if low < 0 else high
            raise ValueError(f"CrossEntropy: label {bad} is out of range for {C} classes (valid: 0 to {C - 1})")
        one_hot = np.zeros(shape, dtype=dtype)
        np.put_along_axis(one_hot, target.astype(np.intp)[..., np.newaxis], 1, axis=-1)
        return one_hot

    @staticmethod
    def check_probability_rows(target: Array) -> Array:
        """(N, C) targets must be distributions: entries in [0, 1], every row summing to 1.

        (The gradient softmax(z) − y is the loss's gradient only when each row sums to 1.)
        """
        sums = target.sum(axis=-1)
        worst_flat = int(np.argmax(np.abs(sums - 1)))
        worst = np.unravel_index(worst_flat, sums.shape)
        row = worst[0] if len(worst) == 1 else tuple(int(i) for i in worst)
        tolerance = max(1e-6, 100 * float(np.finfo(target.dtype).eps))
        if target.min() < 0 or target.max() > 1 or abs(sums[worst] - 1) > tolerance:
            raise ValueError(
                "CrossEntropy: (N, C) targets must be one-hot or probability rows (entries in [0, 1], rows "
                f"summing to 1), got entries from {target.min():g} to {target.max():g} and row {row} summing "
                f"to {sums[worst]:g}; for class labels pass an integer array of shape (N,)"
            )
        return target

    def accuracy(self, y_pred: Array, target: Array) -> float | None:
        """Fraction of rows (of positions, for (N, ..., C)) whose largest logit is the target's largest entry."""
        return float(np.mean(y_pred.argmax(axis=-1) == target.argmax(axis=-1)))

    def probabilities(self, y_pred: Array) -> Array:
        """softmax(z) = exp(log_softmax(z)) over the last axis: the class probabilities the loss scores."""
        return np.exp(log_softmax(y_pred))

    def loss(self, y_pred: Array, target: Array) -> float:
        return self._mean_nll(log_softmax(y_pred), target)

    def gradient(self, y_pred: Array, target: Array) -> Array:
        return self._softmax_minus_target(log_softmax(y_pred), target)

    def value_and_gradient(self, y_pred: Array, target: Array) -> tuple[float, Array]:
        """Loss and gradient from a single log-softmax (the fused path training uses)."""
        log_probs = log_softmax(y_pred)
        value = self._mean_nll(log_probs, target)
        return value, self._softmax_minus_target(log_probs, target)

    @staticmethod
    def _mean_nll(log_probs: Array, target: Array) -> float:
        """−(1/N) Σ_n Σ_c y_nc · log p_nc, N the number of rows (positions: N·T for (N, T, C))."""
        N = log_probs.size // log_probs.shape[-1]
        return -float(np.vdot(target, log_probs)) / N

    @staticmethod
    def _softmax_minus_target(log_probs: Array, target: Array) -> Array:
        """(softmax(z) − y)/N with softmax = exp(log p), computed in place in ``log_probs``."""
        N = log_probs.size // log_probs.shape[-1]
        grad = np.exp(log_probs, out=log_probs)
        grad -= target
        grad *= log_probs.dtype.type(1.0 / N)
        return grad


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy, mean over all elements, targets in [0, 1].

    On probabilities p (default), clipped to [eps, 1 − eps]:
        L = −mean(y·log p + (1 − y)·log(1 − p));  dL/dp = (p − y) / (p(1 − p)) / size
    (where p is clipped, the gradient is the one at the clip point, as in Keras, so that
    a saturated output still learns; inside [eps, 1 − eps] it is exact).
    On logits z (``from_logits=True``), stable for any z:
        L = mean(max(z, 0) − z·y + log1p(exp(−|z|)));  dL/dz = (sigmoid(z) − y) / size
    """

    is_classification = True

    def __init__(self, from_logits: bool = False, eps: float = 1e-7) -> None:
        super().__init__()
        self.from_logits = bool(from_logits)
        self.eps = check_positive(eps, "eps")

    def check_prediction(self, y_pred: Any) -> Array:
        y_pred = super().check_prediction(y_pred)
        if not self.from_logits and (y_pred.min() < 0 or y_pred.max() > 1):
            raise ValueError(
                "BinaryCrossEntropy: predictions must be probabilities in [0, 1] "
                f"(got {y_pred.min()} to {y_pred.max()}); use from_logits=True for logits"
            )
        return y_pred

    def prepare_target(self, y_true: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        target = super().prepare_target(y_true, shape, dtype)
        if target.min() < 0 or target.max() > 1:
            raise ValueError(
                f"BinaryCrossEntropy: targets must lie in [0, 1], got values from {target.min()} to {target.max()}"
            )
        return target

    def accuracy(self, y_pred: Array, target: Array) -> float | None:
        """Fraction of elements on the right side of 0.5 (of 0 for logits)."""
        threshold = 0.0 if self.from_logits else 0.5
        return float(np.mean((y_pred > threshold) == (target > 0.5)))

    def probabilities(self, y_pred: Array) -> Array:
        """P(y = 1) for each output: sigmoid(z) on logits, the prediction itself on probabilities."""
        return Sigmoid().function(y_pred) if self.from_logits else y_pred

    def _clipped(self, p: Array) -> Array:
        # The clip points are eps and 1 − eps rounded to p's dtype (float32: 1e-7 and 0.99999988).
        # Where eps is below half the dtype's spacing under 1, 1 − eps rounds to 1 (log(1 − p) = −inf):
        # the upper point is then the largest number below 1. An eps too small for the dtype is its
        # smallest normal number.
        dtype = p.dtype.type
        low = max(dtype(self.eps), np.finfo(p.dtype).tiny)
        high = min(dtype(1.0 - self.eps), np.nextafter(dtype(1), dtype(0)))
        return np.clip(p, low, high)

    def loss(self, y_pred: Array, target: Array) -> float:
        if self.from_logits:
            z = y_pred
            terms = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
            return float(terms.mean())
        p = self._clipped(y_pred)
        terms = target * np.log(p) + (1 - target) * np.log1p(-p)
        return -float(terms.mean())

    def gradient(self, y_pred: Array, target: Array) -> Array:
        scale = y_pred.dtype.type(1.0 / y_pred.size)
        if self.from_logits:
            grad = Sigmoid().function(y_pred)
            grad -= target
            grad *= scale
            return grad
        p = self._clipped(y_pred)
        return (p - target) / (p * (1 - p)) * scale

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "eps": self.eps}


LOSSES: dict[str, type[Loss]] = {cls.__name__: cls for cls in (MSE, CrossEntropy, BinaryCrossEntropy)}


# -- the learner's toolkit (issue 22): MAE, Huber, MulticlassHinge ----------------------------


class MAE(Loss):
    """Mean absolute error over all elements: L = mean|ŷ − y|;  dL/dŷ = sign(ŷ − y)/size (0 where ŷ = y)."""

    def loss(self, y_pred: Array, target: Array) -> float:
        return float(np.abs(y_pred - target).mean())

    def gradient(self, y_pred: Array, target: Array) -> Array:
        return np.sign(y_pred - target) * y_pred.dtype.type(1.0 / y_pred.size)


class Huber(Loss):
    """PyTorch's HuberLoss, mean over all elements; with d = ŷ − y:

    l(d) = ½·d²                 where |d| <= delta
         = delta·(|d| − ½·delta) elsewhere;          L = mean l(d)
    dL/dŷ = clip(d, −delta, delta)/size              (the branches meet at |d| = delta)
    """

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = check_positive(delta, "delta")

    def loss(self, y_pred: Array, target: Array) -> float:
        d = np.abs(y_pred - target)
        delta = y_pred.dtype.type(self.delta)
        return float(np.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta)).mean())

    def gradient(self, y_pred: Array, target: Array) -> Array:
        delta = y_pred.dtype.type(self.delta)
        return np.clip(y_pred - target, -delta, delta) * y_pred.dtype.type(1.0 / y_pred.size)

    def get_config(self) -> dict[str, Any]:
        return {"delta": self.delta}


class MulticlassHinge(Loss):
    """cs231n's multiclass SVM loss on scores s (N, C) with integer labels y (N,):

        L = (1/N) Σ_n Σ_{j≠y_n} max(0, s_nj − s_ny_n + margin)
        dL/ds_nj = 1[s_nj − s_ny_n + margin > 0]/N  for j ≠ y_n;   dL/ds_ny_n = −Σ_{j≠y_n} of those
    (a term counts where it is > 0, so at exactly 0 it adds nothing to the gradient).
    """

    is_classification = True

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = check_positive(margin, "margin")

    def check_prediction(self, y_pred: Any) -> Array:
        """Scores (N, C), at least 2 classes."""
        y_pred = super().check_prediction(y_pred)
        if y_pred.ndim != 2 or y_pred.shape[1] < 2:
            raise ShapeError(f"MulticlassHinge: scores must be (N, C) with C >= 2 classes, got shape {y_pred.shape}")
        return y_pred

    def prepare_target(self, y_true: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        """Integer labels (N,) in [0, C) become one-hot rows (the one form the loss takes)."""
        N, C = shape
        labels = as_array(y_true, "y_true")
        if labels.ndim != 1 or labels.shape[0] != N:
            raise ShapeError(f"MulticlassHinge: y_true must be {N} integer labels of shape ({N},), got {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"MulticlassHinge: labels must be integers 0..{C - 1}, got dtype {labels.dtype}")
        if labels.min() < 0 or labels.max() >= C:
            bad = labels.min() if labels.min() < 0 else labels.max()
            raise ValueError(f"MulticlassHinge: label {bad} is out of range for {C} classes (valid: 0 to {C - 1})")
        one_hot = np.zeros(shape, dtype=dtype)
        one_hot[np.arange(N), labels] = 1
        return one_hot

    def _margins(self, s: Array, target: Array) -> tuple[Array, Array]:
        """(s_j − s_y + margin for every j, where that term counts: j ≠ y and > 0), both (N, C)."""
        s_y = (s * target).sum(axis=1, keepdims=True)
        margins = s - s_y + s.dtype.type(self.margin)
        return margins, (margins > 0) & (target == 0)

    def loss(self, y_pred: Array, target: Array) -> float:
        margins, counted = self._margins(y_pred, target)
        return float((margins * counted).sum()) / y_pred.shape[0]

    def gradient(self, y_pred: Array, target: Array) -> Array:
        counted = self._margins(y_pred, target)[1].astype(y_pred.dtype)
        grad = counted - target * counted.sum(axis=1, keepdims=True)
        grad *= y_pred.dtype.type(1.0 / y_pred.shape[0])
        return grad

    def accuracy(self, y_pred: Array, target: Array) -> float | None:
        """Fraction of rows whose largest score is the label's."""
        return float(np.mean(y_pred.argmax(axis=1) == target.argmax(axis=1)))

    def probabilities(self, y_pred: Array) -> Array:
        raise TypeError(
            "MulticlassHinge scores are not probabilities: predict(X).argmax(axis=1) gives the classes; "
            "train with CrossEntropy for predict_proba"
        )

    def get_config(self) -> dict[str, Any]:
        return {"margin": self.margin}


LOSSES.update({cls.__name__: cls for cls in (MAE, Huber, MulticlassHinge)})
