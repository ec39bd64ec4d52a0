"""Recurrent encoders: `model.layers` LSTM or GRU layers over the embedded items, optionally in both directions.

Sequences are right-aligned, so padding comes first: a masked step keeps the carry unchanged, and the
forward direction meets the real items with its initial state, exactly as without padding; the
backward direction reaches the padding only after every real item. Inputs are projected for all
steps at once (one large matmul); only the recurrent product runs step by step (`jax.lax.scan`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.base import SequenceModel
from seqjax.model.embed import Embedder
from seqjax.model.transformer import make_norm
from seqjax.spec import ModelSpec

# Shapes: B batch, L length, D dim, G gates x D (4D for LSTM, 3D for GRU).

_kernel_init = nnx.initializers.lecun_normal()
_recurrent_init = nnx.initializers.orthogonal()


def _lstm(carry, gates_BG, recurrent_DG):
    h_BD, c_BD = carry
    i, f, g, o = jnp.split(gates_BG + h_BD @ recurrent_DG, 4, axis=-1)
    c_BD = jax.nn.sigmoid(f + 1.0) * c_BD + jax.nn.sigmoid(i) * jnp.tanh(g)  # +1: forget little at first
    return jax.nn.sigmoid(o) * jnp.tanh(c_BD), c_BD


def _gru(carry, gates_BG, recurrent_DG):
    (h_BD,) = carry
    x_r, x_z, x_n = jnp.split(gates_BG, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(h_BD @ recurrent_DG, 3, axis=-1)
    r, z = jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return ((1.0 - z) * n + z * h_BD,)


class Direction(nnx.Module):
    """One recurrent layer in one direction."""

    def __init__(self, dim: int, cell: str, *, rngs: nnx.Rngs):
        self.cell = cell
        G = (4 if cell == "lstm" else 3) * dim
        self.input = nnx.Linear(dim, G, kernel_init=nnx.with_partitioning(_kernel_init, ("embed", None)), rngs=rngs)
        self.recurrent = nnx.Param(nnx.with_partitioning(_recurrent_init, (None, None))(rngs.params(), (dim, G)))

    def __call__(self, x_BLD: jax.Array, mask_BL: jax.Array, *, reverse: bool) -> jax.Array:
        B, L, D = x_BLD.shape
        gates_LBG = jnp.swapaxes(self.input(x_BLD.astype(jnp.float32)), 0, 1)
        mask_LB1 = jnp.swapaxes(mask_BL, 0, 1)[..., None]
        recurrent_DG = self.recurrent[...]
        step = _lstm if self.cell == "lstm" else _gru
        start = (jnp.zeros((B, D)), jnp.zeros((B, D))) if self.cell == "lstm" else (jnp.zeros((B, D)),)

        def advance(carry, inputs):
            gates_BG, keep_B1 = inputs
            new = step(carry, gates_BG, recurrent_DG)
            carry = tuple(jnp.where(keep_B1, n, c) for n, c in zip(new, carry))
            return carry, carry[0]

        _, h_LBD = jax.lax.scan(advance, start, (gates_LBG, mask_LB1), reverse=reverse)
        return jnp.swapaxes(h_LBD, 0, 1)


class Recurrent(SequenceModel):
    """Embedded items -> `model.layers` recurrent layers (residual from the second on) -> per-item states."""

    def __init__(self, spec: ModelSpec, meta: Metadata, targets, *, rngs: nnx.Rngs):
        super().__init__(spec, meta, targets)
        encoder = spec.encoder
        self.embed = Embedder(spec, meta, rngs=rngs)
        self.forward = nnx.List([Direction(spec.dim, encoder.cell, rngs=rngs) for _ in range(spec.layers)])
        self.backward = nnx.List([Direction(spec.dim, encoder.cell, rngs=rngs) for _ in range(spec.layers)] if encoder.bidirectional else [])
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)
        self.norm = make_norm(spec, rngs)
        self.make_heads(rngs)

    def encode(self, cat_BLC, real_BLR, mask_BL, positions_BL, cache, *, deterministic: bool):
        x_BLD = self.embed(cat_BLC, real_BLR, positions_BL, deterministic=deterministic).astype(jnp.float32)
        for k, layer in enumerate(self.forward):
            h_BLD = layer(x_BLD, mask_BL, reverse=False)
            if len(self.backward):
                h_BLD = h_BLD + self.backward[k](x_BLD, mask_BL, reverse=True)
            h_BLD = self.dropout(h_BLD, deterministic=deterministic)
            x_BLD = h_BLD if k == 0 else x_BLD + h_BLD
        return self.norm(x_BLD).astype(jnp.float32), None
