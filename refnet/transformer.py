"""A pre-LN transformer block wired with the graph API, and a tiny GPT made of them.

The block (Radford et al. 2019's layout, normalization before each sublayer), on x (N, T, E):

    a = x + MultiHeadAttention(LayerNorm(x))            the tokens exchange information
    y = a + Dense(F → E)(Dense(E → F, gelu)(LayerNorm(a)))   each token on its own (F = 4E)

Both sums are ``Add`` nodes, so x and a fan out and the graph sums their gradients: the residual
path carries grad_y back unchanged, around every sublayer. Nothing here has a backward of its own:
every node is a layer with its hand-written backward, and ``GraphModel`` runs them.

The tiny GPT (a decoder-only language model), on token ids (N, T):

    h = Embedding(ids) + P[:T]                       (N, T, E)   token vectors plus learned positions
    h = block_k(h)  for k = 1 … num_blocks           causal: token t sees tokens 0 … t only
    logits = Dense(E → V)(LayerNorm(h))              (N, T, V)   the next token's scores at every t

trained with CrossEntropy on (N, T, V) logits against the ids shifted by one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from refnet.attention import MultiHeadAttention
from refnet.embedding import Embedding
from refnet.graph import GraphModel
from refnet.layer import Dense
from refnet.layernorm import LayerNorm
from refnet.losses import CrossEntropy
from refnet.merge import Add
from refnet.positional import PositionalEmbedding
from refnet.support.checks import check_int, make_rng
from refnet.wiring import Input, Node

__all__ = ["tiny_gpt", "transformer_block"]


def transformer_block(
    x: Node,
    num_heads: int,
    *,
    causal: bool = True,
    ffn_dim: int | None = None,
    rng: np.random.Generator | None = None,
    dtype: DTypeLike = np.float64,
) -> Node:
    """The node y of a pre-LN block applied to the sequence node x (per-sample shape (T, E)).

    Args:
        x: a graph node of per-sample shape (T, E).
        num_heads: attention heads (E must be divisible by it).
        causal: each token attends only to itself and earlier tokens (a language model's block).
        ffn_dim: F, the width of the feed-forward layer (default 4E).
        rng: where the sublayers' initial weights come from (None: the GraphModel's seed decides).
        dtype: float64 (default) or float32.
    """
    E = x.shape[-1]
    F = 4 * E if ffn_dim is None else check_int(ffn_dim, "ffn_dim")
    attended = MultiHeadAttention(E, num_heads, causal, rng=rng, dtype=dtype)(LayerNorm(E, dtype=dtype)(x))
    a = Add()(x, attended)
    hidden = Dense(E, F, "gelu", rng=rng, dtype=dtype)(LayerNorm(E, dtype=dtype)(a))
    return Add()(a, Dense(F, E, rng=rng, dtype=dtype)(hidden))


def tiny_gpt(
    vocab_size: int,
    max_length: int,
    embed_dim: int = 64,
    num_heads: int = 4,
    num_blocks: int = 2,
    *,
    ffn_dim: int | None = None,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    dtype: DTypeLike = np.float64,
) -> GraphModel:
    """A GraphModel from ids (N, T <= max_length) to next-token logits (N, T, vocab_size), with CrossEntropy.

    Token and position embeddings, ``num_blocks`` causal pre-LN blocks, a final LayerNorm and a Dense
    to the vocabulary. ``rng``/``seed`` draw every initial weight (with neither: from the OS).
    """
    generator = None if rng is None and seed is None else make_rng(rng, seed, "tiny_gpt")
    V, T, E = (
        check_int(vocab_size, "vocab_size"),
        check_int(max_length, "max_length"),
        check_int(embed_dim, "embed_dim"),
    )
    ids = Input((T,))
    tokens = Embedding(V, E, rng=generator, dtype=dtype)(ids)
    h = PositionalEmbedding(T, E, rng=generator, dtype=dtype)(tokens)
    for _ in range(check_int(num_blocks, "num_blocks")):
        h = transformer_block(h, num_heads, causal=True, ffn_dim=ffn_dim, rng=generator, dtype=dtype)
    logits = Dense(E, V, rng=generator, dtype=dtype)(LayerNorm(E, dtype=dtype)(h))
    return GraphModel(ids, logits, CrossEntropy())
