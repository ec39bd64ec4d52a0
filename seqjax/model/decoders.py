"""Decoders of autoencoders: a code per sequence -> per-item states h_BLD for the item heads.

    lstm         the code (projected to D) fed at every real item to `model.layers` LSTM layers
    transformer  positions (sinusoidal, counted from the first item) through bidirectional blocks that also attend
                 to the code unfolded into `memory` tokens
    linear       an MLP mirroring the linear encoder's widths, out to every slot of `data.max_length`

Sequences are right-aligned: padding comes first, and the LSTM keeps its zero state through it, so it meets the
first real item exactly as without padding; the transformer's positions count from the first real item; the
linear decoder's slots are counted from the end. No output of a real item depends on the padding.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.model.embed import sinusoidal
from seqjax.model.linear import mlp
from seqjax.model.recurrent import Direction
from seqjax.model.transformer import Block, make_norm
from seqjax.spec import ModelSpec, TransformerEncoder

# Shapes: B batch, L length, D dim, K code width, M memory tokens, H heads, E head dim, F hidden width.

_kernel_init = nnx.initializers.xavier_uniform()


class RecurrentDecoder(nnx.Module):
    """code -> D, repeated at every item -> LSTM layers (residual from the second) -> norm."""

    def __init__(self, spec: ModelSpec, code_dim: int, *, rngs: nnx.Rngs):
        init = nnx.with_partitioning(nnx.initializers.lecun_normal(), (None, "embed"))
        self.input = nnx.Linear(code_dim, spec.dim, kernel_init=init, rngs=rngs)
        self.layers = nnx.List([Direction(spec.dim, "lstm", rngs=rngs) for _ in range(spec.layers)])
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)
        self.norm = make_norm(spec, rngs)

    def __call__(self, code_BK: jax.Array, mask_BL: jax.Array, order_BL: jax.Array, *, deterministic: bool) -> jax.Array:
        x_BD = self.input(code_BK)
        x_BLD = jnp.broadcast_to(x_BD[:, None], (*mask_BL.shape, x_BD.shape[-1]))
        for k, layer in enumerate(self.layers):
            h_BLD = self.dropout(layer(x_BLD, mask_BL, reverse=False), deterministic=deterministic)
            x_BLD = h_BLD if k == 0 else x_BLD + h_BLD
        return self.norm(x_BLD).astype(jnp.float32)


class CrossAttention(nnx.Module):
    """Every position attends to the memory tokens (no mask: every token is real)."""

    def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs):
        D, H, E = spec.dim, spec.heads, spec.head_dim
        init = nnx.with_partitioning(_kernel_init, ("embed", "heads", "head_dim"))
        self.query = nnx.LinearGeneral(D, (H, E), use_bias=False, kernel_init=init, rngs=rngs)
        init = nnx.with_partitioning(_kernel_init, ("embed", "qkv", "heads", "head_dim"))
        self.key_value = nnx.LinearGeneral(D, (2, H, E), use_bias=False, kernel_init=init, rngs=rngs)
        init = nnx.with_partitioning(_kernel_init, ("heads", "head_dim", "embed"))
        self.out = nnx.LinearGeneral((H, E), D, axis=(-2, -1), use_bias=False, kernel_init=init, rngs=rngs)

    def __call__(self, x_BLD: jax.Array, memory_BMD: jax.Array) -> jax.Array:
        q_BLHE = self.query(x_BLD.astype(jnp.float32))
        kv_BM2HE = self.key_value(memory_BMD)
        y_BLHE = jax.nn.dot_product_attention(q_BLHE, kv_BM2HE[:, :, 0], kv_BM2HE[:, :, 1])
        return self.out(y_BLHE)


class TransformerDecoder(nnx.Module):
    """Positions -> blocks of (bidirectional self-attention, MLP) each followed by attention to the code's tokens -> norm."""

    def __init__(self, spec: ModelSpec, code_dim: int, memory: int, *, rngs: nnx.Rngs):
        D = spec.dim
        bidirectional = dataclasses.replace(spec, encoder=TransformerEncoder(causal=False))
        self.tokens, self.dim = memory, D
        init = nnx.with_partitioning(nnx.initializers.lecun_normal(), (None, "embed"))
        self.memory = nnx.Linear(code_dim, memory * D, kernel_init=init, rngs=rngs)
        self.blocks = nnx.List([Block(bidirectional, rngs=rngs) for _ in range(spec.layers)])
        self.cross_norms = nnx.List([make_norm(spec, rngs) for _ in range(spec.layers)])
        self.cross = nnx.List([CrossAttention(spec, rngs=rngs) for _ in range(spec.layers)])
        self.norm = make_norm(spec, rngs)

    def __call__(self, code_BK: jax.Array, mask_BL: jax.Array, order_BL: jax.Array, *, deterministic: bool) -> jax.Array:
        memory_BMD = self.memory(code_BK).reshape(code_BK.shape[0], self.tokens, self.dim)
        x_BLD = sinusoidal(order_BL, self.dim)
        for block, norm, cross in zip(self.blocks, self.cross_norms, self.cross):
            x_BLD = x_BLD + cross(norm(x_BLD), memory_BMD)
            x_BLD, _ = block(x_BLD, order_BL, mask_BL, None, deterministic=deterministic)
        return self.norm(x_BLD).astype(jnp.float32)


class LinearDecoder(nnx.Module):
    """code -> GELU layers of the encoder's widths in reverse -> `slots` x D, of which the bucket keeps its last L."""

    def __init__(self, spec: ModelSpec, code_dim: int, hidden: tuple[int, ...], slots: int, *, rngs: nnx.Rngs):
        self.slots, self.dim = slots, spec.dim
        self.layers = mlp([code_dim, *reversed(hidden), slots * spec.dim], rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)

    def __call__(self, code_BK: jax.Array, mask_BL: jax.Array, order_BL: jax.Array, *, deterministic: bool) -> jax.Array:
        x_BF = code_BK
        for k, layer in enumerate(self.layers):
            x_BF = layer(x_BF)
            if k < len(self.layers) - 1:
                x_BF = self.dropout(jax.nn.gelu(x_BF), deterministic=deterministic)
        return x_BF.reshape(code_BK.shape[0], self.slots, self.dim)[:, self.slots - mask_BL.shape[1] :]


def make_decoder(kind: str, spec: ModelSpec, code_dim: int, *, memory: int, slots: int, rngs: nnx.Rngs) -> nnx.Module:
    """The decoder `kind` names (lstm, transformer or linear)."""
    if kind == "transformer":
        return TransformerDecoder(spec, code_dim, memory, rngs=rngs)
    if kind == "linear":
        hidden = getattr(spec.encoder, "hidden", (spec.dim,))
        return LinearDecoder(spec, code_dim, hidden, slots, rngs=rngs)
    return RecurrentDecoder(spec, code_dim, rngs=rngs)
