"""Inference of a sequence objective: one row per sequence for a split or new data, outputs that do not depend
on how sequences were bucketed or batched, static features from the frame or a table, and exported
functions that match the in-process ones in a fresh process."""

from __future__ import annotations

import copy
import dataclasses
import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import polars as pl
import pytest
from tiny import write_sequence_experiment

import seqjax
from seqjax import cli
from seqjax.infer import modes, sequences
from seqjax.infer.export import export
from seqjax.infer.inputs import InputError
from seqjax.spec import InferMode


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> pathlib.Path:
    spec = write_sequence_experiment(tmp_path_factory.mktemp("sequence-infer"), steps=6, every=3, encoder='{ kind = "rnn", cell = "gru" }')
    assert cli.main(["preprocess", str(spec)]) == 0
    assert cli.main(["train", str(spec), "--no-progress"]) == 0
    return spec


@pytest.fixture(scope="module")
def model(run):
    return seqjax.load(run.parent / "run")


@pytest.fixture(scope="module")
def frames(run) -> tuple[pl.DataFrame, pl.DataFrame]:
    items, labels = pl.read_parquet(run.parent / "items.parquet"), pl.read_parquet(run.parent / "labels.parquet")
    chosen = labels["sequenceId"].head(12).to_list()
    return items.filter(pl.col("sequenceId").is_in(chosen)), labels.filter(pl.col("sequenceId").is_in(chosen))


def test_a_split_gives_one_row_per_sequence_and_a_quality_summary(run, capsys):
    assert cli.main(["infer", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "label: accuracy" in out and "balanced accuracy" in out and "(baseline" in out
    predicted = pl.read_parquet(run.parent / "run" / "predictions" / "test.parquet")
    ids = pl.read_parquet(run.parent / "run" / "data" / "sequences-test.parquet")["sequenceId"]
    assert predicted.columns == ["sequenceId", "label"] and predicted["sequenceId"].to_list() == ids.to_list()
    assert set(predicted["label"]) <= set("abcd")
    quality = json.loads((run.parent / "run" / "predictions" / "test-quality.json").read_text())
    assert {"accuracy", "balanced_accuracy", "macro_f1", "log_loss", "baseline_accuracy"} <= set(quality["targets"]["label"])


def test_new_data_with_static_features_from_the_frame_or_a_table(model, frames):
    items, labels = frames
    with_static = items.join(labels.select("sequenceId", "segment"), on="sequenceId")
    from_frame = model.predict(with_static)
    from_table = model.predict(items, static=labels.select("sequenceId", "segment"))
    assert from_frame.equals(from_table) and from_frame.height == 12 and from_frame["sequenceId"].is_sorted()
    probs = model.probabilities(items, static=labels)
    np.testing.assert_allclose(probs.select(pl.exclude("sequenceId")).sum_horizontal().to_numpy(), 1.0, rtol=1e-5)
    picked = probs.select(pl.exclude("sequenceId")).to_numpy().argmax(1)
    assert [f"label={v}" for v in from_frame["label"]] == [probs.columns[1 + k] for k in picked]
    vectors = model.embed(items, static=labels)
    assert vectors.columns[1:] == [f"embedding_{d}" for d in range(16)] and vectors.height == 12
    with pytest.raises(InputError, match=r"static feature 'segment' is not a column; give the static features as a table"):
        model.predict(items)
    with pytest.raises(InputError, match=r"sequences with items have no row \(no static features\)"):
        model.predict(items, static=labels.head(3))


def test_outputs_do_not_depend_on_buckets_or_batch_size(run, model, frames):
    items, labels = frames
    source = model.source(items, static=labels)
    job = modes.Job(mode=InferMode.PROBABILITIES)
    reference = next(sequences.frames(model.functions, model.objective, source, job))
    one_bucket = copy.copy(model.objective)
    one_bucket.meta = dataclasses.replace(model.meta, buckets=(24,))
    many = copy.copy(model.objective)
    many.meta = dataclasses.replace(model.meta, buckets=(5, 9, 13, 17, 24))
    for objective in (one_bucket, many):
        other = next(sequences.frames(model.functions, objective, source, job))
        np.testing.assert_allclose(other.drop("sequenceId").to_numpy(), reference.drop("sequenceId").to_numpy(), rtol=2e-5, atol=2e-6)
    single = seqjax.load(run.parent / "run", devices=jax.devices()[:1])
    single.spec = dataclasses.replace(single.spec, infer=dataclasses.replace(single.spec.infer, batch_size=1))
    single.functions = type(model.functions)(single.functions.net, single.functions.params, single.functions.mesh, 1)
    alone = next(sequences.frames(single.functions, single.objective, single.source(items, static=labels), job))
    np.testing.assert_allclose(alone.drop("sequenceId").to_numpy(), reference.drop("sequenceId").to_numpy(), rtol=2e-5, atol=2e-6)


CONSUMER = """
import json, sys
import jax
import numpy as np

folder, inputs, output = sys.argv[1:4]
info = json.load(open(f"{folder}/model.json"))
weights = dict(np.load(f"{folder}/{info['files']['weights']}"))
x = dict(np.load(inputs))
args = [x[k] for k in ("cat", "real", "mask", "order", "static_cat", "static_real")]
load = lambda name: jax.export.deserialize(bytearray(open(f"{folder}/{info['files'][name]}", "rb").read()))
out = load("sequence").call(weights, *args)
np.savez(output, probs=np.asarray(out["probabilities"]["label"]), embed=np.asarray(load("embed").call(weights, *args)))
assert not {"seqjax", "flax", "polars"} & set(sys.modules)
"""


def test_exported_functions_match_in_a_fresh_process(model, frames, tmp_path):
    items, labels = frames
    folder = export(model.spec, predictor=model)
    info = json.loads((folder / "model.json").read_text())
    assert info["objective"] == "sequence" and info["targets"] == ["label"] and {"sequence", "embed"} <= set(info["files"])
    _, batch = next(sequences.batches(model.source(items, static=labels), model.meta, 8))
    arrays = sequences.model_inputs(batch)
    np.savez(tmp_path / "in.npz", **dict(zip(("cat", "real", "mask", "order", "static_cat", "static_real"), arrays)))
    (tmp_path / "consumer.py").write_text(CONSUMER)
    result = subprocess.run([sys.executable, str(tmp_path / "consumer.py"), str(folder), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    got = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(got["probs"], model.functions.run("sequence", arrays)["probabilities"]["label"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["embed"], model.functions.run("sequence_embed", arrays), rtol=1e-5, atol=1e-5)
