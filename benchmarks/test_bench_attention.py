"""A transformer block's training step, and a tiny GPT's, against their floors and PyTorch eager.

The block: pre-LN, causal, batch 32, T = 64, E = 128, 4 heads (d = 32), F = 4E = 512, an MSE
loss on a random target, Adam (lr 1e-3). The tiny GPT: a vocabulary of 96, T = 64, E = 64,
4 heads, 2 blocks, cross-entropy on every position, batch 32, Adam. float32 and float64.

The *floor* of a step is its matrix products, timed in the same rounds into preallocated
outputs (``StepFloor``): per projection (Q, K, V, O and the two feed-forward layers, the GPT's
output layer too) ``X@W`` forward and ``Xᵀ@G``, ``G@Wᵀ`` backward; per head QKᵀ and AV forward,
dA = dZ Vᵀ, dV = Aᵀ dZ, dQ = dS K, dK = dSᵀ Q backward. Everything else (softmax, LayerNorm, GELU,
the residual sums, the loss, Adam's update, Python) comes on top.

The PyTorch peer (skipped where torch is not importable, as in ``test_bench_torch.py``) is the
same block written with ``torch.nn`` modules (``nn.MultiheadAttention`` with a causal mask,
``nn.LayerNorm``, ``nn.GELU``), the same initial weights, 2 threads, one step = zero_grad,
forward, loss, backward, Adam step; for the tiny GPT, ``nn.Embedding`` plus a learned position
table, those blocks, ``nn.LayerNorm`` and ``nn.Linear``, with ``F.cross_entropy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import harness
import numpy as np
import pytest
from numpy.typing import DTypeLike

from refnet import MSE, Adam, GraphModel, Input
from refnet.network import NeuralNetwork
from refnet.training import StepGuard, train_step
from refnet.transformer import transformer_block

Array = harness.Array
DTYPES = ["float32", "float64"]
#: batch, T, E, heads, F
BLOCK = (32, 64, 128, 4, 512)
#: batch, T, E, heads, blocks, vocabulary
GPT = (32, 64, 64, 4, 2, 96)
ROUNDS = 15
THREADS = 2


class StepFloor:
    """The matrix products of one training step, each into a preallocated output.

    ``dense``: (rows, in, out) of every projection; ``heads``: (N·H, T, d) of every attention layer.
    """

    def __init__(self, dense: list[tuple[int, int, int]], heads: list[tuple[int, int, int]], dtype: DTypeLike) -> None:
        self.gemm = harness.GemmBound(dense, dtype)
        rng = np.random.default_rng(0)
        self.attention = []
        for batch, T, d in heads:
            Q, K, V, G = (rng.standard_normal((batch, T, d)).astype(dtype) for _ in range(4))
            A = rng.standard_normal((batch, T, T)).astype(dtype)
            S, Z, dQ = np.empty_like(A), np.empty_like(Q), np.empty_like(Q)
            self.attention.append((Q, K, V, G, A, S, Z, dQ))

    def __call__(self) -> None:
        self.gemm()
        for Q, K, V, G, A, S, Z, dQ in self.attention:
            np.matmul(Q, K.swapaxes(1, 2), out=S)  # scores
            np.matmul(A, V, out=Z)  # weighted sum
            np.matmul(G, V.swapaxes(1, 2), out=S)  # dA
            np.matmul(A.swapaxes(1, 2), G, out=Z)  # dV
            np.matmul(A, K, out=dQ)  # dQ
            np.matmul(A.swapaxes(1, 2), Q, out=dQ)  # dK


def block_floor(dtype: DTypeLike, N: int, T: int, E: int, H: int, F: int, blocks: int = 1) -> tuple[list, list]:
    rows = N * T
    dense = [(rows, E, E)] * 4 + [(rows, E, F), (rows, F, E)]
    return dense * blocks, [(N * H, T, E // H)] * blocks


def block_model(dtype: str) -> tuple[NeuralNetwork, Array, Array]:
    N, T, E, H, F = BLOCK
    x = Input((T, E))
    model = GraphModel(x, transformer_block(x, H, ffn_dim=F, rng=np.random.default_rng(0), dtype=dtype), MSE())
    rng = np.random.default_rng(1)
    return model, rng.standard_normal((N, T, E)).astype(dtype), rng.standard_normal((N, T, E)).astype(dtype)


def gpt_model(dtype: str) -> tuple[NeuralNetwork, Array, Array]:
    from refnet.transformer import tiny_gpt

    N, T, E, H, blocks, V = GPT
    model = tiny_gpt(V, T, E, H, blocks, seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, V, (N, T))
    return model, ids, rng.integers(0, V, (N, T))


def step(model: NeuralNetwork, X: Array, Y: Array) -> Any:
    optimizer = Adam(learning_rate=1e-3)
    _, target = model.core.prepare(X, Y)
    guard = StepGuard(model.layers, optimizer, model.dtype)

    def run() -> None:
        assert train_step(model, guard, X, target)[2] is None

    return run


def torch_block(layers: list[Any], torch: Any, dtype: Any) -> Any:
    """The same pre-LN block in torch, from the weights of refnet's block ``layers`` (nn.Linear keeps W transposed).

    ``layers``: the block's seven, in graph order: LayerNorm, MultiHeadAttention, Add, LayerNorm,
    Dense (gelu), Dense, Add.
    """
    nn = torch.nn
    _, attention, _, _, hidden, out, _ = layers
    E, H = attention.embed_dim, attention.num_heads

    class Block(nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(E, dtype=dtype), nn.LayerNorm(E, dtype=dtype)
            self.attention = nn.MultiheadAttention(E, H, batch_first=True, dtype=dtype)
            self.mlp = nn.Sequential(
                nn.Linear(E, hidden.out, dtype=dtype), nn.GELU(), nn.Linear(hidden.out, E, dtype=dtype)
            )

        def forward(self, x: Any, mask: Any) -> Any:
            h = self.ln1(x)
            a = x + self.attention(h, h, h, attn_mask=mask, need_weights=False)[0]
            return a + self.mlp(self.ln2(a))

    block = Block()
    p = attention.params
    with torch.no_grad():
        block.attention.in_proj_weight.copy_(torch.from_numpy(np.concatenate([p["W_q"], p["W_k"], p["W_v"]], 1).T))
        block.attention.in_proj_bias.copy_(torch.from_numpy(np.concatenate([p["b_q"], p["b_k"], p["b_v"]])))
        block.attention.out_proj.weight.copy_(torch.from_numpy(p["W_o"].T.copy()))
        block.attention.out_proj.bias.copy_(torch.from_numpy(p["b_o"]))
        for linear, dense in ((block.mlp[0], hidden), (block.mlp[2], out)):
            linear.weight.copy_(torch.from_numpy(dense.params["W"].T.copy()))
            linear.bias.copy_(torch.from_numpy(dense.params["b"]))
    return block


def torch_gpt(model: NeuralNetwork, torch: Any, dtype: Any) -> Any:
    """The same tiny GPT in torch, from refnet's weights: embeddings, ``torch_block``'s blocks, LayerNorm, Linear."""
    nn = torch.nn
    embedding, positional, *block_layers, norm, head = model.layers
    blocks = [torch_block(block_layers[i : i + 7], torch, dtype) for i in range(0, len(block_layers), 7)]
    V, E = embedding.params["W"].shape

    class GPT(nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(V, E, dtype=dtype)
            self.positions = nn.Parameter(torch.from_numpy(positional.params["P"].copy()))
            self.blocks = nn.ModuleList(blocks)
            self.norm, self.head = nn.LayerNorm(E, dtype=dtype), nn.Linear(E, V, dtype=dtype)

        def forward(self, ids: Any, mask: Any) -> Any:
            h = self.tokens(ids) + self.positions[: ids.shape[1]]
            for block in self.blocks:
                h = block(h, mask)
            return self.head(self.norm(h))

    gpt = GPT()
    with torch.no_grad():
        gpt.tokens.weight.copy_(torch.from_numpy(embedding.params["W"]))
        gpt.norm.weight.copy_(torch.from_numpy(norm.params["gamma"]))
        gpt.norm.bias.copy_(torch.from_numpy(norm.params["beta"]))
        gpt.head.weight.copy_(torch.from_numpy(head.params["W"].T.copy()))
        gpt.head.bias.copy_(torch.from_numpy(head.params["b"]))
    return gpt


def torch_or_none() -> Any:
    """PyTorch on THREADS threads, or None where it is not installed (only ``nox -s peers`` installs it)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


def causal_mask(torch: Any, T: int) -> Any:
    """PyTorch's boolean attention mask of the future: True above the diagonal (a position never sees later ones)."""
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def torch_adam_step(torch: Any, model: Any, loss: Callable[[], Any]) -> Callable[[], None]:
    """One PyTorch training step of ``model`` on ``loss()`` with Adam (lr 1e-3), as refnet's step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()

    return step


@pytest.mark.parametrize("dtype", DTYPES)
def test_transformer_block_step(benchmark: Any, dtype: str) -> None:
    model, X, Y = block_model(dtype)
    N, T, E, H, F = BLOCK
    dense, heads = block_floor(dtype, N, T, E, H, F)
    peers = {}
    torch = torch_or_none()
    if torch is not None:
        block = torch_block(model.layers, torch, torch.float32 if dtype == "float32" else torch.float64)
        x, y, mask = torch.from_numpy(X), torch.from_numpy(Y), causal_mask(torch, T)
        peers["torch"] = torch_adam_step(torch, block, lambda: torch.nn.functional.mse_loss(block(x, mask), y))
    benchmark.group = "transformer block step"
    harness.run(
        benchmark,
        step(model, X, Y),
        StepFloor(dense, heads, dtype),
        peers=peers,
        n_rounds=ROUNDS,
        bound_name="matmul floor",
        samples=N,
        shape=f"N={N} T={T} E={E} H={H} F={F}",
        dtype=dtype,
        parameters=model.parameter_count(),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiny_gpt_step(benchmark: Any, dtype: str) -> None:
    model, ids, labels = gpt_model(dtype)
    N, T, E, H, blocks, V = GPT
    dense, heads = block_floor(dtype, N, T, E, H, 4 * E, blocks)
    dense = [*dense, (N * T, E, V)]  # the output layer to the vocabulary
    peers = {}
    torch = torch_or_none()
    if torch is not None:
        gpt = torch_gpt(model, torch, torch.float32 if dtype == "float32" else torch.float64)
        x, y, mask = torch.from_numpy(ids), torch.from_numpy(labels).reshape(-1), causal_mask(torch, T)
        peers["torch"] = torch_adam_step(
            torch, gpt, lambda: torch.nn.functional.cross_entropy(gpt(x, mask).reshape(-1, V), y)
        )
    benchmark.group = "tiny GPT step"
    harness.run(
        benchmark,
        step(model, ids, labels),
        StepFloor(dense, heads, dtype),
        peers=peers,
        n_rounds=ROUNDS,
        bound_name="matmul floor",
        samples=N,
        shape=f"N={N} T={T} E={E} H={H} blocks={blocks} V={V}",
        dtype=dtype,
        parameters=model.parameter_count(),
    )
