"""Static features (one value per sequence) fused with the pooled sequence vector: z + MLP([z, s])."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import ColumnMeta
from seqjax.spec import ModelSpec

# Shapes: B batch, D dim, S static features (categorical or real).

_kernel_init = nnx.initializers.lecun_normal()


class StaticFusion(nnx.Module):
    """Each categorical static feature has an embedding table, the real ones one projection; their sum s
    joins the pooled vector z through a residual MLP over [z, s]."""

    def __init__(self, spec: ModelSpec, statics: tuple[ColumnMeta, ...], *, rngs: nnx.Rngs):
        D = spec.dim
        embed_init = nnx.with_partitioning(nnx.initializers.normal(1.0), ("vocab", "embed"))
        self.tables = nnx.List([nnx.Embed(c.vocab_size, D, embedding_init=embed_init, rngs=rngs) for c in statics if c.categorical])
        reals = [c for c in statics if not c.categorical]
        self.real = nnx.data(None)
        if reals:
            self.real = nnx.Linear(len(reals), D, use_bias=False, kernel_init=nnx.with_partitioning(_kernel_init, ("real", "embed")), rngs=rngs)
        self.inner = nnx.Linear(2 * D, D, kernel_init=nnx.with_partitioning(_kernel_init, (None, "embed")), rngs=rngs)
        self.outer = nnx.Linear(D, D, kernel_init=nnx.with_partitioning(nnx.initializers.zeros_init(), ("embed", None)), rngs=rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)

    def __call__(self, z_BD: jax.Array, static_cat_BS: jax.Array, static_real_BS: jax.Array, *, deterministic: bool) -> jax.Array:
        s_BD = jnp.zeros_like(z_BD)
        for k, table in enumerate(self.tables):
            s_BD = s_BD + table(static_cat_BS[:, k])
        if self.real is not None:
            s_BD = s_BD + self.real(static_real_BS)
        u_BD = jax.nn.gelu(self.inner(jnp.concatenate([z_BD, s_BD], axis=-1)))
        return z_BD + self.dropout(self.outer(u_BD), deterministic=deterministic)
