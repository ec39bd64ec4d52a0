"""The feed-forward part of a block: SwiGLU (default) or GELU, with dropout on the output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.spec import Mlp, ModelSpec

# Shapes: B batch, L length, D dim, F mlp width, T branches (2 for SwiGLU, 1 for GELU).

_kernel_init = nnx.initializers.lecun_normal()


class FeedForward(nnx.Module):
    """D -> F -> D; SwiGLU multiplies a SiLU-gated branch with a linear one."""

    def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs):
        D, F = spec.dim, spec.mlp_dim
        dtype = jnp.dtype(str(spec.dtype))

        self.gated = spec.mlp == Mlp.SWIGLU
        # One matmul makes both SwiGLU branches (gate, then linear); GELU has one branch.
        xavier = spec.block_init == "xavier"
        up_init = nnx.initializers.xavier_uniform() if xavier else _kernel_init
        down_init = nnx.initializers.xavier_uniform() if xavier else _kernel_init
        init = nnx.with_partitioning(up_init, ("embed", "branch", "mlp"))
        self.up = nnx.LinearGeneral(D, (2 if self.gated else 1, F), use_bias=spec.mlp_bias, dtype=dtype, kernel_init=init,
                                   bias_init=nnx.with_partitioning(nnx.initializers.zeros_init(), ("branch", "mlp")), rngs=rngs)
        init = nnx.with_partitioning(down_init, ("mlp", "embed"))
        self.down = nnx.Linear(F, D, use_bias=spec.mlp_bias, dtype=dtype, kernel_init=init,
                               bias_init=nnx.with_partitioning(nnx.initializers.zeros_init(), ("embed",)), rngs=rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)
        self.hidden_dropout = nnx.Dropout(spec.dropout, rngs=rngs) if spec.inner_dropout and spec.dropout else nnx.data(None)

    def __call__(self, x_BLD: jax.Array, *, deterministic: bool) -> jax.Array:
        """Apply the MLP position-wise."""
        up_BLTF = self.up(x_BLD)
        if self.gated:
            gate_BL1F, linear_BL1F = jnp.split(up_BLTF, 2, axis=-2)  # its gradient is one concatenation
            h_BLF = (jax.nn.silu(gate_BL1F) * linear_BL1F)[..., 0, :]
        else:
            h_BLF = jax.nn.gelu(up_BLTF[..., 0, :])
        if self.hidden_dropout is not None:
            h_BLF = self.hidden_dropout(h_BLF, deterministic=deterministic)
        return self.dropout(self.down(h_BLF), deterministic=deterministic)
