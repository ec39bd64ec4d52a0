"""The training loop: wires data, model, step, evaluation, metrics and checkpoints together."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib
import time
from typing import Callable

import jax
from flax import nnx

from seqjax.data import pipeline
from seqjax.data.metadata import Metadata
from seqjax.errors import RunError
from seqjax.spec import Spec, SpecError, to_dict
from seqjax.train import checkpoint
from seqjax.train import step as steps
from seqjax.train.metrics import MetricsLog, describe_eval


class TrainingError(RunError):
    """Training cannot go on (a NaN loss, checkpoints from another spec); the message names the step or path."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    step: int
    best_step: int | None
    best_loss: float | None
    stopped_early: bool


def checkpoint_dir(spec: Spec) -> pathlib.Path:
    return spec.paths.checkpoints


def run_fingerprint(spec: Spec, meta: Metadata) -> str:
    """What a checkpoint must agree with to be resumed: data, model, objective, targets and optimizer."""
    keys = {
        "data": meta.fingerprint,
        "model": to_dict(spec.model),
        "objective": to_dict(spec.train.objective),
        "targets": list(spec.train.targets),
        "optimizer": to_dict(spec.train.optimizer),
        "seed": spec.seed,
    }
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


class Trainer:
    """Everything built once for a spec: mesh, model, optimizer and the compiled steps."""

    def __init__(self, spec: Spec, devices=None):
        from seqjax.model import (
            batch_sharding,
            create_model,
            make_mesh,
            param_shardings,
        )

        self.spec = spec
        self.meta, self.data_dir = spec.paths.metadata(), spec.paths.data
        self.mesh = make_mesh(spec.mesh, devices)
        self.batch_sharding = batch_sharding(self.mesh)
        self.replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        try:
            self.rows = self.local_rows(spec.train.batch_size)
        except ValueError as error:
            raise SpecError(f"train.batch_size = {spec.train.batch_size}: {error}") from None
        self.objective = spec.train.objective.build(self.meta, spec.train)
        model = create_model(spec.model, self.meta, self.objective.readout, self.mesh, spec.seed)
        self.graphdef, params, self.rest = nnx.split(model, nnx.Param, ...)
        self.schedule = spec.train.schedule.build(spec.train.optimizer.lr, spec.train.steps)
        self.tx = spec.train.optimizer.build(self.schedule)
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


def train(spec: Spec, *, progress_bar: bool = True, devices=None, on_eval: EvalHook | None = None) -> TrainResult:
    """Train from the latest checkpoint (or from scratch) to `train.steps`, early stopping, or a stop asked by `on_eval`."""
    from seqjax.model import activate

    trainer = Trainer(spec, devices)
    with activate(trainer.mesh):
        return _train(trainer, progress_bar, on_eval)


def _train(trainer: Trainer, progress_bar: bool, on_eval: EvalHook | None = None) -> TrainResult:
    spec = trainer.spec
    meta, cfg = trainer.meta, spec.train
    fingerprint = run_fingerprint(spec, meta)
    lead = jax.process_index() == 0
    log = MetricsLog(spec.paths.metrics, enabled=lead)
    iterator = pipeline.train_iterator(meta, trainer.data_dir, global_batch=cfg.batch_size, seed=spec.seed, rows=trainer.rows)
    mngr = checkpoint.manager(checkpoint_dir(spec), spec.checkpoint)
    progress = {"step": 0, "best_step": None, "best_loss": None, "bad_evals": 0, "stopped_early": False, "fingerprint": fingerprint}
    latest = mngr.latest_step()
    if latest is not None:
        saved = checkpoint.read_progress(mngr, latest)
        if saved.get("fingerprint") != fingerprint:
            raise TrainingError(
                f"{checkpoint_dir(spec)}: checkpoints were written for different data, model or optimizer settings; use another workdir or delete it"
            )
        trainer.state, progress = checkpoint.restore(mngr, latest, trainer.state, iterator)
        log.truncate_after(progress["step"])
        if lead:
            print(f"resuming from the checkpoint at step {progress['step']}")
    state = trainer.state
    step = progress["step"]
    has_valid = meta.splits["valid"].windows > 0
    bar = _progress(progress_bar and lead, step, cfg.steps)
    report = StepReporter(log, bar, trainer.schedule, cfg.log_every, cfg.batch_size * meta.context, step)
    pending = None
    try:
        while step < cfg.steps and not progress["stopped_early"]:
            batch = trainer.device_batch(next(iterator), cfg.batch_size)
            state, metrics = trainer.train_step(state, trainer.rest, batch)
            step += 1
            # Read the previous step's metrics now, so the host never waits on the step just dispatched.
            if pending is not None:
                report(*pending)
            pending = (step, metrics)
            at_eval = has_valid and (step % cfg.eval_every == 0 or step == cfg.steps)
            at_save = step % spec.checkpoint.every == 0 or step == cfg.steps
            if not (at_eval or at_save):
                continue
            report(*pending)
            pending, valid_loss = None, None
            if at_eval:
                evaluation = trainer.evaluate(state.params)
                valid_loss = evaluation["loss"]
                log.write({"step": step, "split": "valid", **evaluation})
                _say(bar, lead, describe_eval(step, evaluation))
                if progress["best_loss"] is None or valid_loss < progress["best_loss"]:
                    progress.update(best_step=step, best_loss=valid_loss, bad_evals=0)
                else:
                    progress["bad_evals"] += 1
                    patience = cfg.early_stopping.patience
                    if patience and progress["bad_evals"] >= patience:
                        progress["stopped_early"] = True
                        _say(bar, lead, f"early stopping at step {step}: no better validation loss in {patience} evaluations")
                if on_eval is not None and on_eval(step, evaluation):
                    progress["stopped_early"] = True
            progress["step"] = step
            checkpoint.save(mngr, step, state, iterator, dict(progress), valid_loss)
        if pending is not None:
            report(*pending)
        mngr.wait_until_finished()
    finally:
        if bar is not None:
            bar.close()
        mngr.close()
        log.close()
    trainer.state = state
    return TrainResult(step, progress["best_step"], progress["best_loss"], progress["stopped_early"])


class StepReporter:
    """Turns a finished step's metrics into a NaN check, the progress bar and a log line every `every` steps."""

    def __init__(self, log: MetricsLog, bar, schedule, every: int, tokens_per_step: int, step: int):
        self.log, self.bar, self.schedule, self.every, self.tokens_per_step = log, bar, schedule, every, tokens_per_step
        self.mark = (step, time.perf_counter())

    def __call__(self, step: int, metrics: dict) -> None:
        values = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if not math.isfinite(values["loss"]):
            raise TrainingError(f"training loss is {values['loss']} at step {step}; lower train.optimizer.lr or check the input data")
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
        if step % self.every == 0:
            now = time.perf_counter()
            rate = self.tokens_per_step * (step - self.mark[0]) / max(now - self.mark[1], 1e-9)
            self.mark = (step, now)
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
