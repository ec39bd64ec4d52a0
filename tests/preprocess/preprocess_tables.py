"""Small hand-made tables and shard readers shared by the preprocessing tests."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl

from seqjax.data import records
from seqjax.data.metadata import Metadata
from seqjax.spec import ColumnKind, ColumnSpec, DataSpec, SplitSpec

EVENT = ColumnSpec(name="event", kind=ColumnKind.CATEGORICAL)
AMOUNT = ColumnSpec(name="amount", kind=ColumnKind.REAL)


def data_spec(path: pathlib.Path | str, *, columns=(EVENT, AMOUNT), context: int = 4, stride: int = 2, **kwargs) -> DataSpec:
    return DataSpec(input=str(path), columns=tuple(columns), context=context, stride=stride, **kwargs)


def all_train() -> SplitSpec:
    return SplitSpec(fractions=(1.0, 0.0, 0.0))


def two_sequences() -> pl.DataFrame:
    """Sequence 7 has 9 items (positions 100..108), sequence 3 has 3 (positions 5..7); rows shuffled."""
    frame = pl.DataFrame(
        {
            "sequenceId": [7] * 9 + [3] * 3,
            "itemPosition": list(range(100, 109)) + [5, 6, 7],
            "event": list("xyxzyxxyz") + list("zzy"),
            "amount": [float(v) for v in range(9)] + [10.0, 11.0, 12.0],
        }
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=3)


def load(data: pathlib.Path, split: str) -> dict[str, np.ndarray]:
    """All windows of one split, stacked: {field: [N, ...]}."""
    meta = Metadata.read(data)
    if not meta.splits[split].files:  # an empty split has no shard files
        return {}
    windows = list(records.iterate([data / f for f in meta.splits[split].files]))
    return {k: np.stack([w[k] for w in windows]) for k in records.FIELDS}
