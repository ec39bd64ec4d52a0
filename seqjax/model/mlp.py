"""The feed-forward part of a block: SwiGLU (default) or GELU, with dropout on the output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.spec import Mlp, ModelSpec

# Shapes: B batch, L length, D dim, F mlp width, T branches (2 for SwiGLU, 1 for GELU).

# Glorot-uniform over the flattened kernel (both SwiGLU branches count in the fan-out), as in attention.py.
_kernel_init = nnx.initializers.xavier_uniform()


class FeedForward(nnx.Module):
    """D -> F -> D; SwiGLU multiplies a SiLU-gated branch with a linear one."""

    def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs):
        D, F = spec.dim, spec.mlp_dim
        dtype = jnp.dtype(str(spec.dtype))

        self.gated = spec.mlp == Mlp.SWIGLU
        # One matmul makes both SwiGLU branches (gate, then linear); GELU has one branch.
        init = nnx.with_partitioning(_kernel_init, ("embed", "branch", "mlp"))
        self.up = nnx.LinearGeneral(D, (2 if self.gated else 1, F), use_bias=False, dtype=dtype, kernel_init=init, rngs=rngs)
        init = nnx.with_partitioning(_kernel_init, ("mlp", "embed"))
        self.down = nnx.Linear(F, D, use_bias=False, dtype=dtype, kernel_init=init, rngs=rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)

    def __call__(self, x_BLD: jax.Array, *, deterministic: bool) -> jax.Array:
        """Apply the MLP position-wise."""
        up_BLTF = self.up(x_BLD)
        if self.gated:
            gate_BL1F, linear_BL1F = jnp.split(up_BLTF, 2, axis=-2)  # its gradient is one concatenation
            h_BLF = (jax.nn.silu(gate_BL1F) * linear_BL1F)[..., 0, :]
        else:
            h_BLF = jax.nn.gelu(up_BLTF[..., 0, :])
        return self.dropout(self.down(h_BLF), deterministic=deterministic)
