"""A contrastive run end to end: trained from sequences without labels, killed and resumed to identical
parameters, and embedded one row per sequence for a split and for new data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import polars as pl
from tiny import ROOT, final_params, train_losses
from tiny_contrastive import write_contrastive_experiment

import seqjax
from seqjax import experiment
from seqjax.spec import load_spec


def test_a_killed_contrastive_run_resumes_to_identical_parameters_and_embeds_every_sequence(tmp_path):
    spec = write_contrastive_experiment(tmp_path, steps=6, every=2)
    experiment.preprocess(load_spec(spec))
    result = experiment.train(load_spec(spec), progress_bar=False)  # the reference, in this process
    assert result.step == 6
    losses = train_losses(spec.parent / "run")
    assert len(losses) == 3 and all(np.isfinite(losses))
    (spec.parent / "killed").mkdir()
    (spec.parent / "killed" / "data").symlink_to(spec.parent / "run" / "data")
    env = {k: v for k, v in os.environ.items() if k != "SEQJAX_KILL_AT"} | {"SEQJAX_KILL_AT": "train.step@5"}
    command = [sys.executable, "-m", "seqjax.cli", "train", str(spec), "--set", "workdir='killed'", "--no-progress"]
    killed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed = experiment.train(load_spec(spec, ["workdir='killed'"]), progress_bar=False)
    assert resumed.step == 6
    for a, b in zip(final_params(spec.parent / "killed"), final_params(spec.parent / "run")):
        np.testing.assert_array_equal(a, b)
    assert train_losses(spec.parent / "killed") == losses

    # embeddings: one row per sequence of the split, `embedding_0..` of the model width
    written = experiment.infer(load_spec(spec), progress_bar=False)
    frame = pl.read_parquet(written.path)
    test_ids = pl.read_parquet(spec.parent / "run" / "data" / "sequences-test.parquet").to_series()
    assert frame.columns == ["sequenceId", *(f"embedding_{i}" for i in range(16))]
    assert frame["sequenceId"].to_list() == sorted(test_ids.to_list())
    vectors = frame.drop("sequenceId").to_numpy()
    assert np.all(np.isfinite(vectors)) and np.linalg.matrix_rank(vectors) > 1
    # new data through the Python API: the same vectors for the same sequences
    items = pl.read_parquet(spec.parent / "items.parquet").filter(pl.col("sequenceId").is_in(test_ids.to_list()))
    again = seqjax.load(spec.parent / "run").embed(items)
    np.testing.assert_allclose(again.drop("sequenceId").to_numpy(), vectors, rtol=1e-5, atol=1e-6)
