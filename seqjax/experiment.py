"""The steps of an experiment, each callable from Python or the command line."""

from __future__ import annotations

import pathlib

from seqjax import distributed
from seqjax.spec import Spec


def preprocess(spec: Spec) -> pathlib.Path:
    """Shards and metadata under `workdir/data` (reused when inputs and settings are unchanged)."""
    distributed.initialize(spec.distributed)
    from seqjax.preprocess import preprocess as run_preprocess

    return run_preprocess(spec.data, spec.workpath, seed=spec.seed, options=spec.preprocess)


def train(spec: Spec, *, progress_bar: bool = True, devices=None):
    """Train (or resume) to `train.steps` on `devices` (default: all); returns a TrainResult.

    The resolved spec is saved as `workdir/spec.json` first, so `seqjax.load(workdir)` works.
    """
    distributed.initialize(spec.distributed)
    import jax

    from seqjax.infer.restore import write_spec
    from seqjax.train.loop import train as run_train

    if jax.process_index() == 0:
        write_spec(spec)
    return run_train(spec, progress_bar=progress_bar, devices=devices)


def infer(spec: Spec, *, progress_bar: bool = True, devices=None):
    """Run `infer.mode` with the best checkpoint; returns an InferResult (output path, rows, quality summary)."""
    distributed.initialize(spec.distributed)
    from seqjax.infer.run import infer as run_infer

    return run_infer(spec, progress_bar=progress_bar, devices=devices)


def export(spec: Spec) -> pathlib.Path:
    """Serialized inference functions, weights and metadata under `workdir/export`."""
    distributed.initialize(spec.distributed)
    from seqjax.infer.export import export as run_export

    return run_export(spec)


def run(spec: Spec, *, progress_bar: bool = True):
    """Preprocess, train, export and infer."""
    preprocess(spec)
    train(spec, progress_bar=progress_bar)
    export(spec)
    return infer(spec, progress_bar=progress_bar)
