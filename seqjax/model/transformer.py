"""The transformer encoder: embeddings -> pre-norm blocks -> final norm (-> heads, see seqjax.model.base).

Shape suffixes used across seqjax/model:
  B batch          L length (items in this call)   S cache length (slots)
  C categorical columns   R real columns           D dim (residual width)
  H heads          G kv heads                      K head dim
  F mlp width      V vocab (ids of one categorical column)

Inputs follow the metadata's column order: cat_BLC holds the categorical columns'
ids (0 = padding), real_BLR the standardised real columns, mask_BL is False on
padding. Parameters are float32; activations use `ModelSpec.dtype`; outputs are float32.
Attention logits and softmax, norm statistics and the heads compute in float32 whatever
the compute dtype. With `ModelSpec.remat`, each block's activations are recomputed in
the backward pass instead of stored (the KV-cache path never rematerializes).

Dropout: each dropout layer owns an RNG stream forked from `rngs["dropout"]`; its
key and count are part of `nnx.state(model)` (`nnx.RngState`). A pure train step
calls `nnx.reseed(model, dropout=jax.random.fold_in(jax.random.key(seed), step))`
after `nnx.merge`, so masks depend on (seed, step) only and a resumed run replays them.

Generation: `cache = model.init_cache(batch, slots)`, then `model(prefix..., cache=cache)`
(prefill) and `model(one_item..., cache=cache)` per step; positions continue from the cache.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.attention import Attention, KVCache
from seqjax.model.base import SequenceModel
from seqjax.model.embed import Embedder
from seqjax.model.mlp import FeedForward
from seqjax.model.sharding import constrain
from seqjax.spec import ModelSpec, Norm

ACTIVATION = ("batch", "length", "hidden")
"""Logical names of the residual stream x_BLD."""


def make_norm(spec: ModelSpec, rngs: nnx.Rngs) -> nnx.RMSNorm | nnx.LayerNorm:
    """RMSNorm or LayerNorm over D, float32 parameters, output in the compute dtype."""
    dtype = jnp.dtype(str(spec.dtype))
    scale = nnx.with_partitioning(nnx.initializers.ones_init(), ("norm",))
    if spec.norm == Norm.LAYERNORM:
        bias = nnx.with_partitioning(nnx.initializers.zeros_init(), ("norm",))
        return nnx.LayerNorm(spec.dim, dtype=dtype, scale_init=scale, bias_init=bias, rngs=rngs)
    return nnx.RMSNorm(spec.dim, dtype=dtype, scale_init=scale, rngs=rngs)


class Block(nnx.Module):
    """x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs):
        self.attention_norm = make_norm(spec, rngs)
        self.attention = Attention(spec, rngs=rngs)
        self.mlp_norm = make_norm(spec, rngs)
        self.mlp = FeedForward(spec, rngs=rngs)

    def __call__(
        self, x_BLD: jax.Array, positions_BL: jax.Array, mask_BL: jax.Array, cache: KVCache | None, *, deterministic: bool, last: bool = False
    ) -> tuple[jax.Array, KVCache | None]:
        """One residual block; returns the layer's updated cache (None without one).

        With `last`, only the last slot's output is computed (x_B1D; it still attends to every slot)."""
        y_BLD, cache = self.attention(self.attention_norm(x_BLD), positions_BL, mask_BL, cache, deterministic=deterministic, last=last)
        if last:
            x_BLD = x_BLD[:, -1:]
        x_BLD = constrain(x_BLD + y_BLD, ACTIVATION)
        x_BLD = constrain(x_BLD + self.mlp(self.mlp_norm(x_BLD), deterministic=deterministic), ACTIVATION)
        return x_BLD, cache


class Transformer(SequenceModel):
    """Pre-norm transformer blocks over multivariate items, causal unless `encoder.causal` is false;
    with `pooling = {kind = "cls"}` a learned token after the last item gives the sequence's vector."""

    def __init__(self, spec: ModelSpec, meta: Metadata, targets: tuple[str, ...], *, rngs: nnx.Rngs):
        super().__init__(spec, meta, targets)
        self.embed = Embedder(spec, meta, rngs=rngs)
        self.blocks = nnx.List([Block(spec, rngs=rngs) for _ in range(spec.layers)])
        self.norm = make_norm(spec, rngs)
        self.cls = nnx.data(None)
        if self.per_sequence and spec.pooling.kind == "cls":
            self.cls = nnx.Param(nnx.with_partitioning(nnx.initializers.normal(0.02), ("embed",))(rngs.params(), (spec.dim,)))
        self.make_heads(rngs)

    def encode(self, cat_BLC, real_BLR, mask_BL, positions_BL, cache: list[KVCache] | None, *, deterministic: bool):
        """float32 states x_BLD after the final norm, and the updated caches."""
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"cache has {len(cache)} layers, the model has {len(self.blocks)}")
        x_BLD = constrain(self.embed(cat_BLC, real_BLR, positions_BL, deterministic=deterministic), ACTIVATION)
        if self.cls is not None:  # a learned token after the last item: every item is before it, so it sees them all
            B = x_BLD.shape[0]
            x_BLD = jnp.concatenate([x_BLD, jnp.broadcast_to(self.cls[...].astype(x_BLD.dtype), (B, 1, x_BLD.shape[-1]))], axis=1)
            mask_BL = jnp.concatenate([mask_BL, jnp.ones((B, 1), bool)], axis=1)
            positions_BL = jnp.concatenate([positions_BL, positions_BL[:, -1:] + 1], axis=1)
        if cache is None and self.spec.remat:
            for block in self.blocks:
                x_BLD = _rematerialized(block, x_BLD, positions_BL, mask_BL, deterministic)
            return self.norm(x_BLD).astype(jnp.float32), None
        new_cache = None if cache is None else []
        for i, block in enumerate(self.blocks):
            x_BLD, layer_cache = block(x_BLD, positions_BL, mask_BL, None if cache is None else cache[i], deterministic=deterministic)
            if new_cache is not None:
                new_cache.append(layer_cache)
        return self.norm(x_BLD).astype(jnp.float32), new_cache

    def last_state(self, cat_BLC, real_BLR, mask_BL, positions_BL) -> jax.Array:
        """float32 h_BD of the last slot: the last block computes that slot alone (its query, MLP and norm)."""
        if self.cls is not None:
            return super().last_state(cat_BLC, real_BLR, mask_BL, positions_BL)
        x_BLD = constrain(self.embed(cat_BLC, real_BLR, positions_BL, deterministic=True), ACTIVATION)
        *blocks, final = list(self.blocks)
        for block in blocks:
            x_BLD, _ = block(x_BLD, positions_BL, mask_BL, None, deterministic=True)
        x_B1D, _ = final(x_BLD, positions_BL, mask_BL, None, deterministic=True, last=True)
        return self.norm(x_B1D).astype(jnp.float32)[:, 0]

    def init_cache(self, batch: int, length: int) -> list[KVCache]:
        """Empty caches (one per layer) for `length` slots: prefill with a call, then decode one item per call."""
        dtype = jnp.dtype(str(self.spec.dtype))
        return [KVCache.zeros(batch, length, self.spec.num_kv_heads, self.spec.head_dim, dtype) for _ in self.blocks]


def _rematerialized(block: Block, x_BLD: jax.Array, positions_BL: jax.Array, mask_BL: jax.Array, deterministic: bool) -> jax.Array:
    """One block whose activations are recomputed in the backward pass: only its input x_BLD is kept."""

    def apply(block: Block, x_BLD: jax.Array, positions_BL: jax.Array, mask_BL: jax.Array) -> jax.Array:
        return block(x_BLD, positions_BL, mask_BL, None, deterministic=deterministic)[0]

    return nnx.remat(apply)(block, x_BLD, positions_BL, mask_BL)
