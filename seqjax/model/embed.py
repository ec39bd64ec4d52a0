"""Input embeddings: one table per categorical column, a projection of the real columns, positions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.sharding import constrain
from seqjax.spec import ModelSpec, Position

# Shapes: B batch, L length, C categorical columns, R real columns, D dim.

# Every column enters the residual stream with norm about 1 at init; benchmarks/RESULTS.md ("Learning at
# equal steps") has what each of these choices changed:
# - categorical rows and learned positions are stored with std 1 / D and multiplied by sqrt(D) when looked
#   up (std 1 / sqrt(D) per feature once scaled). An Adam step moves a stored value by about the learning
#   rate whatever its size, so these rows learn sqrt(D) times faster than rows stored at full size; and a
#   position weighs as much as a column (std 0.02 per feature, as before, learned the order more slowly);
# - a real column's kernel row has std 1 / sqrt(D) and there is a bias, so a value of one standard
#   deviation enters like a categorical row. A lecun-normal kernel (fan-in R: std 1 / sqrt(R)) made the
#   reals outweigh the categorical columns, and after the norms a value's magnitude was hard to read.
_real_init = nnx.initializers.variance_scaling(1.0, "fan_out", "normal")


def sinusoidal(positions_BL: jax.Array, dim: int) -> jax.Array:
    """Fixed sin/cos position features [B, L, dim] (sin in the first half, cos in the second)."""
    half = dim // 2
    freqs = jnp.exp(-jnp.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
    angles_BLh = positions_BL.astype(jnp.float32)[..., None] * freqs
    features = jnp.concatenate([jnp.sin(angles_BLh), jnp.cos(angles_BLh)], axis=-1)
    return jnp.pad(features, ((0, 0), (0, 0), (0, dim - 2 * half)))


class Embedder(nnx.Module):
    """Sums per-column embeddings (and absolute positions, if chosen) into the residual stream.

    x = sqrt(D) * (sum over categorical columns of table[id] + learned position) + real @ kernel + bias
    """

    def __init__(self, spec: ModelSpec, meta: Metadata, *, rngs: nnx.Rngs):
        dtype = jnp.dtype(str(spec.dtype))
        self.dim = spec.dim
        self.position = spec.position
        self.max_length = meta.context
        self.dtype = dtype
        self.scale = spec.dim**0.5
        init = nnx.with_partitioning(nnx.initializers.normal(1.0 / spec.dim), ("vocab", "embed"))
        self.columns = nnx.List([nnx.Embed(c.vocab_size, spec.dim, dtype=dtype, embedding_init=init, rngs=rngs) for c in meta.categorical])
        self.real = nnx.data(None)  # marked as data: holds a Module when there are real columns
        if meta.real:
            init = nnx.with_partitioning(_real_init, ("real", "embed"))
            bias = nnx.with_partitioning(nnx.initializers.zeros_init(), ("embed",))
            self.real = nnx.Linear(len(meta.real), spec.dim, dtype=dtype, kernel_init=init, bias_init=bias, rngs=rngs)
        self.learned = nnx.data(None)
        if spec.position == Position.LEARNED:
            init = nnx.with_partitioning(nnx.initializers.normal(1.0 / spec.dim), ("position", "embed"))
            self.learned = nnx.Embed(meta.context, spec.dim, dtype=dtype, embedding_init=init, rngs=rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)

    def _lookup(self, table: nnx.Embed, ids_BL: jax.Array) -> jax.Array:
        """Rows of a table; the table is gathered whole first, as FSDP does for every parameter."""
        table_VD = constrain(table.embedding[...].astype(self.dtype), ("vocab", "hidden"))
        return jnp.take(table_VD, ids_BL, axis=0)

    def __call__(self, cat_BLC: jax.Array, real_BLR: jax.Array, positions_BL: jax.Array, *, deterministic: bool) -> jax.Array:
        """Embed one window of items: [B, L, C] ids and [B, L, R] reals -> [B, L, D]."""
        B, L = positions_BL.shape
        x_BLD = jnp.zeros((B, L, self.dim), self.dtype)
        for c, table in enumerate(self.columns):
            x_BLD = x_BLD + self._lookup(table, cat_BLC[..., c])
        if self.learned is not None:
            # positions past the table (generation beyond the context) reuse the last row
            x_BLD = x_BLD + self._lookup(self.learned, jnp.clip(positions_BL, 0, self.max_length - 1))
        x_BLD = self.scale * x_BLD
        if self.real is not None:
            x_BLD = x_BLD + self.real(real_BLR.astype(self.dtype))
        if self.position == Position.SINUSOIDAL:
            x_BLD = x_BLD + sinusoidal(positions_BL, self.dim).astype(self.dtype)
        return self.dropout(x_BLD, deterministic=deterministic)
