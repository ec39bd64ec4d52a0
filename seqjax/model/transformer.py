"""The causal transformer: embeddings -> pre-norm blocks -> final norm -> per-target heads.

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
from seqjax.model.embed import Embedder
from seqjax.model.heads import Heads, check_targets
from seqjax.model.mlp import FeedForward
from seqjax.model.sharding import check_divisible, constrain, param_shardings
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
        self, x_BLD: jax.Array, positions_BL: jax.Array, mask_BL: jax.Array, cache: KVCache | None, *, deterministic: bool
    ) -> tuple[jax.Array, KVCache | None]:
        """One residual block; returns the layer's updated cache (None without one)."""
        y_BLD, cache = self.attention(self.attention_norm(x_BLD), positions_BL, mask_BL, cache, deterministic=deterministic)
        x_BLD = constrain(x_BLD + y_BLD, ACTIVATION)
        x_BLD = constrain(x_BLD + self.mlp(self.mlp_norm(x_BLD), deterministic=deterministic), ACTIVATION)
        return x_BLD, cache


class Model(nnx.Module):
    """Causal transformer over multivariate items; one output per target column."""

    def __init__(self, spec: ModelSpec, meta: Metadata, targets: tuple[str, ...], *, rngs: nnx.Rngs):
        check_targets(meta, tuple(targets))
        self.spec = spec
        self.columns = (len(meta.categorical), len(meta.real))
        self.embed = Embedder(spec, meta, rngs=rngs)
        self.blocks = nnx.List([Block(spec, rngs=rngs) for _ in range(spec.layers)])
        self.norm = make_norm(spec, rngs)
        self.heads = Heads(spec.dim, meta, tuple(targets), rngs=rngs)

    def __call__(
        self,
        cat_BLC: jax.Array,
        real_BLR: jax.Array,
        mask_BL: jax.Array,
        positions_BL: jax.Array | None = None,
        cache: list[KVCache] | None = None,
        *,
        deterministic: bool = True,
    ) -> tuple[dict[str, jax.Array], list[KVCache] | None]:
        """float32 logits_BLV / value_BL per target, and the updated caches."""
        x_BLD, cache = self.hidden(cat_BLC, real_BLR, mask_BL, positions_BL, cache, deterministic=deterministic)
        return self.heads(x_BLD), cache

    def hidden(
        self,
        cat_BLC: jax.Array,
        real_BLR: jax.Array,
        mask_BL: jax.Array,
        positions_BL: jax.Array | None = None,
        cache: list[KVCache] | None = None,
        *,
        deterministic: bool = True,
    ) -> tuple[jax.Array, list[KVCache] | None]:
        """float32 hidden states x_BLD after the final norm (what the heads read), and the caches."""
        self._check_inputs(cat_BLC, real_BLR, mask_BL, cache)
        positions_BL = self._positions(mask_BL, positions_BL, cache)
        x_BLD = constrain(self.embed(cat_BLC, real_BLR, positions_BL, deterministic=deterministic), ACTIVATION)
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

    def init_cache(self, batch: int, length: int) -> list[KVCache]:
        """Empty caches (one per layer) for `length` slots: prefill with a call, then decode one item per call."""
        dtype = jnp.dtype(str(self.spec.dtype))
        return [KVCache.zeros(batch, length, self.spec.num_kv_heads, self.spec.head_dim, dtype) for _ in self.blocks]

    @staticmethod
    def _positions(mask_BL: jax.Array, positions_BL: jax.Array | None, cache: list[KVCache] | None) -> jax.Array:
        """Default positions: the slot of each item (0..L-1, or continuing after the cached items)."""
        if positions_BL is not None:
            return positions_BL
        start = 0 if cache is None else cache[0].index
        return jnp.broadcast_to(start + jnp.arange(mask_BL.shape[1], dtype=jnp.int32), mask_BL.shape)

    def _check_inputs(self, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array, cache: list[KVCache] | None) -> None:
        """Fail early, with the shapes, on inputs that do not fit the model."""
        expected = (*mask_BL.shape, self.columns[0]), (*mask_BL.shape, self.columns[1])
        if (tuple(cat_BLC.shape), tuple(real_BLR.shape)) != expected:
            got = f"cat {tuple(cat_BLC.shape)}, real {tuple(real_BLR.shape)}"
            raise ValueError(f"inputs {got} do not match mask {tuple(mask_BL.shape)}; expected cat {expected[0]} and real {expected[1]}")
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"cache has {len(cache)} layers, the model has {len(self.blocks)}")


def _rematerialized(block: Block, x_BLD: jax.Array, positions_BL: jax.Array, mask_BL: jax.Array, deterministic: bool) -> jax.Array:
    """One block whose activations are recomputed in the backward pass: only its input x_BLD is kept."""

    def apply(block: Block, x_BLD: jax.Array, positions_BL: jax.Array, mask_BL: jax.Array) -> jax.Array:
        return block(x_BLD, positions_BL, mask_BL, None, deterministic=deterministic)[0]

    return nnx.remat(apply)(block, x_BLD, positions_BL, mask_BL)


# ----------------------------------------------------------------------------- creation on a mesh


def _build(spec: ModelSpec, meta: Metadata, targets: tuple[str, ...], seed: int) -> Model:
    """A model on the host; sharding is applied by the caller (out_shardings), not eagerly."""
    with nnx.use_eager_sharding(False):
        return Model(spec, meta, targets, rngs=nnx.Rngs(params=seed, dropout=seed + 1))


def abstract_model(spec: ModelSpec, meta: Metadata, targets: tuple[str, ...], mesh: jax.sharding.Mesh, seed: int = 0) -> tuple[nnx.GraphDef, nnx.State]:
    """(graphdef, state of ShapeDtypeStructs carrying their NamedShardings): the target for restores."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: _build(spec, meta, targets, seed)))
    shardings = param_shardings(state, mesh)
    check_divisible(shardings, state, mesh)
    state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), state, shardings)
    return graphdef, state


def create_model(spec: ModelSpec, meta: Metadata, targets: tuple[str, ...], mesh: jax.sharding.Mesh, seed: int) -> Model:
    """Initialise the model with every parameter already placed on `mesh` by its logical names."""
    graphdef, abstract = abstract_model(spec, meta, targets, mesh, seed)
    shardings = jax.tree.map(lambda a: a.sharding, abstract)
    state = jax.jit(lambda: nnx.state(_build(spec, meta, targets, seed)), out_shardings=shardings)()
    return nnx.merge(graphdef, state)
