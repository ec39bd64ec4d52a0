"""Causal grouped-query self-attention with rotary positions, a padding mask and a KV cache."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.model.sharding import constrain
from seqjax.spec import ModelSpec, Position

# Shapes: B batch, L length (new items), S cache length, D dim, H heads, G kv heads, K head dim.

# Glorot-uniform over the flattened kernel: fan-out counts the fused q, k and v (as if initialised jointly).
# It learned faster at equal steps than lecun-normal (benchmarks/RESULTS.md, "Learning at equal steps").
_kernel_init = nnx.initializers.xavier_uniform()


class KVCache(NamedTuple):
    """Keys and values of one layer for S slots; slots [0, index) hold items seen so far."""

    k_BSGK: jax.Array
    v_BSGK: jax.Array
    mask_BS: jax.Array
    """True where a slot holds a real item (False for padding and unused slots)."""
    index: jax.Array
    """int32 scalar: the slot the next item is written to."""

    @classmethod
    def zeros(cls, batch: int, length: int, kv_heads: int, head_dim: int, dtype) -> "KVCache":
        """An empty cache for `length` slots."""
        kv = jnp.zeros((batch, length, kv_heads, head_dim), dtype)
        return cls(kv, kv, jnp.zeros((batch, length), bool), jnp.zeros((), jnp.int32))


def rope(x_BLNK: jax.Array, positions_BL: jax.Array, base: float) -> jax.Array:
    """Rotate pairs (i, i + K/2) of each head by position-dependent angles."""
    half = x_BLNK.shape[-1] // 2
    freqs = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angles_BL1h = (positions_BL.astype(jnp.float32)[..., None] * freqs)[:, :, None, :]
    sin, cos = jnp.sin(angles_BL1h), jnp.cos(angles_BL1h)
    x1, x2 = jnp.split(x_BLNK.astype(jnp.float32), 2, axis=-1)
    rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return rotated.astype(x_BLNK.dtype)


def attention_mask(query_slots_BL: jax.Array, key_valid_BS: jax.Array, causal: bool = True) -> jax.Array:
    """[B, 1, L, S]: causal (unless not), never a padded key, but always the query itself (no empty rows)."""
    key_slots_S = jnp.arange(key_valid_BS.shape[1])
    q_BL1 = query_slots_BL[:, :, None]
    seen_BLS = key_slots_S <= q_BL1 if causal else jnp.ones((1, 1, key_valid_BS.shape[1]), bool)
    allowed_BLS = seen_BLS & (key_valid_BS[:, None, :] | (key_slots_S == q_BL1))
    return allowed_BLS[:, None, :, :]


def padding_bias(valid_BS: jax.Array, length: int, dtype) -> jax.Array:
    """[B, 1, L, S] additive bias: 0 where a key may be seen, very negative on padded keys (but not the query itself).

    Together with a causal mask this is `attention_mask` for L queries at slots 0..L-1 and S = L keys.
    """
    S = valid_BS.shape[1]
    own_LS = jnp.arange(length)[:, None] == jnp.arange(S)[None, :]
    allowed_B1LS = valid_BS[:, None, None, :] | own_LS[None, None]
    return jnp.where(allowed_B1LS, 0.0, jnp.finfo(dtype).min / 2).astype(dtype)


def fused_attention(
    q_BLHK: jax.Array, k_BLGK: jax.Array, v_BLGK: jax.Array, valid_BL: jax.Array, implementation: str | None = None, causal: bool = True
) -> jax.Array | None:
    """Causal attention over one window through cuDNN's fused (flash) kernel, or None where it does not apply.

    cuDNN takes causality as a flag and the padding as a bias (its sequence-length form assumes
    right padding; windows here are left-padded). It is used on GPU for bfloat16/float16 compute
    with head widths it supports; everything else (CPU, TPU, float32, decoding with a cache) goes
    through XLA's implementation with a boolean mask. `implementation` forces a backend (tests).
    """
    L, K = q_BLHK.shape[1], q_BLHK.shape[-1]
    if implementation is None:
        supported = jax.default_backend() == "gpu" and q_BLHK.dtype in (jnp.bfloat16, jnp.float16) and K % 8 == 0 and K <= 128 and L % 2 == 0
        if not supported:
            return None
        implementation = "cudnn"
    bias_B1LS = padding_bias(valid_BL, L, q_BLHK.dtype)
    try:
        return jax.nn.dot_product_attention(q_BLHK, k_BLGK, v_BLGK, bias=bias_B1LS, is_causal=causal, implementation=implementation)
    except (NotImplementedError, ValueError, RuntimeError):
        if implementation != "cudnn":
            raise
        return None  # this cuDNN build rejects the shapes: fall back to XLA


class Attention(nnx.Module):
    """Causal GQA; H query heads share G key/value heads."""

    def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs):
        D, H, G, K = spec.dim, spec.heads, spec.num_kv_heads, spec.head_dim
        dtype = jnp.dtype(str(spec.dtype))

        # One matmul makes queries, keys and values: per kv group, its H/G query heads, then its key and value.
        init = nnx.with_partitioning(_kernel_init, ("embed", "kv_heads", "qkv", "head_dim"))
        self.qkv = nnx.LinearGeneral(D, (G, H // G + 2, K), use_bias=False, dtype=dtype, kernel_init=init, rngs=rngs)
        init = nnx.with_partitioning(_kernel_init, ("heads", "head_dim", "embed"))
        self.out = nnx.LinearGeneral((H, K), D, axis=(-2, -1), use_bias=False, dtype=dtype, kernel_init=init, rngs=rngs)
        self.dropout = nnx.Dropout(spec.dropout, rngs=rngs)
        self.rope_base = spec.rope_base if spec.position == Position.ROPE else None
        self.causal = spec.encoder.causal

    def __call__(
        self,
        x_BLD: jax.Array,
        positions_BL: jax.Array,
        mask_BL: jax.Array,
        cache: KVCache | None = None,
        *,
        deterministic: bool,
        last: bool = False,
    ) -> tuple[jax.Array, KVCache | None]:
        """Attend from L new items to themselves and, with a cache, to all earlier items; with `last` (no cache),
        from the last item alone (output y_B1D)."""
        B, L = mask_BL.shape
        qkv_BLGNK = self.qkv(x_BLD)
        # A split (not three slices): its gradient is one concatenation instead of three padded copies summed.
        q_BLGnK, k_BLG1K, v_BLG1K = jnp.split(qkv_BLGNK, [qkv_BLGNK.shape[-2] - 2, qkv_BLGNK.shape[-2] - 1], axis=-2)
        q_BLHK = q_BLGnK.reshape(B, L, -1, q_BLGnK.shape[-1])  # query head h is in kv group h // (H/G)
        k_BLGK, v_BLGK = k_BLG1K[..., 0, :], v_BLG1K[..., 0, :]
        if self.rope_base is not None:
            q_BLHK = rope(q_BLHK, positions_BL, self.rope_base)
            k_BLGK = rope(k_BLGK, positions_BL, self.rope_base)
        if cache is None:
            k_BSGK, v_BSGK, valid_BS, start = k_BLGK, v_BLGK, mask_BL, 0
        else:
            cache = _write(cache, k_BLGK, v_BLGK, mask_BL)
            k_BSGK, v_BSGK, valid_BS, start = cache.k_BSGK, cache.v_BSGK, cache.mask_BS, cache.index - L
        slots_BL = jnp.broadcast_to(start + jnp.arange(L), (B, L))
        if last:
            q_BLHK, slots_BL = q_BLHK[:, -1:], slots_BL[:, -1:]
        y_BLHK = fused_attention(q_BLHK, k_BSGK, v_BSGK, valid_BS, causal=self.causal) if cache is None and not last else None
        if y_BLHK is None:
            y_BLHK = jax.nn.dot_product_attention(q_BLHK, k_BSGK, v_BSGK, mask=attention_mask(slots_BL, valid_BS, self.causal))
        return self.dropout(self.out(y_BLHK), deterministic=deterministic), cache


def _write(cache: KVCache, k_BLGK: jax.Array, v_BLGK: jax.Array, mask_BL: jax.Array) -> KVCache:
    """Store L new items at slots [index, index + L); shapes stay static, so decode never recompiles.

    The cache must have room: past slot S, dynamic_update_slice clamps and overwrites the last slots.
    """
    i = cache.index
    k_BSGK = jax.lax.dynamic_update_slice(cache.k_BSGK, k_BLGK.astype(cache.k_BSGK.dtype), (0, i, 0, 0))
    v_BSGK = jax.lax.dynamic_update_slice(cache.v_BSGK, v_BLGK.astype(cache.v_BSGK.dtype), (0, i, 0, 0))
    mask_BS = jax.lax.dynamic_update_slice(cache.mask_BS, mask_BL.astype(bool), (0, i))
    names = ("batch", "length", "kv_heads", "head_dim")
    return KVCache(constrain(k_BSGK, names), constrain(v_BSGK, names), constrain(mask_BS, names[:2]), i + mask_BL.shape[1])
