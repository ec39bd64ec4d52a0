"""`seqjax search spec.toml`: an optuna study over the keys of `[search] space`.

Each trial is a normal run in `workdir/trials/<n>/` (its spec.json, metrics.jsonl, TensorBoard files and
checkpoints), trained with a hook that reports every evaluation's metric to the pruner. Preprocessing
runs once into `workdir/data` and is shared when no data key (nor `seed`) is searched. The study lives
in the workdir (see seqjax.search.study); running the command again continues it, and several processes
started on the same spec share it. The best trial's spec is written to `workdir/best.toml`.
"""

from __future__ import annotations

import dataclasses
import pathlib

import optuna

from seqjax import console
from seqjax.errors import UserError
from seqjax.search import study as studies
from seqjax.search import summary
from seqjax.search import trial as trials
from seqjax.spec import Spec

__all__ = ["SearchError", "SearchResult", "search", "describe"]


class SearchError(UserError):
    """A search that cannot start as specified; the message names the key or the study."""


@dataclasses.dataclass(frozen=True)
class SearchResult:
    root: pathlib.Path
    storage: str
    """The study's storage as optuna-dashboard takes it."""
    study: str
    metric: str
    records: list[dict]
    best: dict | None
    best_spec: pathlib.Path | None
    ran: int
    """Trials this process ran (new or resumed)."""


def search(spec: Spec, *, progress_bar: bool = True) -> SearchResult:
    """Run trials until the study has `search.trials` of them; returns where everything is and the best trial."""
    if not spec.search.space:
        raise SearchError('search.space is empty: name the keys to search, e.g. [search.space] "train.optimizer.lr" = {kind = "float", low = 1e-4, high = 1e-2, log = true}')
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open(spec)
    bar = _bar(progress_bar, study, spec)
    ran = 0
    try:
        while (claim := studies.claim(study, spec)) is not None:
            _say(bar, f"trial {claim.trial.number}: {'resuming' if claim.resumed else 'training'} in {spec.workpath / 'trials' / str(claim.trial.number)}")
            try:
                outcome = trials.run(study, claim.trial, spec)
            finally:
                claim.release()
            ran += 1
            summary.write_best(study, spec, spec.workpath / "best.toml")
            _report(bar, study, spec, outcome)
    finally:
        if bar is not None:
            bar.close()
    return _result(study, spec, ran)


def _open(spec: Spec) -> optuna.Study:
    """Create or load the study and check it measures what the spec asks; preprocess the shared data once."""
    root = spec.workpath
    root.mkdir(parents=True, exist_ok=True)
    with studies.locked(root / "search.lock"):
        study = optuna.create_study(
            storage=studies.open_storage(spec),
            study_name=studies.study_name(spec),
            direction=spec.search.direction.value,
            pruner=spec.search.pruner.build(spec.train.eval_every),
            load_if_exists=True,
        )
        _check_study(study, spec)
        if trials.shares_data(spec):
            _preprocess(spec)
    return study


def _check_study(study: optuna.Study, spec: Spec) -> None:
    where = f"{studies.storage_path(spec)}: study {study.study_name!r}"
    if study.direction.name.lower() != spec.search.direction.value:
        raise SearchError(f"{where} was created to {study.direction.name.lower()}; search.direction = {spec.search.direction.value!r} needs another search.study")
    metric = study.user_attrs.get("metric")
    if metric is None:
        study.set_user_attr("metric", spec.search.metric)
    elif metric != spec.search.metric:
        raise SearchError(f"{where} measures {metric!r}; search.metric = {spec.search.metric!r} needs another search.study")


def _preprocess(spec: Spec) -> None:
    from seqjax import experiment

    experiment.preprocess(spec)
    if spec.paths.metadata().splits["valid"].windows == 0:
        raise SearchError(f"data.split.fractions = {list(spec.data.split.fractions)}: the validation split has no windows; a search needs validation data")


def _bar(enabled: bool, study: optuna.Study, spec: Spec):
    if not console.progress(enabled):
        return None
    from tqdm import tqdm

    done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
    return tqdm(total=studies.budget(spec.search), initial=done, desc="search", unit="trial", dynamic_ncols=True)


def _say(bar, text: str, **fields) -> None:
    if bar is not None:
        bar.clear()
    console.say(text, event="trial" if fields else "info", **fields)
    if bar is not None:
        bar.refresh()


def _report(bar, study: optuna.Study, spec: Spec, outcome: trials.Outcome) -> None:
    metric = spec.search.metric
    params = outcome.params
    values = " ".join(f"{k}={summary.cell(v)}" for k, v in params.items())
    if outcome.state == trials.State.COMPLETE:
        best = summary.best_trial(study)
        mark = " (best so far)" if best is not None and best.number == outcome.number else ""
        text = f"trial {outcome.number}: {metric} {outcome.value:.4f} at step {outcome.step}{mark} | {values}"
    elif outcome.state == trials.State.PRUNED:
        shown = f" ({metric} {outcome.value:.4f})" if outcome.value is not None else ""
        text = f"trial {outcome.number}: pruned at step {outcome.step}{shown} | {values}"
    else:
        text = f"trial {outcome.number}: failed: {outcome.message} | {values}"
    _say(bar, text, trial=outcome.number, state=outcome.state.name.lower(), value=outcome.value, step=outcome.step, params=params)
    if bar is not None:
        bar.update(1)


def _result(study: optuna.Study, spec: Spec, ran: int) -> SearchResult:
    best = summary.best_trial(study)
    path = spec.workpath / "best.toml"
    return SearchResult(
        root=spec.workpath,
        storage=studies.storage_url(spec),
        study=study.study_name,
        metric=spec.search.metric,
        records=summary.rows(study, spec.search.metric),
        best=None if best is None else {"trial": best.number, "value": best.value, "params": best.params},
        best_spec=path if best is not None and path.exists() else None,
        ran=ran,
    )


def describe(result: SearchResult) -> None:
    """The table of trials, the best trial, and where the outputs are."""
    console.say(summary.table(result.records), event="trials", trials=result.records)
    if result.best is not None:
        best = result.best
        console.say(f"best: trial {best['trial']}, {result.metric} {best['value']:.4f}", event="best", **best)
    else:
        console.say("best: no trial has completed yet", event="best")
    paths = {"trials": result.root / "trials", "study": result.storage}
    if result.best_spec is not None:
        paths["best_spec"] = result.best_spec
    console.outputs(**paths)
    console.say(f"dashboard: optuna-dashboard {result.storage}", event="dashboard", command=f"optuna-dashboard {result.storage}")
