"""The autoencode objective: every architecture reconstructs a trivially compressible set nearly exactly, codes do not
depend on padding, denoising corrupts the inputs but not the targets, and each bad spec fails with one line."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from autoencode_data import write
from flax import nnx

from seqjax import experiment
from seqjax.data.metadata import RESERVED, UNKNOWN, ColumnMeta, Metadata
from seqjax.data.records import Sequences
from seqjax.model import Model
from seqjax.spec import AutoencodeObjective, SpecError, load_spec, spec_from_dict
from seqjax.train.step import init_state, make_train_step

ENCODERS = {
    "lstm": '{ kind = "rnn" }',
    "conv+lstm": '{ kind = "cnn", kernel = 3 }',
    "linear": '{ kind = "linear", hidden = [16] }',
    "transformer": '{ kind = "transformer", causal = false }',
}


def meta(length: int = 6) -> Metadata:
    columns = (ColumnMeta(name="event", kind="categorical", dtype="String", vocab=("e0", "e1", "e2", "e3")), ColumnMeta(name="amount", kind="real", dtype="Float64", mean=1.5, std=1.0))
    return Metadata(
        fingerprint="test", id_column="sequenceId", position_column="itemPosition", id_dtype="Int64", columns=columns,
        context=length, stride=length, format="arrayrecord", rows=0, splits={}, view="sequences", buckets=(length,),
    )  # fmt: skip


def batch(classes: np.ndarray, lengths: np.ndarray, L: int) -> Sequences:
    """Sequence b repeats class classes[b] for lengths[b] items (right-aligned in L slots); its amount is the class."""
    B = len(classes)
    mask = np.arange(L)[None, :] >= L - lengths[:, None]
    cat = np.where(mask, classes[:, None] + RESERVED, 0)[..., None].astype(np.int32)
    real = np.where(mask, classes[:, None] - 1.5, 0.0)[..., None].astype(np.float32)
    order = np.maximum(np.cumsum(mask, axis=1) - 1, 0).astype(np.int32)
    z = np.zeros((B, 0))
    return Sequences(cat=jnp.asarray(cat), real=jnp.asarray(real), mask=jnp.asarray(mask), order=jnp.asarray(order), sequence=jnp.arange(B),
                     valid=jnp.ones(B, bool), label_cat=z.astype(np.int32), label_real=z.astype(np.float32), static_cat=z.astype(np.int32),
                     static_real=z.astype(np.float32))  # fmt: skip


def spec_of(encoder: str, objective: str = '{ kind = "autoencode", code_dim = 4 }', train: dict | None = None):
    text = f"""
[data]
input = "x.parquet"
columns = [{{ name = "event", kind = "categorical" }}, {{ name = "amount", kind = "real" }}]
max_length = 6
[model]
dim = 16
layers = 1
heads = 2
encoder = {encoder}
[train]
objective = {objective}
targets = ["event", "amount"]
[infer]
mode = "embed"
"""
    import tomli

    table = tomli.loads(text)
    table["train"].update(train or {})
    return spec_from_dict(table)


def built(spec, length: int = 6):
    """The objective and a freshly initialised model (on the host) for `spec`."""
    objective = spec.train.objective.build(meta(length), spec.train)
    with nnx.use_eager_sharding(False):
        return objective, Model(spec.model, meta(length), objective.readout, rngs=nnx.Rngs(params=0, dropout=1))


def trained(spec, data: Sequences, steps: int, lr: float = 2e-2):
    """The objective, the model after `steps` real train steps on one batch, and the last step's metrics."""
    objective, model = built(spec, data.mask.shape[1])
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(lr)
    step = jax.jit(make_train_step(graphdef, tx, objective, seed=0))
    state = init_state(params, tx)
    for _ in range(steps):
        state, metrics = step(state, rest, data)
    return objective, nnx.merge(graphdef, state.params, rest), metrics


@pytest.mark.parametrize("name", list(ENCODERS))
def test_every_architecture_reconstructs_a_compressible_set(name):
    rng = np.random.default_rng(0)
    data = batch(np.arange(16) % 4, rng.integers(2, 7, 16), 6)
    objective, model, _ = trained(spec_of(ENCODERS[name]), data, steps=120)
    outputs, _ = model(**objective.inputs(data))
    report = objective.summarize(jax.device_get(objective.sums(outputs, data)))
    assert report["targets"]["event"]["accuracy"] == 1.0
    assert report["targets"]["event"]["loss"] < 0.05
    assert report["targets"]["amount"]["loss"] < 0.02  # the baseline (the mean) is 1.25
    assert report["targets"]["amount"]["baseline_loss"] > 1.0


@pytest.mark.parametrize("name", list(ENCODERS))
def test_codes_and_reconstructions_do_not_depend_on_padding(name):
    spec = spec_of(ENCODERS[name])
    short, long = batch(np.array([1, 3]), np.array([3, 5]), 5), batch(np.array([1, 3]), np.array([3, 5]), 6)
    objective, model = built(spec)
    code_short = model.sequence_vector(short.cat, short.real, short.mask, short.order)
    code_long = model.sequence_vector(long.cat, long.real, long.mask, long.order)
    np.testing.assert_allclose(code_short, code_long, atol=1e-5)
    out_short, out_long = model(**objective.inputs(short))[0], model(**objective.inputs(long))[0]
    np.testing.assert_allclose(out_short["amount"], out_long["amount"][:, 1:], atol=1e-5)
    assert code_short.shape == (2, 4)


def test_denoise_corrupts_inputs_but_not_targets():
    spec = spec_of(ENCODERS["lstm"], '{ kind = "autoencode", code_dim = 4, denoise = true, drop = 0.5, noise = 0.3 }')
    data = batch(np.arange(64) % 4, np.full(64, 6), 6)
    objective, model = built(spec)
    cat, real = model.denoising(data.cat, data.real, data.mask)
    dropped = np.asarray(cat[..., 0] == UNKNOWN)
    assert 0.4 < dropped.mean() < 0.6 and not np.any(np.asarray(data.cat) == UNKNOWN)
    assert 0.25 < float(jnp.std(real - data.real)) < 0.35
    # The train step's loss is the corrupted forward pass scored against the clean batch.
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    key = jax.random.fold_in(jax.random.key(0), 0)
    _, metrics = make_train_step(graphdef, optax.sgd(0.0), objective, seed=0)(init_state(params, optax.sgd(0.0)), rest, data)
    again = nnx.merge(graphdef, params, rest)
    nnx.reseed(again, dropout=key)
    outputs = again(**objective.inputs(data), deterministic=False)[0]
    clean = objective.loss(objective.sums(outputs, data), objective.counts(data))
    np.testing.assert_allclose(metrics["loss"], clean, rtol=1e-5)
    nnx.reseed(again, dropout=key)
    cat, real = again.denoising(data.cat, data.real, data.mask)
    corrupted = data._replace(cat=cat, real=real)
    assert abs(float(objective.loss(objective.sums(outputs, corrupted), objective.counts(corrupted))) - float(clean)) > 1e-3
    # Evaluation reads the clean items: deterministic forward passes agree.
    np.testing.assert_allclose(again(**objective.inputs(data))[0]["amount"], again(**objective.inputs(data))[0]["amount"])


def test_pipeline_trains_on_an_unlabelled_table(tmp_path, monkeypatch):
    path = write(tmp_path, steps=60)
    monkeypatch.chdir(tmp_path)
    spec = load_spec(path)
    experiment.preprocess(spec)
    experiment.train(spec, progress_bar=False)
    from seqjax.train.metrics import read

    valid = [r for r in read(spec.paths.metrics) if r["split"] == "valid"][-1]
    assert valid["targets"]["event"]["accuracy"] == 1.0 and valid["targets"]["amount"]["loss"] < 0.05


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"objective": {"kind": "autoencode", "code_dim": 0}}, "train.objective.code_dim = 0: must be at least 1"),
        ({"objective": {"kind": "autoencode", "drop": 1.0}}, r"train.objective.drop = 1.0: must be in \[0, 1\)"),
        ({"objective": {"kind": "autoencode", "noise": -1.0}}, "train.objective.noise = -1.0: must be 0 or positive"),
        ({"objective": {"kind": "autoencode", "decoder": "gru"}}, "train.objective.decoder"),
        ({"targets": ["event", "amout"]}, r"'amout' is not an item column; the 'autoencode' objective learns item columns \['event', 'amount'\]; did you mean 'amount'\?"),
    ],
)
def test_bad_autoencode_specs_fail_with_one_line(changes, message):
    with pytest.raises(SpecError, match=message) as error:
        spec_of(ENCODERS["lstm"], train=changes)
    assert "\n" not in str(error.value)


def test_autoencode_modes_and_split_fail_with_one_line():
    spec = spec_of(ENCODERS["lstm"])
    table = {"data": {"input": "x.parquet", "columns": [{"name": "event", "kind": "categorical"}]}, "train": {"objective": {"kind": "autoencode"}, "targets": ["event"]}}
    with pytest.raises(SpecError, match=r"^spec: infer.mode = 'predict': the 'autoencode' objective offers \['embed'\]$"):
        spec_from_dict(table)
    table["infer"] = {"mode": "embed"}
    table["data"]["split"] = {"by": "time"}
    with pytest.raises(SpecError, match=r"^spec: data.split.by = 'time': the 'autoencode' objective splits whole sequences"):
        spec_from_dict(table)
    assert isinstance(spec.train.objective, AutoencodeObjective)
