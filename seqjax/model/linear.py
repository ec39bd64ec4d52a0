"""The linear family: a sequence's embedded items in fixed slots, flattened, through an MLP (sequitur's linear autoencoder).

Sequences are right-aligned in `data.max_length` slots (the last slot holds the last item), so a weight
always meets the item at the same distance from the end, whatever the bucket; padded slots are zero.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.base import SequenceModel
from seqjax.model.embed import Embedder
from seqjax.model.heads import Heads
from seqjax.model.statics import StaticFusion
from seqjax.spec import ModelSpec, Position

# Shapes: B batch, L length (of the bucket), M slots (data.max_length), D dim, F flattened or hidden width.

_kernel_init = nnx.initializers.lecun_normal()


def mlp(widths: list[int], rngs: nnx.Rngs) -> nnx.List:
    """Dense layers between consecutive `widths`."""
    init = nnx.with_partitioning(_kernel_init, (None, None))
    return nnx.List([nnx.Linear(a, b, kernel_init=init, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])


def to_slots(x_BLD: jax.Array, slots: int) -> jax.Array:
    """[B, L, D] right-aligned items -> [B, slots, D], padded with zeros on the left (L <= slots)."""
    return jnp.pad(x_BLD, ((0, 0), (slots - x_BLD.shape[1], 0), (0, 0)))


class Linear(SequenceModel):
    """Embedded items (zero on padding) in `data.max_length` slots, flattened -> GELU layers of `encoder.hidden` -> z."""

    def __init__(self, spec: ModelSpec, meta: Metadata, targets, *, rngs: nnx.Rngs):
        super().__init__(spec, meta, targets)
        self.slots = meta.context
        self.embed = Embedder(spec, meta, rngs=rngs)
        self.layers = mlp([self.slots * spec.dim, *spec.encoder.hidden], rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)
        self.width = spec.encoder.hidden[-1]
        self.make_heads(rngs)

    def make_heads(self, rngs: nnx.Rngs) -> None:
        """Static features and heads at the last hidden width (not `model.dim`); no pooling."""
        self.pooling = nnx.data(None)
        self.statics = nnx.data(None)
        if self.per_sequence and self.statics_meta:
            narrow = dataclasses.replace(self.spec, dim=self.width, heads=1, position=Position.NONE)
            self.statics = StaticFusion(narrow, self.statics_meta, rngs=rngs)
        self.heads = Heads(self.width, self.target_columns, rngs=rngs)

    def summarize(self, cat_BLC, real_BLR, mask_BL, *, deterministic: bool) -> jax.Array:
        L = mask_BL.shape[1]
        positions_BL = jnp.broadcast_to(self.slots - L + jnp.arange(L, dtype=jnp.int32), mask_BL.shape)  # the slot, as in any bucket
        x_BLD = self.embed(cat_BLC, real_BLR, positions_BL, deterministic=deterministic).astype(jnp.float32) * mask_BL[..., None]
        x_BF = to_slots(x_BLD, self.slots).reshape(x_BLD.shape[0], -1)
        for k, layer in enumerate(self.layers):
            x_BF = layer(x_BF)
            if k < len(self.layers) - 1:
                x_BF = self.dropout(jax.nn.gelu(x_BF), deterministic=deterministic)
        return x_BF
