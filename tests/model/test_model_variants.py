"""Every position, norm, MLP and dtype variant runs; dropout draws from the model's own RNG state."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TARGETS, eager_model, inputs, tiny_meta, tiny_spec
from flax import nnx

from seqjax.model import Model
from seqjax.spec import DType, Mlp, Norm, Position

VARIANTS = [
    dict(position=Position.LEARNED, norm=Norm.LAYERNORM, mlp=Mlp.GELU, dtype=DType.BFLOAT16),
    dict(position=Position.SINUSOIDAL, norm=Norm.RMSNORM, mlp=Mlp.SWIGLU, dtype=DType.FLOAT32, kv_heads=1),
    dict(position=Position.NONE, norm=Norm.LAYERNORM, mlp=Mlp.SWIGLU, dtype=DType.BFLOAT16, kv_heads=4),
]


@pytest.mark.parametrize("changes", VARIANTS, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_variant_runs_causally_with_float32_params_and_outputs(changes):
    model = eager_model(tiny_spec(**changes))
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in params)
    assert model.init_cache(2, 4)[0].k_BSGK.dtype == jnp.dtype(changes["dtype"])
    graphdef, state = nnx.split(model)
    forward = jax.jit(lambda state, cat, real, mask: nnx.merge(graphdef, state)(cat, real, mask)[0])
    cat, real, mask = inputs(7)
    before = forward(state, cat, real, mask)
    after = forward(state, cat, real.at[:, 5].add(3.0), mask)
    assert before["event"].shape == (4, 8, 7) and before["amount"].shape == (4, 8)
    for name in TARGETS:
        assert before[name].dtype == jnp.float32
        assert np.all(np.isfinite(np.asarray(before[name])))
        np.testing.assert_array_equal(np.asarray(after[name][:, :5]), np.asarray(before[name][:, :5]))


def test_dropout_masks_follow_the_dropout_stream_in_the_model_state():
    model = eager_model(tiny_spec(**VARIANTS[1], dropout=0.5))
    graphdef, state = nnx.split(model)
    cat, real, mask = inputs(8)

    @jax.jit
    def train_forward(state, key):
        model = nnx.merge(graphdef, state)
        evaluated = model(cat, real, mask)[0]["amount"]
        nnx.reseed(model, dropout=key)  # masks depend only on this key: (seed, step) replays exactly
        trained = model(cat, real, mask, deterministic=False)[0]["amount"]
        return trained, evaluated, nnx.state(model, nnx.RngCount)

    a, evaluated, counts = train_forward(state, jax.random.key(1))
    b, _, _ = train_forward(state, jax.random.key(1))
    c, _, _ = train_forward(state, jax.random.key(2))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(a), np.asarray(c))
    assert not np.allclose(np.asarray(a), np.asarray(evaluated))
    assert sorted(int(n) for n in jax.tree.leaves(counts)) == [1] * 5  # each dropout layer drew one key


def test_unknown_target_and_misshapen_inputs_fail_with_their_names_and_shapes():
    with pytest.raises(ValueError, match=r"targets \['evnt'\] are not columns"):
        nnx.eval_shape(lambda: Model(tiny_spec(), tiny_meta(), ("evnt",), rngs=nnx.Rngs(0)))
    model = eager_model(tiny_spec())
    cat, real, mask = inputs(9)
    with pytest.raises(ValueError, match=r"expected cat \(4, 8, 2\) and real \(4, 8, 2\)"):
        model(cat[..., :1], real, mask)
