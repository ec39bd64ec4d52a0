"""The training loop: wires data, model, step, evaluation, metrics and checkpoints together."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import pathlib
import signal
import threading
import time
from typing import Callable

import jax
import numpy as np
from flax import nnx

from seqjax import faults, files
from seqjax.data import pipeline
from seqjax.errors import RunError, Stopped
from seqjax.spec import Spec, SpecError
from seqjax.train import checkpoint, resume, select
from seqjax.train import init as finetune
from seqjax.train import step as steps
from seqjax.train.metrics import MetricsLog, describe_eval


class TrainingError(RunError):
    """Training cannot go on (a NaN loss, checkpoints from another spec); the message names the step or path."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    step: int
    best_step: int | None
    best_loss: float | None
    """The validation loss at the best step."""
    stopped_early: bool
    best_value: float | None = None
    """The selected figure (`train.select`) at the best step."""
    select: str = "valid.loss"


def checkpoint_dir(spec: Spec) -> pathlib.Path:
    return spec.paths.checkpoints


class Trainer:
    """Everything built once for a spec: mesh, model, optimizer and the compiled steps."""

    def __init__(self, spec: Spec, devices=None):
        from seqjax.model import (
            batch_sharding,
            create_model,
            make_mesh,
            param_shardings,
        )
        from seqjax.preprocess import check_current

        self.spec = spec
        self.meta, self.data_dir = spec.paths.metadata(), spec.paths.data
        check_current(spec.data, spec.seed, self.meta, self.data_dir, spec.train.objective.view)
        self.mesh = make_mesh(spec.mesh, devices)
        spec.mesh.check(spec.model, spec.train.batch_size, tuple(self.mesh.shape.values()))
        self.batch_sharding = batch_sharding(self.mesh)
        self.replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        try:
            self.rows = self.local_rows(spec.train.batch_size)
        except ValueError as error:
            raise SpecError(f"train.batch_size = {spec.train.batch_size}: {error}") from None
        self.objective = spec.train.objective.build(self.meta, spec.train)
        model = create_model(spec.model, self.meta, self.objective.readout, self.mesh, spec.seed)
        self.graphdef, params, self.rest = nnx.split(model, nnx.Param, ...)
        if spec.train.init:  # fine-tuning: a resumed run's checkpoint replaces these below
            params = finetune.pretrained(spec, params, self.meta, self.mesh)
        self.schedule = spec.train.schedule.build(spec.train.optimizer.lr, spec.train.steps)
        self.tx = finetune.optimizer(spec.train.optimizer.build(self.schedule), params, spec.train.freeze)
        # Every sharding comes from the rules table: parameters by their logical names, optimizer
        # moments like their parameters, counters and RNG state replicated.
        params_sh, rest_sh = param_shardings(params, self.mesh), param_shardings(self.rest, self.mesh)
        self.state_shardings = steps.state_shardings(params, params_sh, self.tx, self.mesh)
        self.state = jax.jit(lambda p: steps.init_state(p, self.tx), in_shardings=(params_sh,), out_shardings=self.state_shardings)(params)
        train_step = steps.make_train_step(self.graphdef, self.tx, self.objective, spec.seed, accumulate=spec.train.accumulate, params_shardings=params_sh)
        self.train_step = steps.jit_train_step(train_step, self.state_shardings, rest_sh, self.batch_sharding, self.replicated)
        self.eval_step = jax.jit(
            steps.make_eval_step(self.graphdef, self.objective), in_shardings=(params_sh, rest_sh, self.batch_sharding), out_shardings=self.replicated
        )

    def local_rows(self, global_batch: int) -> list[int]:
        """Rows of each global batch of `global_batch` windows that this process loads (all of them on one process)."""
        from seqjax.model import local_rows

        return local_rows(self.batch_sharding, global_batch)

    def device_batch(self, batch: dict, global_batch: int | None = None):
        """This process's rows of a record batch -> the objective's batch record of global arrays, split over the batch axes."""

        def put(v):
            shape = None if global_batch is None else (global_batch, *v.shape[1:])
            return jax.make_array_from_process_local_data(self.batch_sharding, v, shape)

        return jax.tree.map(put, self.objective.batch_type.of(batch))

    def evaluate(self, params, split: str = "valid") -> dict | None:
        """The objective's report (per-target loss, metrics, baselines) over a split (or its first `eval_batches` batches)."""
        evaluation = self.objective.evaluation()
        size = self.spec.train.batch_size
        for batch in pipeline.eval_batches(self.meta, self.data_dir, split, global_batch=size, limit=self.spec.train.eval_batches, rows=self.rows):
            evaluation.add(jax.device_get(self.eval_step(params, self.rest, self.device_batch(batch, size))))
        return evaluation.report()


EvalHook = Callable[[int, dict], bool]
"""Called after each evaluation with (step, the objective's report); returning True stops training there."""


def train(spec: Spec, *, progress_bar: bool = True, devices=None, restart: bool = False, on_eval: EvalHook | None = None) -> TrainResult:
    """Train from the latest checkpoint (or from scratch) to `train.steps`, early stopping, or a stop asked by `on_eval`.

    `restart` deletes the run's checkpoints and metrics first. SIGTERM (what SLURM and Kubernetes send
    before a pre-emption) saves the step in flight and stops with a `Stopped` error.
    """
    from seqjax.model import activate

    if restart and jax.process_index() == 0:
        files.remove(spec.paths.checkpoints)
        files.remove(spec.paths.metrics)
    if restart and jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("seqjax-restart")
    trainer = Trainer(spec, devices)
    with activate(trainer.mesh), _terminations() as terminated:
        return _train(trainer, progress_bar, terminated, on_eval)


@contextlib.contextmanager
def _terminations():
    """Within the block, SIGTERM sets the yielded event instead of ending the process (main thread only)."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGTERM, previous)


def _resume(trainer: Trainer, mngr, iterator, current: dict, log: MetricsLog, lead: bool) -> dict:
    """The progress to continue from: the newest intact checkpoint's (restoring state and iterator), or a fresh start."""
    directory = checkpoint_dir(trainer.spec)

    def load(step: int):
        saved = checkpoint.read_progress(mngr, step)
        resume.check(directory, saved, current)
        return checkpoint.restore(mngr, step, trainer.state, iterator)

    found = resume.newest_intact(list(mngr.all_steps()), load, directory)
    fresh = {"step": 0, "best_step": None, "best_loss": None, "best_value": None, "best_score": None, "bad_evals": 0, "stopped_early": False}
    progress = fresh if found is None else found[1][1]
    if found is not None:
        trainer.state = found[1][0]
        if lead:
            print(f"resuming from the checkpoint at step {progress['step']}")
    log.truncate_after(progress["step"])  # lines a killed run logged after its last checkpoint
    return {**progress, "format": resume.FORMAT, "settings": current}


def _train(trainer: Trainer, progress_bar: bool, terminated: threading.Event, on_eval: EvalHook | None = None) -> TrainResult:
    spec = trainer.spec
    meta, cfg = trainer.meta, spec.train
    lead = jax.process_index() == 0
    log = MetricsLog(spec.paths.metrics, enabled=lead)
    iterator = pipeline.train_iterator(meta, trainer.data_dir, global_batch=cfg.batch_size, seed=spec.seed, rows=trainer.rows)
    mngr = checkpoint.manager(checkpoint_dir(spec), spec.checkpoint)
    progress = _resume(trainer, mngr, iterator, resume.settings(spec, meta), log, lead)
    state = trainer.state
    step = progress["step"]
    has_valid = meta.splits["valid"].windows > 0
    bar = _progress(progress_bar and lead, step, cfg.steps)
    report = StepReporter(log, bar, trainer.schedule, cfg.log_every, step)
    pending = None
    try:
        while step < cfg.steps and not progress["stopped_early"]:
            host = next(iterator)
            report.count(host["mask"][:, 1:].size if meta.view == "windows" else int(host["mask"].sum()))  # items (windows: padding too)
            batch = trainer.device_batch(host, cfg.batch_size)
            state, metrics = trainer.train_step(state, trainer.rest, batch)
            step += 1
            faults.reached("train.step")
            # Read the previous step's metrics now, so the host never waits on the step just dispatched.
            if pending is not None:
                report(*pending)
            pending = (step, metrics)
            at_eval = has_valid and (step % cfg.eval_every == 0 or step == cfg.steps)
            stopping = _agreed(terminated.is_set(), step % cfg.log_every == 0)
            at_save = step % spec.checkpoint.every == 0 or step == cfg.steps or stopping
            if not (at_eval or at_save):
                continue
            report(*pending)
            pending, score = None, None
            if at_eval:
                score = _evaluate(trainer, state, step, progress, log, bar, lead, on_eval)
            progress["step"] = step
            checkpoint.save(mngr, step, state, iterator, dict(progress), score)
            faults.reached("checkpoint.save")
            if stopping:
                mngr.wait_until_finished()
                raise Stopped(f"stopped by SIGTERM at step {step}; a checkpoint of step {step} is saved: run the same command again to resume")
        if pending is not None:
            report(*pending)
        mngr.wait_until_finished()
    except BaseException:
        _close_after_failure(mngr, spec, lead)
        raise
    finally:
        if bar is not None:
            bar.close()
        mngr.close()
        log.close()
    trainer.state = state
    return TrainResult(step, progress["best_step"], progress["best_loss"], progress["stopped_early"], progress["best_value"], spec.train.select)


def _close_after_failure(mngr, spec: Spec, lead: bool) -> None:
    """Let a save in flight finish (or fail), then remove what failed saves left."""
    with contextlib.suppress(Exception):  # the save's own failure: the error being raised already says what went wrong
        mngr.wait_until_finished()
    if lead:
        checkpoint.remove_unfinished(checkpoint_dir(spec))


def _agreed(flag: bool, now: bool) -> bool:
    """True in every process when any process got SIGTERM (each process saves its part of a checkpoint).

    Several processes agree only at steps where `now` (every `log_every` steps): agreeing takes a collective.
    """
    if jax.process_count() == 1:
        return flag
    if not now:
        return False
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray([flag]))))


def _evaluate(trainer: Trainer, state, step: int, progress: dict, log: MetricsLog, bar, lead: bool, on_eval: EvalHook | None) -> float:
    """Evaluate on the validation split, log it, track the best step by `train.select` and early stopping (and
    `on_eval`'s stop); the selected figure as a score (lower is better), which picks the best checkpoint."""
    evaluation = trainer.evaluate(state.params)
    chosen = trainer.spec.train.select
    score = select.score(evaluation, chosen)
    log.write({"step": step, "split": "valid", **evaluation})
    _say(bar, lead, describe_eval(step, evaluation))
    if progress["best_score"] is None or score < progress["best_score"]:
        progress.update(best_step=step, best_loss=evaluation["loss"], best_value=select.value(evaluation, chosen), best_score=score, bad_evals=0)
    else:
        progress["bad_evals"] += 1
        patience = trainer.spec.train.early_stopping.patience
        if patience and progress["bad_evals"] >= patience:
            progress["stopped_early"] = True
            _say(bar, lead, f"early stopping at step {step}: no better {chosen} in {patience} evaluations")
    if on_eval is not None and on_eval(step, evaluation):
        progress["stopped_early"] = True
    return score


class StepReporter:
    """Turns a finished step's metrics into a NaN check, the progress bar and a log line every `every` steps."""

    def __init__(self, log: MetricsLog, bar, schedule, every: int, step: int):
        self.log, self.bar, self.schedule, self.every = log, bar, schedule, every
        self.mark, self.tokens = (step, time.perf_counter()), 0

    def count(self, tokens: int) -> None:
        """Items this process read for the next step (global: times the processes)."""
        self.tokens += tokens * jax.process_count()

    def __call__(self, step: int, metrics: dict) -> None:
        values = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if not math.isfinite(values["loss"]):
            raise TrainingError(f"training loss is {values['loss']} at step {step}; lower train.optimizer.lr or check the input data")
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
        if step % self.every == 0:
            now = time.perf_counter()
            rate = self.tokens / max(now - self.mark[1], 1e-9)
            self.mark, self.tokens = (step, now), 0
            self.log.write({"step": step, "split": "train", "lr": float(self.schedule(step - 1)), "tokens_per_s": round(rate, 1), **values})


def _progress(enabled: bool, start: int, total: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True, mininterval=1.0)


def _say(bar, lead: bool, text: str) -> None:
    if not lead:
        return
    if bar is not None:
        bar.write(text)
    else:
        print(text)
