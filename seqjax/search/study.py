"""The optuna study of a search: its storage in the workdir, its sampler and pruner, and who runs which trial.

    workdir/study.db | study.journal   the study (sqlite, or a journal file for several machines)
    workdir/search.lock                held while a process opens the study, preprocesses or picks a trial
    workdir/trials/<n>/                trial n's run
    workdir/trials/<n>.lock            held by the process running trial n, for as long as it runs

A process that dies lets go of its locks, so a trial that is RUNNING in the study while nobody holds
its lock was interrupted: the next process to pick a trial resumes it (its run resumes from its last
checkpoint) under the same number instead of starting a new one. Trials are counted once each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import pathlib
from typing import Iterator

import optuna

from seqjax.spec import Spec
from seqjax.spec.search import Sampler, SearchSpec

COUNTED = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def storage_path(spec: Spec) -> pathlib.Path:
    name = "study.db" if spec.search.storage == "sqlite" else "study.journal"
    return spec.workpath / name


def storage_url(spec: Spec) -> str:
    """What optuna-dashboard takes: the sqlite URL, or the journal file's path."""
    path = storage_path(spec)
    return f"sqlite:///{path}" if spec.search.storage == "sqlite" else str(path)


def open_storage(spec: Spec) -> optuna.storages.BaseStorage:
    path = storage_path(spec)
    if spec.search.storage == "journal":
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    # several processes on one machine may write at once: wait for sqlite's lock instead of failing
    return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}})


def study_name(spec: Spec) -> str:
    return spec.search.study or spec.name


class GridSampler(optuna.samplers.GridSampler):
    """optuna's grid, except that it leaves stopping to the study's budget (capped at the grid's size):
    its own `study.stop()` works only inside `study.optimize`, and trials here are asked and told."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


def sampler(search: SearchSpec, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """The sampler for the next trial, seeded by the study's seed and the trials so far (so a re-run continues the
    sequence an uninterrupted run would draw); the grid's order (a shuffle by its seed) stays fixed."""
    if search.sampler == Sampler.GRID:
        return GridSampler({key: param.grid() for key, param in search.space.items()}, seed=seed)
    seed += trials
    if search.sampler == Sampler.TPE:
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.random_trials, constant_liar=True)
    if search.sampler == Sampler.CMAES:
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=search.random_trials, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)


def budget(search: SearchSpec) -> int:
    """Trials in all: `search.trials`, or fewer when a grid has fewer combinations."""
    return min(search.trials, search.grid_size) if search.sampler == Sampler.GRID else search.trials


@contextlib.contextmanager
def locked(path: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`, waiting for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def try_lock(path: pathlib.Path):
    """An open file holding an exclusive lock on `path`, or None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@dataclasses.dataclass
class Claim:
    """A trial this process runs, holding its lock until `release`."""

    trial: optuna.trial.Trial
    lock: object
    resumed: bool

    def release(self) -> None:
        self.lock.close()


def trial_lock(root: pathlib.Path, number: int) -> pathlib.Path:
    return root / "trials" / f"{number}.lock"


def claim(study: optuna.Study, spec: Spec) -> Claim | None:
    """An interrupted trial to resume, else a new trial while the study has fewer than its budget, else None."""
    root, search = spec.workpath, spec.search
    with locked(root / "search.lock"):
        trials = study.get_trials(deepcopy=False)
        for frozen in trials:
            if frozen.state == optuna.trial.TrialState.RUNNING:
                lock = try_lock(trial_lock(root, frozen.number))
                if lock is not None:
                    return Claim(optuna.trial.Trial(study, frozen._trial_id), lock, resumed=True)
        if sum(t.state in COUNTED for t in trials) >= budget(search):
            return None
        seed = spec.seed if search.seed == -1 else search.seed
        study.sampler = sampler(search, seed, len(trials))
        trial = study.ask()
        lock = try_lock(trial_lock(root, trial.number))
        if lock is None:  # cannot happen while every process picks trials under search.lock
            raise RuntimeError(f"{trial_lock(root, trial.number)}: held by another process")
        return Claim(trial, lock, resumed=False)
