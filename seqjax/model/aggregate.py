"""The aggregation family: statistics of the whole sequence, then an MLP (the fast baseline).

Per real column: mean, standard deviation, minimum, maximum and last value over the real items; per
categorical column: the share of each class; and log(1 + items). Order is lost except for `last`,
which is why the sequence encoders beat it wherever order or timing matters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.base import SequenceModel
from seqjax.spec import ModelSpec

# Shapes: B batch, L length, C categorical columns, R real columns, V classes of a column, F features, D dim.

_kernel_init = nnx.initializers.lecun_normal()


def statistics(cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array, vocab_sizes: tuple[int, ...]) -> jax.Array:
    """float32 [B, F] features of each sequence's real items (padding never counts)."""
    w_BL1 = mask_BL.astype(jnp.float32)[..., None]
    n_B1 = jnp.maximum(jnp.sum(w_BL1, axis=1), 1.0)
    parts = [jnp.log1p(jnp.sum(w_BL1, axis=1))]
    if real_BLR.shape[-1]:
        x = real_BLR.astype(jnp.float32)
        mean_BR = jnp.sum(x * w_BL1, axis=1) / n_B1
        var_BR = jnp.sum(jnp.square(x - mean_BR[:, None]) * w_BL1, axis=1) / n_B1
        big = 1e30
        parts += [mean_BR, jnp.sqrt(var_BR + 1e-12), jnp.min(jnp.where(w_BL1 > 0, x, big), axis=1), jnp.max(jnp.where(w_BL1 > 0, x, -big), axis=1), x[:, -1]]
    for c, vocab in enumerate(vocab_sizes):
        parts.append(jnp.sum(jax.nn.one_hot(cat_BLC[..., c], vocab) * w_BL1, axis=1) / n_B1)
    features = jnp.concatenate(parts, axis=-1)
    return jnp.where(jnp.sum(w_BL1, axis=1) > 0, features, 0.0)


class Aggregate(SequenceModel):
    """statistics -> LayerNorm -> `model.layers` GELU layers of width `model.dim` -> z_BD."""

    def __init__(self, spec: ModelSpec, meta: Metadata, targets, *, rngs: nnx.Rngs):
        super().__init__(spec, meta, targets)
        self.vocab_sizes = tuple(c.vocab_size for c in meta.categorical)
        features = 1 + 5 * len(meta.real) + sum(self.vocab_sizes)
        self.norm = nnx.LayerNorm(features, scale_init=nnx.with_partitioning(nnx.initializers.ones_init(), ("norm",)),
                                  bias_init=nnx.with_partitioning(nnx.initializers.zeros_init(), ("norm",)), rngs=rngs)  # fmt: skip
        widths = [features] + [spec.dim] * max(spec.layers, 1)
        init = nnx.with_partitioning(_kernel_init, (None, "embed"))
        self.layers = nnx.List([nnx.Linear(a, b, kernel_init=init, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)
        self.make_heads(rngs)

    def summarize(self, cat_BLC, real_BLR, mask_BL, *, deterministic: bool) -> jax.Array:
        x_BF = self.norm(statistics(cat_BLC, real_BLR, mask_BL, self.vocab_sizes))
        for layer in self.layers:
            x_BF = self.dropout(jax.nn.gelu(layer(x_BF)), deterministic=deterministic)
        return x_BF
