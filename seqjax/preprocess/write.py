"""Write one bucket's windows of one split as shards, and a split's table of sequence ids."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import polars as pl

from seqjax import faults
from seqjax.data import records
from seqjax.data.metadata import sequences_file
from seqjax.preprocess.windows import Plan, Rows, gather
from seqjax.spec import DataSpec


def shard_name(split: str, index: int, bucket: int | None = None) -> str:
    """`train-00003.array_record`, or `train-b0002-00003.array_record` for bucket 2 of several."""
    tag = "" if bucket is None else f"b{bucket:04d}-"
    return f"{split}-{tag}{index:05d}.{records.EXTENSION}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Written:
    """The shards one bucket wrote for one split."""

    files: tuple[str, ...]
    sizes: tuple[int, ...]
    """Bytes of each file."""
    windows: int
    targets: int
    """Items that count as targets (the denominator of the loss)."""


def write_split(
    folder: pathlib.Path,
    split: str,
    windows: Plan,
    rows: Rows,
    table_index: np.ndarray,
    *,
    context: int,
    shard_windows: int,
    bucket: int | None = None,
    start: bool = False,
) -> Written:
    """Shards of at most `shard_windows` windows in (sequence, end) order; memory stays one shard.

    `table_index` maps each of the bucket's sorted sequences to its row in the split's sequence table.
    """
    names, sizes, targets = [], [], 0
    for index, part in enumerate(windows.chunks(shard_windows)):
        arrays = gather(rows, part, context, table_index, start=start)
        name = shard_name(split, index, bucket)
        records.write_shard(folder / name, arrays)
        faults.reached("preprocess.shard")
        names.append(name)
        sizes.append((folder / name).stat().st_size)
        targets += int(arrays["target"].sum())
    return Written(files=tuple(names), sizes=tuple(sizes), windows=len(windows), targets=targets)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PerSequenceArrays:
    """Encoded per-sequence columns of some sequences (ascending id): one row each."""

    label_cat: np.ndarray
    """int32 [S, categorical labels]"""
    label_real: np.ndarray
    """float32 [S, real labels], standardised"""
    static_cat: np.ndarray
    static_real: np.ndarray

    def rows(self, index) -> "PerSequenceArrays":
        return PerSequenceArrays(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})


def kept_rows(start: int, end: int, max_length: int, truncate: str) -> tuple[int, int]:
    """The rows of a sequence [start, end) that a record keeps: its last (or first) `max_length`."""
    if end - start <= max_length:
        return start, end
    return (end - max_length, end) if truncate == "last" else (start, start + max_length)


def write_sequence_split(
    folder: pathlib.Path,
    split: str,
    members: np.ndarray,
    rows: Rows,
    per: PerSequenceArrays,
    table_index: np.ndarray,
    *,
    spec: DataSpec,
    bucket: int | None = None,
) -> Written:
    """One record per sequence of the split (`members`: the bucket's sorted-sequence indices), in id order:
    its items (at most `max_length`), its labels and static features (see seqjax.data.records)."""
    names, sizes = [], []
    for index, start in enumerate(range(0, len(members), spec.shard_windows)):
        part = members[start : start + spec.shard_windows]
        batch = []
        for s in part:
            a, b = kept_rows(int(rows.starts[s]), int(rows.starts[s + 1]), spec.max_length, spec.truncate)
            one = per.rows(s)
            batch.append({
                "cat": rows.cat[a:b], "real": rows.real[a:b], "position": rows.position[a:b], "sequence": np.int64(table_index[s]),
                "label_cat": one.label_cat, "label_real": one.label_real, "static_cat": one.static_cat, "static_real": one.static_real,
            })  # fmt: skip
        name = shard_name(split, index, bucket)
        records.write_records(folder / name, batch)
        faults.reached("preprocess.shard")
        names.append(name)
        sizes.append((folder / name).stat().st_size)
    return Written(files=tuple(names), sizes=tuple(sizes), windows=len(members), targets=len(members))


def write_sequences(folder: pathlib.Path, split: str, ids: pl.Series, lengths: np.ndarray | None = None) -> None:
    """The split's sequence table: row k holds the original id of the windows (or record) whose `sequence` is k,
    and for whole sequences the number of items its record keeps (`length`)."""
    table = ids.to_frame()
    if lengths is not None:
        table = table.with_columns(pl.Series("length", lengths.astype(np.int64)))
    table.write_parquet(folder / sequences_file(split))
