"""The feed-forward part of a block: SwiGLU (default) or GELU, with dropout on the output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.spec import Mlp, ModelSpec

# Shapes: B batch, L length, D dim, F mlp width.

_kernel_init = nnx.initializers.lecun_normal()


class FeedForward(nnx.Module):
    """D -> F -> D; SwiGLU multiplies a SiLU-gated branch with a linear one."""

    def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs):
        D, F = spec.dim, spec.mlp_dim
        dtype = jnp.dtype(str(spec.dtype))

        def linear(n_in: int, n_out: int, names: tuple[str, str]) -> nnx.Linear:
            init = nnx.with_partitioning(_kernel_init, names)
            return nnx.Linear(n_in, n_out, use_bias=False, dtype=dtype, kernel_init=init, rngs=rngs)

        self.gated = spec.mlp == Mlp.SWIGLU
        self.up = linear(D, F, ("embed", "mlp"))
        self.gate = linear(D, F, ("embed", "mlp")) if self.gated else nnx.data(None)
        self.down = linear(F, D, ("mlp", "embed"))
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)

    def __call__(self, x_BLD: jax.Array, *, deterministic: bool) -> jax.Array:
        """Apply the MLP position-wise."""
        if self.gate is not None:
            h_BLF = jax.nn.silu(self.gate(x_BLD)) * self.up(x_BLD)
        else:
            h_BLF = jax.nn.gelu(self.up(x_BLD))
        return self.dropout(self.down(h_BLF), deterministic=deterministic)
