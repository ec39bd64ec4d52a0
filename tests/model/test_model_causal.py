"""No output may depend on a later item or on a padded one."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from conftest import TARGETS, inputs
from flax import nnx


def test_changing_an_item_leaves_earlier_outputs_exactly_unchanged(forward):
    cat, real, mask = inputs(0)
    before = forward(cat, real, mask)
    for t in (1, 4, 7):
        cat2 = cat.at[:, t].set(jnp.where(cat[:, t] == 2, 3, 2))
        real2 = real.at[:, t].add(5.0)
        after = forward(cat2, real2, mask)
        for name in TARGETS:
            np.testing.assert_array_equal(after[name][:, :t], before[name][:, :t])
            assert not np.allclose(after[name][:, t], before[name][:, t]), (name, t)


def test_gradients_of_early_outputs_wrt_later_inputs_are_exactly_zero(model1):
    cat, real, mask = inputs(1)
    graphdef, state = nnx.split(model1)
    t = 5

    def early_outputs(real):
        outputs = nnx.merge(graphdef, state)(cat, real, mask)[0]
        return sum(jnp.sum(outputs[name][:, :t] ** 2) for name in TARGETS)

    grad_BLR = np.asarray(jax.jit(jax.grad(early_outputs))(real))
    assert np.all(grad_BLR[:, t:] == 0.0)
    assert np.all(np.abs(grad_BLR[:, :t]).sum(-1) > 0)


def test_left_padding_does_not_reach_real_items(forward):
    cat, real, mask = inputs(2)
    pads = jnp.array([0, 3, 5, 7])  # padded items per row, at the left
    mask = jnp.arange(cat.shape[1])[None, :] >= pads[:, None]
    pad_cat = jnp.where(mask[..., None], cat, 0)
    pad_real = jnp.where(mask[..., None], real, 0.0)
    other_cat = jnp.where(mask[..., None], cat, 4)
    other_real = jnp.where(mask[..., None], real, -9.0)
    a, b = forward(pad_cat, pad_real, mask), forward(other_cat, other_real, mask)
    for name in TARGETS:
        real_a, real_b = a[name][np.asarray(mask)], b[name][np.asarray(mask)]
        np.testing.assert_array_equal(real_a, real_b)
        assert np.all(np.isfinite(a[name]))


def test_padding_id_is_never_predicted(forward):
    outputs = forward(*inputs(3))
    logits_BLV = outputs["event"]
    assert logits_BLV.shape == (4, 8, 7) and logits_BLV.dtype == np.float32
    assert np.all(logits_BLV.argmax(-1) != 0)
    assert np.all(logits_BLV[..., 0] < -1e8)


def test_last_outputs_equal_the_last_slot_of_every_slots_outputs(model1):
    """Next-item prediction computes the last slot alone in the last block; it must agree with the full pass,
    left padding included."""
    cat, real, mask = inputs(4)
    mask = jnp.arange(cat.shape[1])[None, :] >= jnp.array([0, 2, 5, 7])[:, None]
    graphdef, state = nnx.split(model1)
    full = jax.jit(lambda s, c, r, m: nnx.merge(graphdef, s)(c, r, m)[0])(state, cat, real, mask)
    last = jax.jit(lambda s, c, r, m: nnx.merge(graphdef, s).last_outputs(c, r, m))(state, cat, real, mask)
    for name in TARGETS:
        assert last[name].shape == full[name][:, -1].shape
        np.testing.assert_allclose(np.asarray(last[name]), np.asarray(full[name][:, -1]), rtol=1e-5, atol=1e-5)
