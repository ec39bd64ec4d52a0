"""Where each target lives in a batch, with its loss weight: derived once, from the run's metadata."""

from __future__ import annotations

import dataclasses

from seqjax.data.metadata import ColumnMeta
from seqjax.spec import ColumnKind


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    kind: ColumnKind
    index: int
    """Column index within the categorical (or real) block of a batch."""
    weight: float
    vocab_size: int = 0

    @property
    def categorical(self) -> bool:
        return self.kind == ColumnKind.CATEGORICAL


def check_targets(columns: tuple[ColumnMeta, ...], names: tuple[str, ...]) -> None:
    """Every target names one of `columns`, and there is at least one."""
    available = [c.name for c in columns]
    missing = [t for t in names if t not in available]
    if missing:
        raise ValueError(f"targets {missing} are not columns of the data; columns are {available}")
    if not names:
        raise ValueError(f"the model needs at least one target; columns are {available}")


def targets_of(columns: tuple[ColumnMeta, ...], names: tuple[str, ...], weights: dict[str, float]) -> tuple[Target, ...]:
    """A Target per name, indexed within its kind's block of `columns` (categorical first, in column order)."""
    check_targets(columns, names)
    by_name = {c.name: c for c in columns}
    blocks = {kind: [c.name for c in columns if c.kind == kind] for kind in ColumnKind}
    out = []
    for name in names:
        column = by_name[name]
        out.append(Target(name, column.kind, blocks[column.kind].index(name), weights.get(name, 1.0), column.vocab_size))
    return tuple(out)
