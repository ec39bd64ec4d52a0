"""What preprocessing learned about the data: vocabularies, statistics, windows and shard lists.

Written once as `metadata.json` beside the shards and read by training, export and inference.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

from seqjax.spec.choices import ColumnKind

PAD = 0
"""Categorical id of padding items (left of a short sequence)."""
UNKNOWN = 1
"""Categorical id of values not seen in the training split."""
RESERVED = 2
"""Ids below this are reserved; vocabulary entry i has id i + RESERVED."""

SPLITS = ("train", "valid", "test")
VERSION = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class ColumnMeta:
    name: str
    kind: ColumnKind
    dtype: str
    """The input column's polars dtype, e.g. `String`, `Int64`, `Float64`."""
    vocab: tuple[Any, ...] = ()
    """Categorical values seen in the training split, sorted; id = index + RESERVED."""
    mean: float = 0.0
    std: float = 1.0
    """Real columns are stored as (x - mean) / std, with train-split statistics."""

    def __post_init__(self):
        object.__setattr__(self, "kind", ColumnKind(self.kind))  # also from the plain string of metadata.json

    @property
    def categorical(self) -> bool:
        return self.kind == ColumnKind.CATEGORICAL

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + RESERVED


@dataclasses.dataclass(frozen=True, kw_only=True)
class SplitMeta:
    files: tuple[str, ...]
    """Shard file names, relative to the data folder."""
    windows: int
    sequences: int
    targets: int
    """Items that count as targets (the denominator of the loss)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Metadata:
    fingerprint: str
    id_column: str
    position_column: str
    id_dtype: str
    columns: tuple[ColumnMeta, ...]
    context: int
    stride: int
    format: str
    rows: int
    splits: dict[str, SplitMeta]
    version: int = VERSION

    @property
    def window(self) -> int:
        """Items per stored window: `context` inputs plus one more for the shifted targets."""
        return self.context + 1

    @property
    def categorical(self) -> tuple[ColumnMeta, ...]:
        return tuple(c for c in self.columns if c.categorical)

    @property
    def real(self) -> tuple[ColumnMeta, ...]:
        return tuple(c for c in self.columns if not c.categorical)

    def column(self, name: str) -> ColumnMeta:
        return next(c for c in self.columns if c.name == name)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Metadata":
        raw = json.loads(text)
        columns = tuple(ColumnMeta(**{**c, "vocab": tuple(c["vocab"])}) for c in raw.pop("columns"))
        splits = {k: SplitMeta(**{**v, "files": tuple(v["files"])}) for k, v in raw.pop("splits").items()}
        return cls(columns=columns, splits=splits, **raw)

    @classmethod
    def read(cls, data_dir: pathlib.Path) -> "Metadata":
        return cls.from_json((pathlib.Path(data_dir) / "metadata.json").read_text())


def sequences_file(split: str) -> str:
    """Per-split table mapping a record's `sequence` index (row number) to the original sequence id."""
    return f"sequences-{split}.parquet"
