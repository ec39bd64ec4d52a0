"""Which validation figure picks the best checkpoint and drives early stopping (`train.select`).

    valid.loss                       the total validation loss (the default)
    valid.<metric>                   the mean of that metric over the targets that report it, e.g. valid.accuracy
    valid.targets.<target>.<metric>  one target's, e.g. valid.targets.churn.roc_auc

Losses and errors are better lower; accuracies, F1, AUC and R² higher.
"""

from __future__ import annotations

import math

LOWER = ("loss", "log_loss", "mae", "rmse", "mse")
HIGHER = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "r2")
METRICS = LOWER + HIGHER


def parse(select: str) -> tuple[str | None, str]:
    """(target or None for all, metric) of a `train.select` path; ValueError naming what is allowed."""
    parts = select.split(".")
    if parts[0] != "valid" or len(parts) not in (2, 4) or (len(parts) == 4 and parts[1] != "targets") or parts[-1] not in METRICS:
        raise ValueError(f"must be valid.loss, valid.<metric> or valid.targets.<target>.<metric>, metrics {list(METRICS)}")
    return (parts[2] if len(parts) == 4 else None), parts[-1]


def value(report: dict, select: str) -> float:
    """The selected figure of an evaluation report (NaN when no target reports it)."""
    target, metric = parse(select)
    if target is None and metric == "loss":
        return float(report["loss"])
    entries = [report["targets"][target]] if target else list(report["targets"].values())
    found = [float(e[metric]) for e in entries if metric in e and math.isfinite(float(e[metric]))]
    return sum(found) / len(found) if found else math.nan


def score(report: dict, select: str) -> float:
    """The figure as a score that is better lower (higher-is-better metrics negated); NaN scores worst."""
    figure = value(report, select)
    if math.isnan(figure):
        return math.inf
    return figure if parse(select)[1] in LOWER else -figure
