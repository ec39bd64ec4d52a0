"""Prefill + one-item decode steps through the KV cache reproduce the full forward pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from conftest import TARGETS, inputs
from flax import nnx

from seqjax.model import KVCache


def test_prefill_then_decode_matches_one_full_pass(model1, forward):
    cat, real, mask = inputs(5)
    mask = mask.at[1, :2].set(False).at[2, :6].set(False)  # left padding, also inside the prefill
    full = forward(cat, real, mask)
    graphdef, state = nnx.split(model1)
    traces = []

    @jax.jit
    def step(state, cat, real, mask, cache):
        traces.append(cat.shape)
        return nnx.merge(graphdef, state)(cat, real, mask, cache=cache)

    prefill = 3
    cache = model1.init_cache(batch=4, length=12)
    assert len(cache) == 2 and isinstance(cache[0], KVCache)
    assert cache[0].k_BSGK.shape == (4, 12, 2, 4) and cache[0].mask_BS.shape == (4, 12)
    outputs, cache = step(state, cat[:, :prefill], real[:, :prefill], mask[:, :prefill], cache)
    pieces = [outputs]
    for t in range(prefill, cat.shape[1]):
        outputs, cache = step(state, cat[:, t : t + 1], real[:, t : t + 1], mask[:, t : t + 1], cache)
        pieces.append(outputs)
    assert int(cache[0].index) == cat.shape[1]
    np.testing.assert_array_equal(np.asarray(cache[1].mask_BS[:, : cat.shape[1]]), np.asarray(mask))
    for name in TARGETS:
        decoded = np.concatenate([np.asarray(p[name]) for p in pieces], axis=1)
        np.testing.assert_allclose(decoded, full[name], rtol=1e-5, atol=1e-5)
    assert len(traces) == 2  # one prefill shape, one decode shape: no recompilation per step
    assert step._cache_size() == 2


def test_hidden_states_are_what_the_heads_read(model1, forward):
    cat, real, mask = inputs(6)
    graphdef, state = nnx.split(model1)

    @jax.jit
    def hidden_and_heads(state):
        model = nnx.merge(graphdef, state)
        x_BLD, cache = model.hidden(cat, real, mask)
        return x_BLD, model.heads(x_BLD), cache

    x_BLD, outputs, cache = hidden_and_heads(state)
    assert x_BLD.shape == (4, 8, 16) and x_BLD.dtype == jnp.float32 and cache is None
    full = forward(cat, real, mask)
    for name in TARGETS:
        np.testing.assert_allclose(np.asarray(outputs[name]), full[name], rtol=1e-6, atol=1e-6)
