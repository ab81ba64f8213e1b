"""Exercise 4: softmax cross-entropy on logits, with a mistake in its gradient.

    gradcheck --check docs/exercises/ex4_cross_entropy.py:make

fails. The loss is a mean over the batch: what must its gradient carry?
"""

import numpy as np


class SoftmaxCrossEntropy:
    """L = −(1/N) Σ_n log softmax(z_n)[label_n], for logits z (N, C) and integer labels (N,)."""

    def forward(self, z, labels):
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.p = np.exp(log_p)
        self.one_hot = np.eye(z.shape[1])[labels]
        return -np.mean(log_p[np.arange(len(z)), labels])

    def backward(self):
        return (self.p - self.one_hot) / len(self.p)


def make():
    rng = np.random.default_rng(0)
    return SoftmaxCrossEntropy(), (rng.standard_normal((6, 3)), rng.integers(0, 3, 6))
