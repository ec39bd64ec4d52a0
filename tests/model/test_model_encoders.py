"""Every encoder family and pooling: padding never changes an output, more padding before a sequence changes
nothing (bucket invariance), the pooling arithmetic is what its name says, and the next-item families are causal."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_meta, tiny_spec
from flax import nnx

from seqjax.data.metadata import ColumnMeta
from seqjax.model import Model
from seqjax.model.heads import Readout
from seqjax.model.pooling import Pooling, pool
from seqjax.spec import encoders as enc

ENCODERS = {
    "transformer": enc.TransformerEncoder(causal=False),
    "transformer-causal": enc.TransformerEncoder(),
    "lstm-bidirectional": enc.RecurrentEncoder(cell="lstm", bidirectional=True),
    "gru": enc.RecurrentEncoder(cell="gru"),
    "cnn": enc.ConvEncoder(kernel=3, dilation=1),
    "aggregate": enc.AggregateEncoder(),
    "decay": enc.DecayEncoder(rate=0.3),
    "decay-linear": enc.DecayEncoder(rate=0.1, shape="linear"),
    "positional": enc.PositionalEncoder(),
    "attention": enc.AttentionEncoder(),
}
POOLINGS = [enc.LastPooling(), enc.MeanPooling(), enc.MaxPooling(), enc.SumPooling(), enc.DecayPooling(rate=0.5), enc.PositionalPooling(), enc.AttentionPooling(), enc.ClsPooling()]


def sequence_meta():
    """The tiny model metadata plus a categorical label, a real label and two static features."""
    labels = (
        ColumnMeta(name="kind", kind="categorical", dtype="String", vocab=("x", "y", "z")),
        ColumnMeta(name="score", kind="real", dtype="Float64", mean=1.0, std=2.0),
    )
    statics = (ColumnMeta(name="segment", kind="categorical", dtype="String", vocab=("p", "q")), ColumnMeta(name="age", kind="real", dtype="Float64"))
    return dataclasses.replace(tiny_meta(), labels=labels, statics=statics, view="sequences", context=12)


def sequence_model(encoder, pooling=enc.MeanPooling(), seed: int = 0):
    spec = tiny_spec(encoder=encoder, pooling=pooling, dropout=0.0)
    with nnx.use_eager_sharding(False):
        return Model(spec, sequence_meta(), Readout(("kind", "score"), per_sequence=True), rngs=nnx.Rngs(params=seed, dropout=seed + 1))


def batch(seed: int, lengths=(12, 7, 3, 1), L: int = 12):
    """Right-aligned sequences of the given lengths, random padding values, and their statics."""
    rng = np.random.default_rng(seed)
    B = len(lengths)
    mask = np.arange(L)[None, :] >= (L - np.asarray(lengths))[:, None]
    order = np.where(mask, np.arange(L)[None, :] - (L - np.asarray(lengths))[:, None], 0).astype(np.int32)
    cat = np.stack([rng.integers(2, 7, (B, L)), rng.integers(2, 5, (B, L))], -1).astype(np.int32)
    real = rng.normal(size=(B, L, 2)).astype(np.float32)
    return {"cat": cat, "real": real, "mask": mask, "order": order, "static_cat": rng.integers(2, 4, (B, 1)).astype(np.int32), "static_real": rng.normal(size=(B, 1)).astype(np.float32)}


def outputs(model, x):
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state, cat, real, mask, order, static_cat, static_real):
        out, _ = nnx.merge(graphdef, state)(cat, real, mask, order, static_cat_BS=static_cat, static_real_BS=static_real)
        return out

    return jax.tree.map(np.asarray, run(state, *(jnp.asarray(x[k]) for k in ("cat", "real", "mask", "order", "static_cat", "static_real"))))


def padded_more(x, extra: int):
    """The same sequences with `extra` more padding slots on the left (a longer bucket)."""
    out = {}
    for k, v in x.items():
        if k in ("static_cat", "static_real"):
            out[k] = v
            continue
        pad = [(0, 0), (extra, 0)] + [(0, 0)] * (v.ndim - 2)
        out[k] = np.pad(v, pad, constant_values=False if v.dtype == bool else 0)
    return out


@pytest.mark.parametrize("name", list(ENCODERS))
def test_padding_changes_nothing_and_a_longer_bucket_gives_the_same_outputs(name):
    model = sequence_model(ENCODERS[name])
    x = batch(0)
    before = outputs(model, x)
    noisy = dict(x, cat=np.where(x["mask"][..., None], x["cat"], 3), real=np.where(x["mask"][..., None], x["real"], 9.0))
    after = outputs(model, noisy)
    longer = outputs(model, padded_more(x, 5))
    for target in ("kind", "score"):
        assert before[target].shape[0] == 4 and np.all(np.isfinite(before[target]))
        np.testing.assert_array_equal(after[target], before[target])
        np.testing.assert_allclose(longer[target], before[target], rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("pooling", POOLINGS, ids=lambda p: p.kind)
def test_every_pooling_of_the_transformer_ignores_padding(pooling):
    model = sequence_model(enc.TransformerEncoder(causal=False), pooling)
    x = batch(1)
    noisy = dict(x, real=np.where(x["mask"][..., None], x["real"], -7.0))
    np.testing.assert_array_equal(outputs(model, noisy)["score"], outputs(model, x)["score"])
    np.testing.assert_allclose(outputs(model, padded_more(x, 3))["score"], outputs(model, x)["score"], rtol=2e-5, atol=2e-5)


def test_static_features_change_the_outputs():
    model = sequence_model(enc.TransformerEncoder(causal=False))
    x = batch(2)
    graphdef, state = nnx.split(model)
    state = jax.tree.map(lambda v: v + 0.05 if v.ndim == 2 else v, state)  # the fusion's output layer starts at zero
    model = nnx.merge(graphdef, state)
    changed = outputs(model, dict(x, static_real=x["static_real"] + 3.0))
    assert not np.allclose(changed["score"], outputs(model, x)["score"])


def test_parameter_free_poolings_compute_their_names():
    h = jnp.asarray(np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2))
    mask = jnp.asarray([[False, True, True], [True, True, True]])
    np.testing.assert_array_equal(pool("last", h, mask), h[:, -1])
    np.testing.assert_allclose(pool("mean", h, mask), [[3.0, 4.0], [8.0, 9.0]])
    np.testing.assert_allclose(pool("max", h, mask), [[4.0, 5.0], [10.0, 11.0]])
    np.testing.assert_allclose(pool("sum", h, mask), [[6.0, 8.0], [24.0, 27.0]])


@nnx.use_eager_sharding(False)
def test_weighted_poolings_weigh_as_documented():
    spec = tiny_spec(pooling=enc.DecayPooling(rate=np.log(2.0)))
    h = jnp.asarray([[[0.0], [1.0], [2.0], [4.0]]]).repeat(16, axis=-1)
    mask = jnp.asarray([[False, True, True, True]])
    decay = Pooling(spec, 8, rngs=nnx.Rngs(0))(h, mask)  # ages 2, 1, 0: weights 1/4, 1/2, 1 (normalised)
    np.testing.assert_allclose(decay[0, 0], (0.25 * 1 + 0.5 * 2 + 1 * 4) / 1.75, rtol=1e-6)
    linear = Pooling(tiny_spec(pooling=enc.DecayPooling(rate=0.5, shape="linear")), 8, rngs=nnx.Rngs(0))(h, mask)  # weights 0, 0.5, 1
    np.testing.assert_allclose(linear[0, 0], (0.5 * 2 + 4) / 1.5, rtol=1e-6)
    for kind in (enc.PositionalPooling(), enc.AttentionPooling()):
        module = Pooling(tiny_spec(pooling=kind), 8, rngs=nnx.Rngs(0))
        if kind.kind == "attention":
            module.query.set_value(jnp.zeros(16))
        np.testing.assert_allclose(module(h, mask), pool("mean", h, mask), rtol=1e-6)  # equal scores: the mean


@pytest.mark.parametrize("encoder", [enc.RecurrentEncoder(cell="lstm"), enc.RecurrentEncoder(cell="gru"), enc.ConvEncoder(causal=True, kernel=3)], ids=lambda e: f"{e.kind}")
def test_next_item_families_are_causal(encoder):
    spec = tiny_spec(encoder=encoder)
    with nnx.use_eager_sharding(False):
        model = Model(spec, tiny_meta(), ("event", "amount"), rngs=nnx.Rngs(0))
    x = batch(3, lengths=(12, 12, 9, 5))
    graphdef, state = nnx.split(model)
    run = jax.jit(lambda state, cat, real, mask: nnx.merge(graphdef, state)(cat, real, mask)[0])
    before = run(state, x["cat"], x["real"], x["mask"])
    after = run(state, x["cat"], x["real"].copy() + np.where(np.arange(12) >= 8, 3.0, 0.0)[None, :, None], x["mask"])
    np.testing.assert_array_equal(np.asarray(after["amount"])[:, :8], np.asarray(before["amount"])[:, :8])
    assert not np.allclose(np.asarray(after["amount"])[:, 8:], np.asarray(before["amount"])[:, 8:])
