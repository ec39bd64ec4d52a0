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
