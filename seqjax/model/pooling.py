"""Pooling: per-item states h_BLD and the mask -> one vector per sequence z_BD.

Windows and sequences are right-aligned (the last slot holds the last item, padding is on the left),
so `last` is the last slot and an item's age (items after it) is L - 1 - its slot, whatever the
padding: pooling never depends on how sequences were bucketed or batched. Padded items never
change a result: they are excluded from every weighting, maximum and sum.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.spec import ModelSpec
from seqjax.spec import Pooling as PoolingName

# Shapes: B batch, L length, D dim.

NEGATIVE = -1e30
"""Score of padded items in a softmax or a maximum: no weight."""


def pool(kind: PoolingName | str, h_BLD: jax.Array, mask_BL: jax.Array) -> jax.Array:
    """A parameter-free pooling: the last item's state, the mean, the maximum or the sum over real items."""
    weight_BL1 = mask_BL.astype(jnp.float32)[..., None]
    kind = str(kind)
    if kind in ("last", "cls"):
        return h_BLD[:, -1]
    if kind == "mean":
        return jnp.sum(h_BLD * weight_BL1, axis=1) / jnp.maximum(jnp.sum(weight_BL1, axis=1), 1.0)
    if kind == "max":
        return jnp.max(jnp.where(weight_BL1 > 0, h_BLD, NEGATIVE), axis=1) * (jnp.sum(weight_BL1, axis=1) > 0)
    if kind == "sum":
        return jnp.sum(h_BLD * weight_BL1, axis=1)
    raise ValueError(f"pooling {kind!r} has parameters; use the Pooling module")


def ages(mask_BL: jax.Array) -> jax.Array:
    """int32 [B, L]: items after each slot (0 for the last)."""
    L = mask_BL.shape[1]
    return jnp.broadcast_to(L - 1 - jnp.arange(L, dtype=jnp.int32), mask_BL.shape)


def weighted(h_BLD: jax.Array, score_BL: jax.Array, mask_BL: jax.Array) -> jax.Array:
    """The softmax(score)-weighted mean of the real items' states."""
    score_BL = jnp.where(mask_BL, score_BL, NEGATIVE)
    weight_BL = jax.nn.softmax(score_BL, axis=-1) * mask_BL
    return jnp.einsum("bl,bld->bd", weight_BL, h_BLD)


class Pooling(nnx.Module):
    """The pooling `model.pooling` names (or a family's own `kind`), with its parameters if it has any."""

    def __init__(self, spec: ModelSpec, max_length: int, *, kind: str | None = None, rngs: nnx.Rngs):
        chosen = spec.encoder if kind else spec.pooling  # decay, positional, attention families carry their settings
        self.kind = kind or spec.pooling.kind
        self.rate = float(getattr(chosen, "rate", 0.0))
        self.shape = getattr(chosen, "shape", "exponential")
        self.position = nnx.data(None)
        self.query = nnx.data(None)
        if self.kind == "positional":
            # one score per age (0 = the last item); zero: a plain mean to start with
            self.position = nnx.Param(nnx.with_partitioning(nnx.initializers.zeros_init(), ("position",))(rngs.params(), (max_length,)))
        if self.kind == "attention":
            init = nnx.with_partitioning(nnx.initializers.normal(1.0 / spec.dim**0.5), ("embed",))
            self.query = nnx.Param(init(rngs.params(), (spec.dim,)))

    def __call__(self, h_BLD: jax.Array, mask_BL: jax.Array) -> jax.Array:
        h_BLD = h_BLD.astype(jnp.float32)
        if self.kind == "decay":
            age_BL = ages(mask_BL).astype(jnp.float32)
            if self.shape == "linear":
                weight_BL = jnp.maximum(1.0 - self.rate * age_BL, 0.0) * mask_BL
                return jnp.einsum("bl,bld->bd", weight_BL, h_BLD) / jnp.maximum(jnp.sum(weight_BL, axis=1, keepdims=True), 1e-9)
            return weighted(h_BLD, -self.rate * age_BL, mask_BL)
        if self.kind == "positional":
            table = self.position[...]
            return weighted(h_BLD, table[jnp.minimum(ages(mask_BL), table.shape[0] - 1)], mask_BL)
        if self.kind == "attention":
            score_BL = jnp.einsum("bld,d->bl", h_BLD, self.query[...]) / jnp.sqrt(jnp.float32(h_BLD.shape[-1]))
            return weighted(h_BLD, score_BL, mask_BL)
        return pool(self.kind, h_BLD, mask_BL)
