"""One trial: the spec with the trial's values, a normal run in `workdir/trials/<n>/`, its value told to the study."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import warnings
from typing import Any

import optuna

from seqjax.errors import RunError, UserError
from seqjax.spec import Spec, SpecError, spec_from_dict, to_dict
from seqjax.spec.loading import apply_values
from seqjax.train.metrics import read

State = optuna.trial.TrialState


def metric_value(report: dict, metric: str) -> float:
    """`loss` or `targets.event.accuracy` read from an evaluation report (or a valid line of metrics.jsonl)."""
    node: Any = report
    for part in metric.split("."):
        node = node[part]
    return float(node)


def shares_data(spec: Spec) -> bool:
    """Trials read the study's one preprocessed copy unless a searched key changes what preprocessing writes."""
    return not any(key == "seed" or key.startswith("data.") for key in spec.search.space)


def trial_spec(base: Spec, values: dict[str, Any], workdir: pathlib.Path, number: int) -> Spec:
    """The study's spec with one trial's values, its own workdir and no search."""
    table = to_dict(base)
    table.pop("search")
    table["workdir"] = str(workdir)
    return spec_from_dict(apply_values(table, values), f"trial {number}")


@dataclasses.dataclass
class Outcome:
    number: int
    state: State
    value: float | None
    step: int | None
    message: str
    params: dict = dataclasses.field(default_factory=dict)
    """The trial's values as the spec took them."""


class Pruning:
    """The training loop's evaluation hook: report each evaluation's metric, stop when the pruner says so."""

    def __init__(self, trial: optuna.trial.Trial, metric: str):
        self.trial, self.metric, self.pruned_at = trial, metric, None

    def __call__(self, step: int, report: dict) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a resumed trial reports its last steps again: optuna keeps the first
            self.trial.report(metric_value(report, self.metric), step)
        if not self.trial.should_prune():
            return False
        self.pruned_at = step
        self.trial.set_user_attr("pruned_at", step)
        return True


def run(study: optuna.Study, trial: optuna.trial.Trial, base: Spec) -> Outcome:
    """Train the trial (resuming its run if it has one) and tell the study how it ended."""
    values = {key: param.suggest(trial, key) for key, param in base.search.space.items()}
    return dataclasses.replace(_run(study, trial, base, values), params=values)


def _run(study: optuna.Study, trial: optuna.trial.Trial, base: Spec, values: dict[str, Any]) -> Outcome:
    from seqjax import experiment

    folder = base.workpath / "trials" / str(trial.number)
    try:
        spec = trial_spec(base, values, folder, trial.number)
    except SpecError as error:
        return _fail(study, trial, str(error))
    _prepare(folder, base)
    trial.set_user_attr("workdir", str(folder))
    if "pruned_at" in trial.user_attrs:  # pruned, then killed before the study heard of it
        return _tell_pruned(study, trial, trial.user_attrs["pruned_at"])
    hook = Pruning(trial, base.search.metric)
    try:
        with open(folder / "console.log", "a", buffering=1) as log, contextlib.redirect_stdout(log):
            experiment.preprocess(spec)
            result = experiment.train(spec, progress_bar=False, on_eval=hook)
    except (UserError, RunError) as error:
        return _fail(study, trial, str(error))
    except Exception as error:
        _fail(study, trial, f"{type(error).__name__}: {error}")
        raise
    if hook.pruned_at is not None:
        return _tell_pruned(study, trial, hook.pruned_at)
    return _tell_complete(study, trial, spec, result.best_step, base.search.metric)


def _prepare(folder: pathlib.Path, base: Spec) -> None:
    """The trial's folder, its data a link to the study's shared copy when it has one."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    if shares_data(base) and not data.is_symlink():
        os.symlink(os.path.relpath(base.paths.data, folder), data)


def _tell_complete(study: optuna.Study, trial: optuna.trial.Trial, spec: Spec, best_step: int | None, metric: str) -> Outcome:
    """The trial's value: the metric at the evaluation of its best checkpoint (the one `seqjax infer` uses)."""
    evaluations = {r["step"]: r for r in read(spec.paths.metrics) if r.get("split") == "valid"}
    if best_step not in evaluations:
        return _fail(study, trial, f"{spec.paths.metrics}: no evaluation was logged; the validation split may be empty")
    value = metric_value(evaluations[best_step], metric)
    trial.set_user_attr("best_step", best_step)
    study.tell(trial, value)
    return Outcome(trial.number, State.COMPLETE, value, best_step, "")


def _tell_pruned(study: optuna.Study, trial: optuna.trial.Trial, step: int) -> Outcome:
    frozen = study.tell(trial, state=State.PRUNED)  # its value: the last metric it reported
    return Outcome(trial.number, State.PRUNED, frozen.value, step, "")


def _fail(study: optuna.Study, trial: optuna.trial.Trial, message: str) -> Outcome:
    trial.set_user_attr("error", message)
    study.tell(trial, state=State.FAIL)
    return Outcome(trial.number, State.FAIL, None, None, message)
