"""Weights port between refnet's and PyTorch's recurrent layers by transposing: the same outputs and gradients.

Skipped where PyTorch is not installed (``nox -s peers`` installs it; refnet never depends on it).
refnet's W_x (D, kH), W_h (H, kH) are PyTorch's weight_ih_l0, weight_hh_l0 transposed; an RNN's or
LSTM's b is bias_ih_l0 + bias_hh_l0 (here bias_hh_l0 = 0); a GRU's b_x, b_h are bias_ih_l0, bias_hh_l0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from refnet import GRU, LSTM, RNN
from refnet.recurrent import Recurrent

torch = pytest.importorskip("torch")

PAIRS = [(RNN, "RNN"), (LSTM, "LSTM"), (GRU, "GRU")]


def torch_twin(layer: Recurrent, torch_name: str) -> Any:
    """PyTorch's layer with ``layer``'s weights (float64, batch first)."""
    module = getattr(torch.nn, torch_name)(layer.input_size, layer.hidden_size, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(layer.params["W_x"].T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(layer.params["W_h"].T.copy()))
        if isinstance(layer, GRU):
            module.bias_ih_l0.copy_(torch.from_numpy(layer.params["b_x"]))
            module.bias_hh_l0.copy_(torch.from_numpy(layer.params["b_h"]))
        else:
            module.bias_ih_l0.copy_(torch.from_numpy(layer.params["b"]))
            module.bias_hh_l0.zero_()
    return module


@pytest.mark.parametrize(("cls", "torch_name"), PAIRS)
def test_outputs_and_gradients_equal_pytorchs(cls: type[Recurrent], torch_name: str) -> None:
    rng = np.random.default_rng(0)
    layer = cls(4, 5, seed=1)
    module = torch_twin(layer, torch_name)
    x, grad_y = rng.standard_normal((3, 7, 4)), rng.standard_normal((3, 7, 5))
    x_torch = torch.from_numpy(x).requires_grad_(True)
    out = module(x_torch)[0]
    out.backward(torch.from_numpy(grad_y))
    y, grad_x = layer.forward(x), layer.backward(grad_y)
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.grads["W_x"], module.weight_ih_l0.grad.numpy().T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.grads["W_h"], module.weight_hh_l0.grad.numpy().T, rtol=1e-12, atol=1e-14)
    bias = layer.grads["b_x"] if cls is GRU else layer.grads["b"]
    np.testing.assert_allclose(bias, module.bias_ih_l0.grad.numpy(), rtol=1e-12, atol=1e-14)
    if cls is GRU:  # b_h is not b_x: r multiplies u_n, its bias included
        np.testing.assert_allclose(layer.grads["b_h"], module.bias_hh_l0.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_an_lstm_ported_from_pytorch_sums_its_two_biases() -> None:
    module = torch.nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    layer = LSTM(3, 4, seed=0)
    layer.params["W_x"][:] = module.weight_ih_l0.detach().numpy().T
    layer.params["W_h"][:] = module.weight_hh_l0.detach().numpy().T
    layer.params["b"][:] = (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy()
    x = np.random.default_rng(1).standard_normal((2, 6, 3))
    np.testing.assert_allclose(layer.forward(x), module(torch.from_numpy(x))[0].detach().numpy(), rtol=1e-12)
