"""The contrastive objective: InfoNCE and the margin loss against values worked out by hand, positives and
negatives by sequence, filling rows ignored, the same loss and update on 1 device as on 8, and every spec error."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from seqjax.data.metadata import ColumnMeta, Metadata
from seqjax.data.records import Sequences
from seqjax.objective.contrastive import (
    Contrastive,
    infonce,
    margin_loss,
    normalized,
    pair_masks,
)
from seqjax.spec import (
    ContrastiveObjective,
    ModelSpec,
    SpecError,
    TransformerEncoder,
    load_spec,
)
from seqjax.spec.encoders import MeanPooling


def meta() -> Metadata:
    columns = (ColumnMeta(name="e", kind="categorical", dtype="String", vocab=("a", "b", "c")), ColumnMeta(name="x", kind="real", dtype="Float64"))
    return Metadata(
        fingerprint="test", id_column="id", position_column="pos", id_dtype="Int64", columns=columns,
        context=16, stride=16, format="arrayrecord", rows=0, splits={}, view="sequences", buckets=(16,),
    )  # fmt: skip


def test_positives_are_the_other_views_of_the_same_sequence_and_filling_rows_pair_with_nothing():
    valid_N, positive, negative = (np.asarray(x) for x in pair_masks(jnp.asarray([True, True, False]), 2))
    np.testing.assert_array_equal(valid_N, [1, 1, 1, 1, 0, 0])
    expected_positive = np.zeros((6, 6), bool)
    expected_positive[0, 1] = expected_positive[1, 0] = expected_positive[2, 3] = expected_positive[3, 2] = True
    np.testing.assert_array_equal(positive, expected_positive)
    expected_negative = np.zeros((6, 6), bool)
    expected_negative[:2, 2:4] = expected_negative[2:4, :2] = True
    np.testing.assert_array_equal(negative, expected_negative)


def test_infonce_by_hand_and_filling_rows_change_nothing():
    z = np.asarray(normalized(jax.random.normal(jax.random.key(0), (6, 3))))
    loss, count = infonce(jnp.asarray(z), jnp.asarray([True, True, False]), 2, 0.5)
    s = z @ z.T / 0.5
    expected = 0.0
    for i, p in ((0, 1), (1, 0), (2, 3), (3, 2)):
        others = [k for k in range(4) if k != i]
        expected += np.log(np.sum(np.exp(s[i, others]))) - s[i, p]
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert float(count) == 4
    z2 = z.copy()
    z2[4:] = np.asarray(normalized(jnp.ones((2, 3))))
    np.testing.assert_allclose(infonce(jnp.asarray(z2), jnp.asarray([True, True, False]), 2, 0.5)[0], loss, rtol=1e-6)


def test_margin_loss_by_hand_takes_the_hardest_negatives():
    z = np.asarray(normalized(jax.random.normal(jax.random.key(1), (6, 3))))
    loss, count = margin_loss(jnp.asarray(z), jnp.asarray([True, True, True]), 2, 1.5, 2)
    d = np.linalg.norm(z[:, None] - z[None], axis=-1)
    owner = np.arange(6) // 2
    expected = sum(d[i, i + 1] ** 2 for i in (0, 2, 4))
    for i in range(6):
        negatives = sorted((d[i, k] for k in range(6) if owner[k] != owner[i]))[:2]
        expected += sum(max(1.5 - x, 0.0) ** 2 for x in negatives)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    assert float(count) == 3 + 6 * 2
    objective = Contrastive(meta(), ContrastiveObjective(loss="margin", negatives=2))
    b = Sequences(*[None] * 5, valid=jnp.ones(3, bool), label_cat=None, label_real=None, static_cat=None, static_real=None)
    assert float(objective.counts(b)["views"]) == 3 + 6 * 2  # the denominator, known before the forward pass


def batch(B: int, L: int = 16) -> Sequences:
    rng = np.random.default_rng(0)
    n = rng.integers(1, L + 1, B)
    mask = np.arange(L)[None] >= L - n[:, None]
    valid = np.ones(B, bool)
    valid[-3:] = False  # the last rows fill the batch
    mask[~valid] = False
    order = np.where(mask, np.cumsum(mask, axis=1) - 1, 0)
    return Sequences(
        cat=np.where(mask[..., None], rng.integers(2, 5, (B, L, 1)), 0).astype(np.int32),
        real=np.where(mask[..., None], rng.normal(size=(B, L, 1)), 0).astype(np.float32),
        mask=mask, order=order.astype(np.int32), sequence=np.where(valid, rng.permutation(100)[:B], -1).astype(np.int64), valid=valid,
        label_cat=np.zeros((B, 0), np.int32), label_real=np.zeros((B, 0), np.float32),
        static_cat=np.zeros((B, 0), np.int32), static_real=np.zeros((B, 0), np.float32),
    )  # fmt: skip


def test_eight_devices_give_the_loss_and_update_of_one():
    from seqjax.model import (
        activate,
        batch_sharding,
        create_model,
        make_mesh,
        param_shardings,
    )
    from seqjax.spec import MeshSpec
    from seqjax.train import step as steps

    objective = Contrastive(meta(), ContrastiveObjective(views=3, min_length=2, max_length=8))
    model_spec = ModelSpec(dim=16, layers=1, heads=2, encoder=TransformerEncoder(causal=False), pooling=MeanPooling())
    tx = optax.sgd(0.5)
    host = batch(16)

    def one_step(devices):
        mesh = make_mesh(MeshSpec(), devices)
        with activate(mesh):
            graphdef, params, rest = nnx.split(create_model(model_spec, meta(), objective.readout, mesh, 0), nnx.Param, ...)
            state = steps.init_state(params, tx)
            train_step = jax.jit(steps.make_train_step(graphdef, tx, objective, seed=3))
            sharding = batch_sharding(mesh)
            device_batch = jax.tree.map(lambda x: jax.device_put(x, sharding), host)
            assert len(param_shardings(params, mesh)) and len(device_batch.cat.sharding.device_set) == len(devices)
            state, metrics = train_step(state, rest, device_batch)
            return float(metrics["loss"]), [np.asarray(x) for x in jax.tree.leaves(state.params)]

    loss_1, params_1 = one_step(jax.devices()[:1])
    loss_8, params_8 = one_step(jax.devices()[:8])
    assert np.isfinite(loss_1) and loss_1 > 0
    np.testing.assert_allclose(loss_8, loss_1, rtol=1e-5)
    for a, b in zip(params_8, params_1):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_both_losses_over_views_spread_on_eight_devices_equal_the_local_ones():
    from jax.sharding import NamedSharding, PartitionSpec

    from seqjax.model import activate, make_mesh
    from seqjax.spec import MeshSpec

    z = normalized(jax.random.normal(jax.random.key(2), (32, 4)))
    valid = jnp.asarray([True] * 13 + [False] * 3)
    for loss in (lambda z, v: infonce(z, v, 2, 0.2), lambda z, v: margin_loss(z, v, 2, 0.8, 3)):
        local = jax.jit(loss)(z, valid)
        mesh = make_mesh(MeshSpec(), jax.devices()[:8])
        with activate(mesh):
            spread = jax.device_put(z, NamedSharding(mesh, PartitionSpec(("data", "fsdp"))))
            assert len(spread.sharding.device_set) == 8
            gathered = jax.jit(loss)(spread, jax.device_put(valid, NamedSharding(mesh, PartitionSpec(("data", "fsdp")))))
        np.testing.assert_allclose(gathered, local, rtol=1e-5)


BASE = """
[data]
input = "items.parquet"
columns = [{ name = "event", kind = "categorical" }]
split = { by = "sequence" }
[train]
objective = { kind = "contrastive" }
targets = []
[infer]
mode = "embed"
"""


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.objective.views=1"], "train.objective.views = 1: must be at least 2"),
        (["train.objective.min_length=0"], "train.objective.min_length = 0: must be at least 1"),
        (["train.objective.negatives=0"], "train.objective.negatives = 0: must be at least 1"),
        (["train.objective.max_length=4"], r"train.objective.max_length = 4: must be at least train.objective.min_length \(8\)"),
        (["train.objective.short_crop_rate=0.0"], r"train.objective.short_crop_rate = 0.0: must be in \(0, 1\]"),
        (["train.objective.temperature=0.0"], "train.objective.temperature = 0.0: must be positive"),
        (["train.objective.margin=-1.0"], "train.objective.margin = -1.0: must be positive"),
        (["train.objective.loss='cosine'"], "train.objective.loss"),
        (["train.targets=['event']"], r"train.targets = \['event'\]: the 'contrastive' objective predicts nothing; set train.targets = \[\]"),
        (["data.split.by='time'"], "data.split.by = 'time': the 'contrastive' objective splits whole sequences"),
        (["train.accumulate=2", "train.batch_size=8"], "train.accumulate = 2: the 'contrastive' objective compares every view"),
        (["infer.mode='predict'"], r"infer.mode = 'predict': the 'contrastive' objective offers \['embed'\]"),
    ],
)
def test_each_bad_contrastive_spec_fails_with_one_line(tmp_path, overrides, message):
    path = tmp_path / "spec.toml"
    path.write_text(BASE)
    load_spec(path)  # the base is fine
    with pytest.raises(SpecError, match=message) as raised:
        load_spec(path, overrides)
    assert "\n" not in str(raised.value)


def test_a_spec_without_targets_still_fails_for_other_objectives(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(BASE.replace('objective = { kind = "contrastive" }', "").replace('mode = "embed"', ""))
    with pytest.raises(SpecError, match=r"train.targets = \[\]: needs at least one target column"):
        load_spec(path)


def test_the_model_predicts_nothing_and_windows_are_refused():
    assert Contrastive(meta(), ContrastiveObjective()).readout.targets == ()
    with pytest.raises(SpecError, match="workdir/data holds windows; run `seqjax preprocess` again"):
        Contrastive(dataclasses.replace(meta(), view="windows"), ContrastiveObjective())
