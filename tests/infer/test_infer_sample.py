"""Sampling on crafted logits: greedy, top-k, top-p, reserved ids, and seeds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.infer.sample import SamplingArgs, allowed, choose, row_keys, step_keys

# ids 0 and 1 are padding and unknown; classes 2..6 have probabilities 0.5, 0.25, 0.15, 0.07, 0.03
PROBS = np.array([0.5, 0.25, 0.15, 0.07, 0.03])
LOGITS = jnp.asarray(np.concatenate([[9.0, 9.0], np.log(PROBS)]), jnp.float32)[None, :]

draw = jax.jit(jax.vmap(choose, in_axes=(0, None, None)))  # many independent draws of one row (one compile)


def draws(args: SamplingArgs, seed: int = 0, n: int = 3000) -> np.ndarray:
    keys = row_keys(seed, np.arange(n))[:, None, :]
    return np.asarray(draw(keys, LOGITS, args))[:, 0]


def test_greedy_is_argmax_over_the_users_classes():
    assert set(draws(SamplingArgs.of(0.0))) == {2}  # not the reserved ids, whose logits are higher


def test_plain_sampling_follows_the_probabilities_and_never_gives_reserved_ids():
    ids = draws(SamplingArgs.of(1.0))
    assert ids.min() >= 2
    frequencies = np.bincount(ids, minlength=7)[2:] / len(ids)
    np.testing.assert_allclose(frequencies, PROBS, atol=0.03)


def test_top_k_keeps_the_k_most_likely():
    assert set(draws(SamplingArgs.of(1.0, top_k=2))) == {2, 3}
    assert set(draws(SamplingArgs.of(5.0, top_k=3))) == {2, 3, 4}  # a high temperature flattens, but only among 3
    assert set(draws(SamplingArgs.of(1.0, top_k=1))) == {2}


def test_top_p_keeps_the_smallest_set_reaching_p():
    assert set(draws(SamplingArgs.of(1.0, top_p=0.5))) == {2}
    assert set(draws(SamplingArgs.of(1.0, top_p=0.7))) == {2, 3}
    assert set(draws(SamplingArgs.of(1.0, top_p=0.8))) == {2, 3, 4}
    # top-k first, then top-p renormalised over the top 2: 0.5/0.75 = 0.67 < 0.7, so both stay
    assert set(draws(SamplingArgs.of(1.0, top_k=2, top_p=0.7))) == {2, 3}


def test_allowed_sets_directly():
    logits = jnp.log(jnp.asarray([[0.1, 0.6, 0.3], [0.3, 0.3, 0.4]]))
    fn = jax.jit(allowed)  # one compile (op by op, each operation compiles on its own)
    got = np.asarray(fn(logits, SamplingArgs.of(1.0, top_k=0, top_p=0.65)))
    np.testing.assert_array_equal(got, [[False, True, True], [True, True, True]])
    got = np.asarray(fn(logits, SamplingArgs.of(1.0, top_k=1)))
    np.testing.assert_array_equal(got, [[False, True, False], [False, False, True]])


def test_draws_depend_on_the_seed_and_the_sequence_row_only():
    args = SamplingArgs.of(1.0)
    np.testing.assert_array_equal(draws(args, seed=3), draws(args, seed=3))
    assert (draws(args, seed=3) != draws(args, seed=4)).any()
    # the key of row 5 is the same whether it comes alone or after other rows in a batch
    np.testing.assert_array_equal(np.asarray(row_keys(1, [2, 5]))[1], np.asarray(row_keys(1, [5]))[0])
    keys = row_keys(1, [2, 5])
    assert not np.array_equal(np.asarray(step_keys(keys, 0, 0)), np.asarray(step_keys(keys, 1, 0)))
    assert not np.array_equal(np.asarray(step_keys(keys, 0, 0)), np.asarray(step_keys(keys, 0, 1)))
