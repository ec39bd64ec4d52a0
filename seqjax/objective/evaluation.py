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
