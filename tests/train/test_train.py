"""Training end to end: NaN handling and the checkpoints kept (kills and resumes: test_kills.py; meshes: test_scaling.py)."""

import os
import pathlib

import pytest
from tiny import write_experiment

from seqjax import experiment
from seqjax.spec import load_spec
from seqjax.train import checkpoint, loop
from seqjax.train.metrics import read


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
