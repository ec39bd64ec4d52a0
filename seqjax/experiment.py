"""The steps of an experiment, each callable from Python or the command line.

Each step holds the workdir's lock while it works (in a job of several processes, process 0 holds
it), so a second command on the same workdir fails at once instead of mixing files with the first.
"""

from __future__ import annotations

import contextlib
import pathlib
from typing import Iterator

from seqjax import distributed
from seqjax.spec import Spec


@contextlib.contextmanager
def _step(spec: Spec) -> Iterator[None]:
    """Join the job (if any), then hold the workdir in process 0."""
    distributed.initialize(spec.distributed)
    with spec.paths.lock() if distributed.is_lead() else contextlib.nullcontext():
        yield


def preprocess(spec: Spec, *, progress_bar: bool = False) -> pathlib.Path:
    """Shards and metadata under `workdir/data` (reused when inputs and settings are unchanged).

    In a job of several processes, process 0 writes them and the others wait, then read the same folder.
    """
    with _step(spec):
        from seqjax.preprocess import preprocess as run_preprocess

        options = dict(seed=spec.seed, options=spec.preprocess, progress_bar=progress_bar, view=spec.train.objective.view)
        distributed.lead_only("preprocess", lambda: run_preprocess(spec.data, spec.workpath, **options))
    return spec.paths.data


def train(spec: Spec, *, progress_bar: bool = True, devices=None, restart: bool = False, on_eval=None):
    """Train (or resume) to `train.steps` on `devices` (default: all); returns a TrainResult.

    `restart` deletes the run's checkpoints and metrics first. The resolved spec is saved as
    `workdir/spec.json`, so `seqjax.load(workdir)` works. `on_eval(step, report)` runs after each
    evaluation; returning True stops training there (pruning).
    """
    with _step(spec):
        from seqjax.infer.restore import write_spec
        from seqjax.train.loop import train as run_train

        if distributed.is_lead():
            write_spec(spec)
        return run_train(spec, progress_bar=progress_bar, devices=devices, restart=restart, on_eval=on_eval)


def infer(spec: Spec, *, progress_bar: bool = True, devices=None):
    """Run `infer.mode` with the best checkpoint; returns an InferResult (output path, rows, quality summary)."""
    with _step(spec):
        from seqjax.infer.run import infer as run_infer

        return run_infer(spec, progress_bar=progress_bar, devices=devices)


def export(spec: Spec) -> pathlib.Path:
    """Serialized inference functions, weights and metadata under `workdir/export`."""
    with _step(spec):
        import jax

        from seqjax.infer.export import export as run_export

        if jax.process_count() == 1:
            return run_export(spec)
        from jax.experimental import multihost_utils

        from seqjax.infer.api import Predictor

        # Every process restores its part of the parameters; all gather them to host arrays; process 0 alone writes.
        predictor = Predictor(spec)
        predictor.functions.params = multihost_utils.process_allgather(predictor.functions.params, tiled=True)
        distributed.lead_only("export", lambda: run_export(spec, predictor=predictor))
    return spec.paths.export


def run(spec: Spec, *, progress_bar: bool = True, restart: bool = False):
    """Preprocess, train, export and infer."""
    with _step(spec):
        preprocess(spec, progress_bar=progress_bar)
        train(spec, progress_bar=progress_bar, restart=restart)
        export(spec)
        return infer(spec, progress_bar=progress_bar)
