"""Exercise 3: Adam, with a step missing.

An optimizer has no backward to compare with a finite difference: gradcheck checks it against
closed forms instead (the first step, a constant gradient, ...).

    gradcheck --check docs/exercises/ex3_adam.py:make

fails. Compare the update with Kingma & Ba's Algorithm 1 and repair it.
"""

import numpy as np

from refnet import Adam


class MyAdam(Adam):
    """Adam's update of one parameter theta with gradient g, in place (its state: t, the step count, m and v)."""

    def update(self, theta, g, state):
        t, m, v = state["t"], state["m"], state["v"]
        m[:] = self.beta1 * m + (1 - self.beta1) * g
        v[:] = self.beta2 * v + (1 - self.beta2) * g**2
        m_hat = m
        v_hat = v
        theta *= 1 - self.learning_rate * self.weight_decay  # decoupled weight decay (AdamW)
        theta -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)


def make():
    return MyAdam()
