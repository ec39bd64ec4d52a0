"""Per-item encoders for the weighting families (decay, positional, attention): each item's embedding through
an MLP of `model.layers` residual layers, independently of the others; the family's pooling then weighs them."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.base import SequenceModel
from seqjax.model.embed import Embedder
from seqjax.model.mlp import FeedForward
from seqjax.model.transformer import make_norm
from seqjax.spec import ModelSpec


class Items(SequenceModel):
    """Embedded items -> residual MLP layers (no item sees another) -> per-item states, pooled by the family's weighting."""

    def __init__(self, spec: ModelSpec, meta: Metadata, targets, *, rngs: nnx.Rngs):
        super().__init__(spec, meta, targets)
        self.pooling_kind = spec.encoder.pooling_kind
        self.embed = Embedder(spec, meta, rngs=rngs)
        self.norms = nnx.List([make_norm(spec, rngs) for _ in range(spec.layers)])
        self.mlps = nnx.List([FeedForward(spec, rngs=rngs) for _ in range(spec.layers)])
        self.norm = make_norm(spec, rngs)
        self.make_heads(rngs)

    def encode(self, cat_BLC, real_BLR, mask_BL, positions_BL, cache, *, deterministic: bool):
        x_BLD = self.embed(cat_BLC, real_BLR, positions_BL, deterministic=deterministic)
        for norm, mlp in zip(self.norms, self.mlps):
            x_BLD = x_BLD + mlp(norm(x_BLD), deterministic=deterministic)
        return self.norm(x_BLD).astype(jnp.float32), None


