"""Choosing the next categorical id from logits: greedy, or temperature / top-k / top-p sampling.

Sampling settings are traced values, not static ones, so changing them never recompiles.
Keys are raw uint32[2] keys (`jax.random.PRNGKey`), one per sequence: a sequence's draws
depend on (seed, its row in the input, step, column) only, never on the batch it lands in.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from seqjax.data.metadata import RESERVED

# Shapes: B batch, V vocab (ids of one categorical column).


class SamplingArgs(NamedTuple):
    """Traced sampling settings (float32, int32, float32 scalars)."""

    temperature: jax.Array
    top_k: jax.Array
    top_p: jax.Array

    @classmethod
    def of(cls, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0) -> "SamplingArgs":
        return cls(jnp.float32(temperature), jnp.int32(top_k), jnp.float32(top_p))


def user_logits(logits_BV: jax.Array) -> jax.Array:
    """Logits with padding and "unknown" ruled out: only the user's own classes can come out."""
    return logits_BV.astype(jnp.float32).at[..., :RESERVED].set(-jnp.inf)


def allowed(logits_BV: jax.Array, args: SamplingArgs) -> jax.Array:
    """bool [B, V]: the classes top-k, then top-p (on the temperature-scaled, top-k-renormalised
    probabilities), leave in play. The most likely class is always allowed."""
    V = logits_BV.shape[-1]
    sorted_BV = jnp.flip(jnp.sort(logits_BV, axis=-1), axis=-1)  # descending
    k = jnp.where(args.top_k > 0, jnp.minimum(args.top_k, V), V)
    in_top_k_V = jnp.arange(V) < k
    scale = jnp.where(args.temperature > 0, args.temperature, 1.0)
    probs_BV = jax.nn.softmax(jnp.where(in_top_k_V, sorted_BV / scale, -jnp.inf), axis=-1)
    # keep the i-th most likely class while the mass before it is below top_p: p = 0.9 over
    # probabilities (0.5, 0.3, 0.15, 0.05) keeps the first three
    before_BV = jnp.cumsum(probs_BV, axis=-1) - probs_BV
    kept_BV = in_top_k_V & (before_BV < args.top_p)
    kept_BV = kept_BV.at[:, 0].set(True)
    count_B = jnp.sum(kept_BV, axis=-1)
    threshold_B = jnp.take_along_axis(sorted_BV, (count_B - 1)[:, None], axis=-1)
    return logits_BV >= threshold_B


def choose(keys_B2: jax.Array, logits_BV: jax.Array, args: SamplingArgs) -> jax.Array:
    """int32 [B] ids: argmax when temperature is 0, else a draw among the allowed classes."""
    logits_BV = user_logits(logits_BV)
    greedy_B = jnp.argmax(logits_BV, axis=-1)
    scale = jnp.where(args.temperature > 0, args.temperature, 1.0)
    masked_BV = jnp.where(allowed(logits_BV, args), logits_BV / scale, -jnp.inf)
    drawn_B = jax.vmap(jax.random.categorical)(keys_B2, masked_BV)
    return jnp.where(args.temperature > 0, drawn_B, greedy_B).astype(jnp.int32)


def step_keys(keys_B2: jax.Array, step: jax.Array | int, column: int) -> jax.Array:
    """Independent keys for one (step, column) pair, per sequence."""
    fold = jax.vmap(jax.random.fold_in, in_axes=(0, None))
    return fold(fold(keys_B2, step), column)


def row_keys(seed: int | jax.Array, rows_B) -> jax.Array:
    """uint32 [B, 2]: one key per sequence from the seed and the sequence's row in the input (both may be traced)."""
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.PRNGKey(seed), jnp.asarray(rows_B).astype(jnp.uint32))
