"""`[train] objective`: what a run learns; a tagged variant that builds the objective for the run's data."""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True, kw_only=True)
class NextObjective:
    """Predict every item of a window from the items before it (teacher forcing)."""

    kind: Literal["next"] = "next"

    def build(self, meta, train):
        """The objective over `meta`'s columns with `train`'s targets and weights."""
        from seqjax.objective.next import NextItem

        return NextItem(meta, train.targets, train.weights)


ObjectiveSpec = NextObjective
