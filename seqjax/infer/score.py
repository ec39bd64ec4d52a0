"""`infer.mode = "score"`: every item of every sequence scored once, from one forward pass per window.

Which item a window scores is the objective's (NextItem.scored_items): a split's windows score
each of its items once, in the window that gives it the most context (see
seqjax.preprocess.windows); new data is cut the same way. One row per scored item:
    id, position, <target>_logp and <target>_correct (categorical), <target>_error (real:
    predicted - true, in the column's units)
Per-sequence totals and a summary (mean negative log-likelihood in nats, perplexity, bits per
item, accuracy; mean absolute and root mean squared error) are added up chunk by chunk.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import polars as pl

from seqjax.data.metadata import UNKNOWN

LN2 = math.log(2.0)


@dataclasses.dataclass(frozen=True)
class Scores:
    """What `Predictor.score` returns."""

    items: pl.DataFrame
    """One row per scored item."""
    sequences: pl.DataFrame
    """One row per sequence: items scored and the totals of each measure."""
    summary: dict
    """Per target: items, unknown, mean_nll, perplexity, bits_per_item, accuracy (categorical); mae, rmse (real)."""


def measures(objective, chunk: dict[str, np.ndarray], out: dict, where: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """Per scored item at (window, slot) `where`: `<target>_logp`, `<target>_correct`, `<target>_error`."""
    n, j = where
    columns = {}
    for t in objective.targets:
        predicted = out["predicted"][t.name][where]
        if t.categorical:
            truth = chunk["cat"][n, j + 1, t.index]
            columns[f"{t.name}_logp"] = out["logp"][t.name][where].astype(np.float32)
            columns[f"{t.name}_correct"] = (predicted == truth) & (truth != UNKNOWN)
        else:
            std = objective.meta.column(t.name).std
            columns[f"{t.name}_error"] = ((predicted - chunk["real"][n, j + 1, t.index]) * std).astype(np.float32)
    return columns


def empty_measures(objective) -> dict[str, np.ndarray]:
    columns = {}
    for t in objective.targets:
        if t.categorical:
            columns[f"{t.name}_logp"], columns[f"{t.name}_correct"] = np.zeros(0, np.float32), np.zeros(0, bool)
        else:
            columns[f"{t.name}_error"] = np.zeros(0, np.float32)
    return columns


def frame(meta, ids: pl.Series, sequence: np.ndarray, position: np.ndarray, columns: dict[str, np.ndarray]) -> pl.DataFrame:
    keys = [ids.gather(sequence).alias(meta.id_column), pl.Series(meta.position_column, position.astype(np.int64))]
    return pl.DataFrame(keys + [pl.Series(name, values) for name, values in columns.items()])


class Tally:
    """Per-sequence totals (indexed by the source's sequence index) and the summary, added up chunk by chunk."""

    def __init__(self, objective, sequences: int):
        self.objective = objective
        self.items = np.zeros(sequences, np.int64)
        self.unknown = {t.name: 0 for t in objective.targets if t.categorical}
        self.totals: dict[str, np.ndarray] = {}
        for t in objective.targets:
            names = ("logp", "correct") if t.categorical else ("abs_error", "squared_error")
            for name in names:
                self.totals[f"{t.name}_{name}"] = np.zeros(sequences, np.float64)

    def add(self, chunk: dict[str, np.ndarray], where: tuple[np.ndarray, np.ndarray], columns: dict[str, np.ndarray]) -> None:
        sequence = chunk["sequence"][where[0]]
        np.add.at(self.items, sequence, 1)
        for t in self.objective.targets:
            if t.categorical:
                np.add.at(self.totals[f"{t.name}_logp"], sequence, columns[f"{t.name}_logp"].astype(np.float64))
                np.add.at(self.totals[f"{t.name}_correct"], sequence, columns[f"{t.name}_correct"])
                self.unknown[t.name] += int(np.sum(chunk["cat"][where[0], where[1] + 1, t.index] == UNKNOWN))
            else:
                error = columns[f"{t.name}_error"].astype(np.float64)
                np.add.at(self.totals[f"{t.name}_abs_error"], sequence, np.abs(error))
                np.add.at(self.totals[f"{t.name}_squared_error"], sequence, np.square(error))

    def sequences(self, meta, ids: pl.Series) -> pl.DataFrame:
        """id, items, then each total (`<target>_logp`, `<target>_correct`, `<target>_abs_error`, `<target>_squared_error`)."""
        series = [ids.alias(meta.id_column), pl.Series("items", self.items)]
        series += [pl.Series(name, values.astype(np.int64) if name.endswith("_correct") else values) for name, values in self.totals.items()]
        return pl.DataFrame(series)

    def summary(self) -> dict:
        """Per target over all scored items; `start` tells whether each sequence's first item was scored (data.start)."""
        items = int(self.items.sum())
        count = max(items, 1)
        targets = {}
        for t in self.objective.targets:
            if t.categorical:
                nll = -float(self.totals[f"{t.name}_logp"].sum()) / count
                targets[t.name] = {
                    "items": items,
                    "unknown": self.unknown[t.name],
                    "mean_nll": nll,
                    "perplexity": math.exp(min(nll, 700.0)),
                    "bits_per_item": nll / LN2,
                    "accuracy": float(self.totals[f"{t.name}_correct"].sum()) / count,
                }
            else:
                targets[t.name] = {
                    "items": items,
                    "mae": float(self.totals[f"{t.name}_abs_error"].sum()) / count,
                    "rmse": math.sqrt(float(self.totals[f"{t.name}_squared_error"].sum()) / count),
                }
        return {"items": items, "sequences": len(self.items), "start": self.objective.meta.start, "targets": targets}


def describe(summary: dict) -> list[str]:
    """One console line per target."""
    lines = []
    for name, s in summary["targets"].items():
        if "mean_nll" in s:
            unknown = f", {s['unknown']:,} unknown" if s["unknown"] else ""
            lines.append(
                f"  {name}: mean NLL {s['mean_nll']:.4f} nats, perplexity {s['perplexity']:.3f}, {s['bits_per_item']:.4f} bits per item, "
                f"accuracy {s['accuracy']:.3f} ({s['items']:,} items{unknown})"
            )
        else:
            lines.append(f"  {name}: MAE {s['mae']:.4g}, RMSE {s['rmse']:.4g} ({s['items']:,} items)")
    if not summary["start"]:
        lines.append("  a sequence's first item has nothing before it and is not scored (data.start = true predicts it)")
    return lines
