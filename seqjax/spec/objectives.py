"""`[train] objective`: what a run learns; a tagged variant that builds the objective for the run's data."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from seqjax.spec.choices import ColumnKind, InferMode, SpecError
from seqjax.spec.choices import suggest as _suggest

if TYPE_CHECKING:
    from seqjax.spec.sections import Spec


def next_mode_problem(mode: InferMode, kinds: dict[str, ColumnKind], targets: tuple[str, ...]) -> str | None:
    """Why a next-item model over columns of `kinds` with these targets cannot run `mode` (None if it can)."""
    if mode == InferMode.GENERATE:
        missing = [name for name in kinds if name not in targets]
        if missing:
            return f"infer.mode = 'generate' needs every column as a target (every column is an input); missing {missing}"
    if mode == InferMode.PROBABILITIES and not any(kinds[t] == ColumnKind.CATEGORICAL for t in targets if t in kinds):
        return "infer.mode = 'probabilities' needs a categorical target"
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class NextObjective:
    """Predict every item of a window from the items before it (teacher forcing)."""

    kind: Literal["next"] = "next"

    def check(self, spec: "Spec") -> None:
        """What the spec alone can tell: the targets are item columns, and the model can run `infer.mode`."""
        kinds = {c.name: c.kind for c in spec.data.columns}
        targets = list(spec.train.targets)
        for target in targets:
            if target not in kinds:
                raise SpecError(f"train.targets = {targets!r}: {target!r} is not a column; columns are {list(kinds)}{_suggest(target, kinds)}")
        problem = next_mode_problem(spec.infer.mode, kinds, spec.train.targets)
        if problem:
            raise SpecError(f"train.targets = {targets!r}: {problem}")

    def build(self, meta, train):
        """The objective over `meta`'s columns with `train`'s targets and weights."""
        from seqjax.objective.next import NextItem

        return NextItem(meta, train.targets, train.weights)


ObjectiveSpec = NextObjective
