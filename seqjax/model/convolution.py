"""Convolutional encoders: `model.layers` residual 1D convolutions over the embedded items.

Padded items are set to zero before every convolution, which is what a convolution's own zero
padding does at a sequence's start: as sequences are right-aligned, an output never depends on how
much padding precedes it. Causal convolutions pad on the left only (an output sees its item and
earlier ones); otherwise the kernel is centred. Layer k dilates by dilation * 2**k.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.base import SequenceModel
from seqjax.model.embed import Embedder
from seqjax.model.transformer import make_norm
from seqjax.spec import ModelSpec

# Shapes: B batch, L length, D dim, F channels, K kernel.

_kernel_init = nnx.initializers.lecun_normal()


class ConvLayer(nnx.Module):
    """x + project(gelu(conv(norm(x)))), with the convolution's input masked."""

    def __init__(self, spec: ModelSpec, dilation: int, *, rngs: nnx.Rngs):
        encoder = spec.encoder
        F = encoder.channels or spec.dim
        K = encoder.kernel
        self.norm = make_norm(spec, rngs)
        span = dilation * (K - 1)
        self.padding = ((span, 0),) if encoder.causal else ((span // 2, span - span // 2),)
        init = nnx.with_partitioning(_kernel_init, (None, "embed", "mlp"))
        self.conv = nnx.Conv(spec.dim, F, kernel_size=(K,), kernel_dilation=(dilation,), padding=self.padding, kernel_init=init, rngs=rngs)
        self.project = nnx.Linear(F, spec.dim, kernel_init=nnx.with_partitioning(_kernel_init, ("mlp", "embed")), rngs=rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)

    def __call__(self, x_BLD: jax.Array, mask_BL: jax.Array, *, deterministic: bool) -> jax.Array:
        y_BLD = self.norm(x_BLD).astype(jnp.float32) * mask_BL[..., None]
        y_BLF = jax.nn.gelu(self.conv(y_BLD))
        return x_BLD + self.dropout(self.project(y_BLF), deterministic=deterministic)


class Convolution(SequenceModel):
    """Embedded items -> `model.layers` residual dilated convolutions -> per-item states."""

    def __init__(self, spec: ModelSpec, meta: Metadata, targets, *, rngs: nnx.Rngs):
        super().__init__(spec, meta, targets)
        self.embed = Embedder(spec, meta, rngs=rngs)
        self.layers = nnx.List([ConvLayer(spec, spec.encoder.dilation * 2**k, rngs=rngs) for k in range(spec.layers)])
        self.norm = make_norm(spec, rngs)
        self.make_heads(rngs)

    def encode(self, cat_BLC, real_BLR, mask_BL, positions_BL, cache, *, deterministic: bool):
        x_BLD = self.embed(cat_BLC, real_BLR, positions_BL, deterministic=deterministic).astype(jnp.float32)
        for layer in self.layers:
            x_BLD = layer(x_BLD, mask_BL, deterministic=deterministic)
        return self.norm(x_BLD).astype(jnp.float32), None
