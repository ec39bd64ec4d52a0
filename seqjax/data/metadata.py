"""What preprocessing learned about the data: vocabularies, statistics, windows and shard lists.

Written once as `metadata.json` beside the shards and read by training, export and inference.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

from seqjax.errors import RunError
from seqjax.spec.choices import ColumnKind

PAD = 0
"""Categorical id of padding items (left of a short sequence)."""
UNKNOWN = 1
"""Categorical id of values not seen in the training split."""
RESERVED = 2
"""Ids below this are reserved; vocabulary entry i has id i + RESERVED."""

SPLITS = ("train", "valid", "test")
VERSION = 2
"""Format of metadata.json and the shards it lists; a data folder of another version is preprocessed again."""


class MetadataError(RunError):
    """metadata.json is missing, damaged or of another format version; the message says what to run."""


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
    sizes: tuple[int, ...] = ()
    """Bytes of each shard file, to tell a damaged or replaced shard."""


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
    settings: dict = dataclasses.field(default_factory=dict)
    """What the folder was made from (the data spec, seed and input files); `fingerprint` is its digest."""
    view: str = "windows"
    """`windows` (of `context + 1` items) or `sequences` (whole sequences of up to `context` items, with labels)."""
    labels: tuple[ColumnMeta, ...] = ()
    """Whole sequences: the label columns (vocabularies and statistics of the train split)."""
    statics: tuple[ColumnMeta, ...] = ()
    """Whole sequences: the static features."""
    label_counts: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    """Whole sequences: train sequences per id of each categorical label (for balanced class weights and baselines)."""
    buckets: tuple[int, ...] = ()
    """Whole sequences: the upper length of each length bucket, increasing."""
    truncated: int = 0
    """Whole sequences: sequences longer than `context` that were cut."""
    start: bool = False
    """Windows: the slot before each sequence's first item is a start slot (mask True, ids 0, reals 0),
    so the first item is predicted too."""
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
        return next(c for c in self.columns + self.labels + self.statics if c.name == name)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Metadata":
        raw = json.loads(text)

        def metas(key: str) -> tuple[ColumnMeta, ...]:
            return tuple(ColumnMeta(**{**c, "vocab": tuple(c["vocab"])}) for c in raw.pop(key, ()))

        columns, labels, statics = metas("columns"), metas("labels"), metas("statics")
        raw["buckets"] = tuple(raw.get("buckets", ()))
        splits = {k: SplitMeta(**{**v, "files": tuple(v["files"]), "sizes": tuple(v.get("sizes", ()))}) for k, v in raw.pop("splits").items()}
        return cls(columns=columns, labels=labels, statics=statics, splits=splits, **raw)

    @classmethod
    def read(cls, data_dir: pathlib.Path) -> "Metadata":
        """The folder's metadata; a missing, damaged or other-version file is a MetadataError saying what to run."""
        path = pathlib.Path(data_dir) / "metadata.json"
        again = "run `seqjax preprocess` (or `seqjax run`)"
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise MetadataError(f"{pathlib.Path(data_dir)}: no preprocessed data; {again} first") from None
        try:
            version = json.loads(text).get("version")
        except (ValueError, AttributeError) as error:
            raise MetadataError(f"{path}: damaged ({str(error).splitlines()[0]}); {again} again") from None
        if version != VERSION:
            raise MetadataError(f"{path}: written in data format {version}, this seqjax reads format {VERSION}; {again} again")
        try:
            return cls.from_json(text)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise MetadataError(f"{path}: damaged ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); {again} again") from None

    def check_shards(self, data_dir: pathlib.Path) -> None:
        """Every shard is there with the size it was written with; else a MetadataError naming the first that is not."""
        for name, split in self.splits.items():
            for file, size in zip(split.files, split.sizes):
                path = pathlib.Path(data_dir) / file
                actual = path.stat().st_size if path.exists() else None
                if actual != size:
                    state = "is missing" if actual is None else f"has {actual:,} bytes, written with {size:,}"
                    raise MetadataError(f"{path}: shard of the {name} split {state}; run `seqjax preprocess` (or `seqjax run`) again")


def sequences_file(split: str) -> str:
    """Per-split table mapping a record's `sequence` index (row number) to the original sequence id."""
    return f"sequences-{split}.parquet"
