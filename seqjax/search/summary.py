"""What a study has found: a table of its trials, and `best.toml`, the best trial's complete spec."""

from __future__ import annotations

import json
import os
import pathlib

import optuna

from seqjax.spec import Spec, spec_from_dict
from seqjax.spec.writing import spec_toml

State = optuna.trial.TrialState


def rows(study: optuna.Study, metric: str) -> list[dict]:
    """One plain record per trial: number, state, value, step, seconds, then the searched values."""
    out = []
    for t in study.get_trials(deepcopy=False):
        seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 1) if t.datetime_complete and t.datetime_start else None
        step = t.user_attrs.get("best_step", t.user_attrs.get("pruned_at"))
        record = {"trial": t.number, "state": t.state.name.lower(), metric: t.value, "step": step, "seconds": seconds}
        record.update(t.params)
        if "error" in t.user_attrs:
            record["error"] = t.user_attrs["error"]
        out.append(record)
    return out


def table(records: list[dict]) -> str:
    """The records as aligned plain-text columns (numbers right-aligned); errors on their own lines."""
    if not records:
        return "no trials yet"
    columns = list(dict.fromkeys(k for r in records for k in r if k != "error"))
    cells = [[cell(r.get(c)) for c in columns] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    for record, row in zip(records, cells):
        lines.append("  ".join(text.rjust(w) for text, w in zip(row, widths)))
        if "error" in record:
            lines.append(f"    trial {record['trial']} failed: {record['error']}")
    return "\n".join(lines)


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(State.COMPLETE,))
    return study.best_trial if complete else None


def write_best(study: optuna.Study, base: Spec, path: pathlib.Path) -> pathlib.Path | None:
    """The best trial's spec (as it ran) as commented TOML at `path`, atomically; None before any trial completes."""
    best = best_trial(study)
    if best is None:
        return None
    folder = pathlib.Path(best.user_attrs["workdir"])
    spec = spec_from_dict(json.loads((folder / "spec.json").read_text()), str(folder / "spec.json"))
    values = ", ".join(f"{k} = {json.dumps(v)}" for k, v in best.params.items())
    header = [
        f"The best trial of study {study.study_name!r}: trial {best.number}, {base.search.metric} {best.value:.6g} at step {best.user_attrs.get('best_step')}.",
        f"Its searched values: {values}.",
        "workdir is that trial's run, so `seqjax run best.toml` reuses its checkpoints and goes on to export and infer;",
        "set another workdir to train it afresh.",
    ]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(spec_toml(spec, header=header, leave_out=("search",)))
    os.replace(tmp, path)
    return path
