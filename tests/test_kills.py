"""The kill harness: `seqjax run` killed at every kind of moment, then run again, ends exactly where an
uninterrupted run ends, and a kill never leaves a partial file under a final name."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import polars as pl
import pytest
from tiny import ROOT, final_params, temporaries, train_losses, write_experiment


def seqjax(*args: str, kill_at: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SEQJAX_KILL_AT"} | ({"SEQJAX_KILL_AT": kill_at} if kill_at else {})
    return subprocess.run([sys.executable, "-m", "seqjax.cli", *args, "--no-progress"], cwd=ROOT, capture_output=True, text=True, env=env)


def saved(workdir: pathlib.Path) -> int:
    """The newest committed checkpoint's step."""
    return max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


def assert_whole(workdir: pathlib.Path) -> None:
    """Whatever exists under a final name is complete."""
    data, export, predictions = workdir / "data", workdir / "export", workdir / "predictions" / "test.parquet"
    if data.exists():
        json.loads((data / "metadata.json").read_text())
    if export.exists():
        assert {"model.json", "weights.npz", "next.jax"} <= {p.name for p in export.iterdir()}
    if predictions.exists():
        pl.read_parquet(predictions)


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> pathlib.Path:
    return write_experiment(tmp_path_factory.mktemp("kills"), steps=10, every=2, eval_every=4, dropout=0.1, sequences=80)


@pytest.fixture(scope="module")
def whole(spec) -> pathlib.Path:
    result = seqjax("run", str(spec), "--set", "workdir='whole'")
    assert result.returncode == 0, result.stderr
    return spec.parent / "whole"


def test_sigkill_at_every_stage_then_rerun_ends_like_an_uninterrupted_run(spec, whole):
    workdir = spec.parent / "killed"
    stages = [
        ("preprocess.shard@2", lambda: not (workdir / "data").exists()),
        ("train.step@5", lambda: (workdir / "checkpoints" / "2").exists()),  # step 4 may still have been in writing
        ("checkpoint.save@2", lambda: saved(workdir) < 10),  # killed while the second save of this run was being written
        ("export.artifact@2", lambda: not (workdir / "export").exists()),
        ("infer.part", lambda: not (workdir / "predictions" / "test.parquet").exists()),
    ]
    for point, expected in stages:
        result = seqjax("run", str(spec), "--set", "workdir='killed'", kill_at=point)
        assert result.returncode == -signal.SIGKILL, f"{point}: {result.returncode}\n{result.stderr[-2000:]}"
        assert expected(), point
        assert_whole(workdir)
    result = seqjax("run", str(spec), "--set", "workdir='killed'")
    assert result.returncode == 0, result.stderr
    for a, b in zip(final_params(workdir), final_params(whole)):
        np.testing.assert_array_equal(a, b)
    assert train_losses(workdir) == train_losses(whole)
    assert pl.read_parquet(workdir / "predictions" / "test.parquet").equals(pl.read_parquet(whole / "predictions" / "test.parquet"))
    assert not temporaries(workdir)


def test_sigterm_saves_the_step_in_flight_and_the_rerun_ends_identically(spec, whole):
    workdir = spec.parent / "terminated"
    command = [sys.executable, "-m", "seqjax.cli", "run", str(spec), "--set", "workdir='terminated'", "--no-progress"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = workdir / "metrics.jsonl"
    deadline = time.time() + 180
    while time.time() < deadline and not (metrics.exists() and '"split": "train"' in metrics.read_text()):
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("seqjax: error:")]
    assert len(lines) == 1 and "stopped by SIGTERM at step" in lines[0] and "run the same command again to resume" in lines[0], err
    step = int(lines[0].split("at step ")[1].split(";")[0])
    assert (workdir / "checkpoints" / str(step)).exists()
    result = seqjax("run", str(spec), "--set", "workdir='terminated'")
    assert result.returncode == 0, result.stderr
    assert f"resuming from the checkpoint at step {step}" in result.stdout
    for a, b in zip(final_params(workdir), final_params(whole)):
        np.testing.assert_array_equal(a, b)
    assert train_losses(workdir) == train_losses(whole)


def test_a_killed_sequence_run_resumes_to_identical_parameters(tmp_path):
    from tiny import write_sequence_experiment

    from seqjax import experiment
    from seqjax.spec import load_spec

    spec = write_sequence_experiment(tmp_path, steps=6, every=2, encoder='{ kind = "transformer", causal = false }', pooling='{ kind = "attention" }')
    experiment.preprocess(load_spec(spec))
    experiment.train(load_spec(spec), progress_bar=False)  # the reference, in this process
    (spec.parent / "killed").mkdir()
    (spec.parent / "killed" / "data").symlink_to(spec.parent / "run" / "data")
    killed = seqjax("train", str(spec), "--set", "workdir='killed'", kill_at="train.step@5")
    assert killed.returncode == -signal.SIGKILL
    resumed = experiment.train(load_spec(spec, ["workdir='killed'"]), progress_bar=False)
    assert resumed.step == 6
    for a, b in zip(final_params(spec.parent / "killed"), final_params(spec.parent / "run")):
        np.testing.assert_array_equal(a, b)
    assert train_losses(spec.parent / "killed") == train_losses(spec.parent / "run")
