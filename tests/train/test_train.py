"""Training end to end: exact resume after SIGKILL, NaN handling, checkpoints kept (meshes: test_scaling.py)."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from tiny import ROOT, write_experiment

from seqjax import experiment
from seqjax.spec import load_spec
from seqjax.train import checkpoint, loop
from seqjax.train.metrics import read


def final_params(run_dir: pathlib.Path) -> list[np.ndarray]:
    """Leaves of the latest checkpoint's parameters, restored as plain host arrays."""
    mngr = ocp.CheckpointManager(run_dir / "checkpoints", options=ocp.CheckpointManagerOptions(read_only=True))
    step = mngr.latest_step()
    state = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
    mngr.close()
    return [np.asarray(x) for x in jax.tree.leaves(state["params"])]


def train_losses(run_dir: pathlib.Path) -> list[float]:
    return [r["loss"] for r in read(run_dir / "metrics.jsonl") if r["split"] == "train"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> pathlib.Path:
    path = write_experiment(tmp_path_factory.mktemp("tiny"), steps=6, every=3, eval_every=3, dropout=0.0)
    experiment.preprocess(load_spec(path))
    return path


def test_keeps_best_and_latest_checkpoints(tiny):
    spec = load_spec(tiny, ["workdir='keep'", "train.steps=12", "checkpoint.every=2", "checkpoint.keep=2", "train.eval_every=4"])
    os.makedirs(spec.workpath)
    os.symlink(tiny.parent / "run" / "data", spec.workpath / "data")
    result = experiment.train(spec, progress_bar=False)
    mngr = checkpoint.manager(loop.checkpoint_dir(spec), read_only=True)
    steps = sorted(mngr.all_steps())
    assert steps[-2:] == [10, 12]
    assert result.best_step in steps
    assert checkpoint.best_step(mngr) == result.best_step
    evals = [r for r in read(spec.workpath / "metrics.jsonl") if r["split"] == "valid"]
    assert [r["step"] for r in evals] == [4, 8, 12]
    assert set(evals[0]["targets"]) == {"event", "channel", "amount", "duration"}
    assert {"loss", "accuracy", "baseline_loss", "baseline_accuracy"} <= set(evals[0]["targets"]["event"])


def test_nan_loss_stops_with_the_step(tiny):
    spec = load_spec(tiny, ["workdir='nan'", "train.optimizer={lr=1e30, clip=0.0}", "train.schedule={kind='constant'}"])
    os.makedirs(spec.workpath)
    os.symlink(tiny.parent / "run" / "data", spec.workpath / "data")
    with pytest.raises(loop.TrainingError, match=r"training loss is (nan|inf) at step \d+"):
        experiment.train(spec, progress_bar=False)


def _seqjax(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "seqjax.cli", *args, "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_sigkill_then_rerun_ends_with_identical_parameters(tmp_path):
    spec = write_experiment(tmp_path, steps=40, every=5, eval_every=10, dropout=0.1)
    whole = _seqjax("run", str(spec), "--set", "workdir='whole'")
    killed = _seqjax("run", str(spec), "--set", "workdir='killed'")
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.isdigit() and int(p.name) >= 10 for p in checkpoints.glob("*")):
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "training finished before it could be killed"
    resumed = subprocess.run([sys.executable, "-m", "seqjax.cli", "run", str(spec), "--set", "workdir='killed'", "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from the checkpoint at step" in resumed.stdout
    output = whole.communicate()[0]
    assert whole.returncode == 0, output
    for a, b in zip(final_params(tmp_path / "killed"), final_params(tmp_path / "whole")):
        np.testing.assert_array_equal(a, b)
    assert train_losses(tmp_path / "killed") == train_losses(tmp_path / "whole")
