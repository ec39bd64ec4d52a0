"""The steps of an experiment, each callable from Python or the command line."""

from __future__ import annotations

import pathlib

from seqjax.spec import Spec


def preprocess(spec: Spec) -> pathlib.Path:
    """Shards and metadata under `workdir/data` (reused when inputs and settings are unchanged)."""
    from seqjax.preprocess import preprocess as run_preprocess

    return run_preprocess(spec.data, spec.workpath, seed=spec.seed)


def train(spec: Spec, *, progress_bar: bool = True, devices=None):
    """Train (or resume) to `train.steps` on `devices` (default: all); returns a TrainResult."""
    from seqjax.train.loop import train as run_train

    return run_train(spec, progress_bar=progress_bar, devices=devices)


def infer(spec: Spec, *, progress_bar: bool = True) -> tuple[pathlib.Path, dict]:
    """Predictions from the best checkpoint; returns (output path, quality summary)."""
    from seqjax.infer.predict import predict

    return predict(spec, progress_bar=progress_bar)


def run(spec: Spec, *, progress_bar: bool = True) -> tuple[pathlib.Path, dict]:
    """Preprocess, train and infer."""
    preprocess(spec)
    train(spec, progress_bar=progress_bar)
    return infer(spec, progress_bar=progress_bar)
