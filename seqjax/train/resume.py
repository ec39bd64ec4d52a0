"""What a checkpoint must agree with to be resumed or used, and finding the newest intact one.

Every checkpoint records the run's settings: the data's fingerprint, the model, the objective, the
targets and their weights, the optimizer, the schedule and how batches are cut. Resuming with
other settings would silently continue a different run, so it fails, naming what changed; using a
checkpoint with preprocessed data it was not trained on would decode with the wrong vocabularies.
A checkpoint that cannot be read (a damaged disk, a kill during a copy) is skipped for the newest
intact one, with a warning.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

from seqjax import fingerprints
from seqjax.data.metadata import Metadata
from seqjax.errors import RunError, UserError
from seqjax.spec import Spec, to_dict

FORMAT = 2
"""Version of what a checkpoint holds; checkpoints of another version are not resumed."""

RESTART = "run `seqjax train SPEC --restart` to start over (it deletes the checkpoints), or use another workdir"


class CheckpointMismatch(UserError):
    """Checkpoints that do not belong to this spec or to this preprocessed data."""


class NoIntactCheckpoint(RunError):
    """Every checkpoint is damaged."""


class DamagedCheckpointWarning(UserWarning):
    """A checkpoint could not be read and an older one was used."""


def settings(spec: Spec, meta: Metadata) -> dict:
    """Everything that decides the trajectory of training from a checkpoint on."""
    train = spec.train
    out = {
        "data": meta.fingerprint,
        "seed": spec.seed,
        "model": to_dict(spec.model),
        "train": {
            "objective": to_dict(train.objective),
            "targets": list(train.targets),
            "weights": dict(train.weights),
            "optimizer": to_dict(train.optimizer),
            "schedule": to_dict(train.schedule),
            "batch_size": train.batch_size,
            "accumulate": train.accumulate,
        },
    }
    if train.schedule.uses_steps:
        out["train"]["steps"] = train.steps
    if train.init or train.freeze:  # fine-tuning (absent otherwise, so earlier checkpoints still resume)
        out["train"].update(init=train.init, freeze=list(train.freeze))
    return out


def check(directory, recorded: dict, current: dict) -> None:
    """Fail naming what changed between the checkpoint's settings and the spec's."""
    if recorded.get("format") != FORMAT:
        raise CheckpointMismatch(f"{directory}: checkpoints of format {recorded.get('format')}, this seqjax resumes format {FORMAT}; {RESTART}")
    saved = recorded.get("settings", {})
    if saved != current:
        raise CheckpointMismatch(f"{directory}: checkpoints were written with other settings ({fingerprints.describe(saved, current)}); {RESTART}")


def check_data(directory, recorded: dict, meta: Metadata) -> None:
    """The preprocessed data is the one the checkpoint was trained on."""
    if recorded.get("format") != FORMAT:
        raise CheckpointMismatch(f"{directory}: checkpoints of format {recorded.get('format')}, this seqjax reads format {FORMAT}; {RESTART}")
    trained_on = recorded.get("settings", {}).get("data")
    if trained_on != meta.fingerprint:
        raise CheckpointMismatch(
            f"{directory}: the checkpoints were trained on other preprocessed data than workdir/data holds now "
            f"(its vocabularies and statistics would not fit them); train again with `seqjax train SPEC --restart`"
        )


def newest_intact(steps: list[int], load: Callable[[int], Any], directory) -> tuple[int, Any] | None:
    """(step, load(step)) for the newest step whose checkpoint loads; damaged ones are skipped with a warning."""
    return newest_intact_in_order(sorted(steps, reverse=True), load, directory)


def newest_intact_in_order(steps: list[int], load: Callable[[int], Any], directory) -> tuple[int, Any] | None:
    """(step, load(step)) for the first of `steps` whose checkpoint loads; damaged ones are skipped with a warning."""
    failures = []
    for step in steps:
        try:
            loaded = load(step)
        except (CheckpointMismatch, KeyboardInterrupt):
            raise
        except Exception as error:  # Orbax and tensorstore raise many types for unreadable files
            failures.append((step, error))
            continue
        for bad, error in failures:
            warnings.warn(f"{directory}: the checkpoint at step {bad} cannot be read ({_first_line(error)}); using step {step}", DamagedCheckpointWarning, stacklevel=2)
        return step, loaded
    if failures:
        bad, error = failures[0]
        raise NoIntactCheckpoint(f"{directory}: no checkpoint can be read (step {bad}: {_first_line(error)}); {RESTART}")
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__
