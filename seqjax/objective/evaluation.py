"""Host-side accumulation of evaluation batches, shared by objectives."""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np


class Summed:
    """Adds up each batch's sums (a pytree of arrays), then `summarize`s the totals into a report."""

    def __init__(self, summarize: Callable[[dict], dict]):
        self.summarize = summarize
        self.totals = None

    def add(self, sums) -> None:
        self.totals = sums if self.totals is None else jax.tree.map(np.add, self.totals, sums)

    def report(self) -> dict | None:
        """None when no batch was added (an empty split)."""
        return None if self.totals is None else self.summarize(self.totals)


def per_target_report(targets, totals: dict, measures: Callable) -> dict:
    """Eval sums of item targets -> {"loss": weighted total, "targets": {name: {"loss", "targets", ...}}}.

    Each target's sums (host float64) hold "loss" and "count"; `measures(target, sums, count, loss)` gives
    the target's other figures (accuracy, baselines)."""
    report, total = {}, 0.0
    for t in targets:
        s = {k: np.asarray(v, dtype=np.float64) for k, v in totals[t.name].items()}
        count = max(float(s["count"]), 1.0)
        entry = {"loss": float(s["loss"]) / count, "targets": int(s["count"])}
        entry.update(measures(t, s, count, entry["loss"]))
        report[t.name] = entry
        total += t.weight * entry["loss"]
    return {"loss": total, "targets": report}


class Collected:
    """Keeps each batch's per-example outputs (host arrays, rows where `valid`), then `summarize`s them all."""

    def __init__(self, summarize: Callable[[dict], dict]):
        self.summarize = summarize
        self.parts: list[dict] = []

    def add(self, outputs: dict) -> None:
        keep = np.asarray(outputs["valid"], bool)
        self.parts.append(jax.tree.map(lambda x: np.asarray(x)[keep], outputs))

    def report(self) -> dict | None:
        if not self.parts:
            return None
        return self.summarize(jax.tree.map(lambda *xs: np.concatenate(xs), *self.parts))
