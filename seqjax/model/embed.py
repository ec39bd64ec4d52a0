"""Input embeddings: one table per categorical column, a projection of the real columns, positions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.sharding import constrain
from seqjax.spec import ModelSpec, Position

# Shapes: B batch, L length, C categorical columns, R real columns, D dim.

_embed_init = nnx.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)
_kernel_init = nnx.initializers.lecun_normal()


def sinusoidal(positions_BL: jax.Array, dim: int) -> jax.Array:
    """Fixed sin/cos position features [B, L, dim] (sin in the first half, cos in the second)."""
    half = dim // 2
    freqs = jnp.exp(-jnp.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
    angles_BLh = positions_BL.astype(jnp.float32)[..., None] * freqs
    features = jnp.concatenate([jnp.sin(angles_BLh), jnp.cos(angles_BLh)], axis=-1)
    return jnp.pad(features, ((0, 0), (0, 0), (0, dim - 2 * half)))


class PerColumn(nnx.Module):
    """Each real column r to its own W features: real_r * kernel[r] (+ bias[r]); [B, L, R] -> [B, L, R * W]."""

    def __init__(self, columns: int, width: int, *, init, bias: bool, dtype, rngs: nnx.Rngs):
        self.kernel = nnx.Param(nnx.with_partitioning(init, ("real", "embed"))(rngs.params(), (columns, width), jnp.float32))
        self.bias = nnx.data(None)
        if bias:
            self.bias = nnx.Param(nnx.with_partitioning(nnx.initializers.zeros_init(), ("real", "embed"))(rngs.params(), (columns, width), jnp.float32))
        self.dtype = dtype

    def __call__(self, real_BLR: jax.Array) -> jax.Array:
        y_BLRW = real_BLR[..., None] * self.kernel[...].astype(self.dtype)
        if self.bias is not None:
            y_BLRW = y_BLRW + self.bias[...].astype(self.dtype)
        return y_BLRW.reshape(*real_BLR.shape[:-1], -1)


class Embedder(nnx.Module):
    """Sums per-column embeddings (and absolute positions, if chosen) into the residual stream."""

    def __init__(self, spec: ModelSpec, meta: Metadata, *, rngs: nnx.Rngs):
        dtype = jnp.dtype(str(spec.dtype))
        self.dim = spec.dim
        self.position = spec.position
        self.max_length = meta.context
        self.dtype = dtype
        self.concat = spec.input == "concat"
        self.multiplier = spec.embed_multiplier
        self.position_multiplier = spec.position_multiplier
        self.real_multiplier = spec.real_multiplier
        n = len(meta.categorical) + len(meta.real)
        widths = [spec.dim] * len(meta.categorical)
        if self.concat:
            widths = [spec.dim // n] * len(meta.categorical)
            if widths:
                widths[0] += spec.dim - (spec.dim // n) * n
        embed_init = nnx.initializers.normal(spec.embed_std) if spec.embed_std else _embed_init
        self.columns = nnx.List(
            [
                nnx.Embed(c.vocab_size, w, dtype=dtype, embedding_init=nnx.with_partitioning(embed_init, ("vocab", "embed")), rngs=rngs)
                for c, w in zip(meta.categorical, widths)
            ]
        )
        self.real = nnx.data(None)  # marked as data: holds a Module when there are real columns
        if meta.real:
            kernel_init = nnx.initializers.normal(spec.real_std) if spec.real_std else _kernel_init
            if self.concat:
                self.real = PerColumn(len(meta.real), spec.dim // n, init=kernel_init, bias=spec.real_bias, dtype=dtype, rngs=rngs)
            else:
                init = nnx.with_partitioning(kernel_init, ("real", "embed"))
                bias = nnx.with_partitioning(nnx.initializers.zeros_init(), ("embed",))
                self.real = nnx.Linear(len(meta.real), spec.dim, use_bias=spec.real_bias, dtype=dtype, kernel_init=init, bias_init=bias, rngs=rngs)
        self.learned = nnx.data(None)
        if spec.position == Position.LEARNED:
            init = nnx.with_partitioning(nnx.initializers.normal(0.02 / spec.position_multiplier), ("position", "embed"))
            self.learned = nnx.Embed(meta.context, spec.dim, dtype=dtype, embedding_init=init, rngs=rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)

    def _lookup(self, table: nnx.Embed, ids_BL: jax.Array) -> jax.Array:
        """Rows of a table; the table is gathered whole first, as FSDP does for every parameter."""
        table_VD = constrain(table.embedding[...].astype(self.dtype), ("vocab", "hidden"))
        return jnp.take(table_VD, ids_BL, axis=0)

    def __call__(self, cat_BLC: jax.Array, real_BLR: jax.Array, positions_BL: jax.Array, *, deterministic: bool) -> jax.Array:
        """Embed one window of items: [B, L, C] ids and [B, L, R] reals -> [B, L, D]."""
        B, L = positions_BL.shape
        if self.concat:
            parts = [self.multiplier * self._lookup(table, cat_BLC[..., c]) for c, table in enumerate(self.columns)]
            if self.real is not None:
                parts.append(self.real(real_BLR.astype(self.dtype)))
            x_BLD = jnp.concatenate(parts, axis=-1)
        else:
            x_BLD = jnp.zeros((B, L, self.dim), self.dtype)
            for c, table in enumerate(self.columns):
                x_BLD = x_BLD + self.multiplier * self._lookup(table, cat_BLC[..., c])
            if self.real is not None:
                x_BLD = x_BLD + self.real_multiplier * self.real(real_BLR.astype(self.dtype))
        if self.learned is not None:
            # positions past the table (generation beyond the context) reuse the last row
            x_BLD = x_BLD + self.position_multiplier * self._lookup(self.learned, jnp.clip(positions_BL, 0, self.max_length - 1))
        if self.position == Position.SINUSOIDAL:
            x_BLD = x_BLD + sinusoidal(positions_BL, self.dim).astype(self.dtype)
        return self.dropout(x_BLD, deterministic=deterministic)
