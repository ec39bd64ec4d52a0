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
) -> Written:
    """Shards of at most `shard_windows` windows in (sequence, end) order; memory stays one shard.

    `table_index` maps each of the bucket's sorted sequences to its row in the split's sequence table.
    """
    names, sizes, targets = [], [], 0
    for index, part in enumerate(windows.chunks(shard_windows)):
        arrays = gather(rows, part, context, table_index)
        name = shard_name(split, index, bucket)
        records.write_shard(folder / name, arrays)
        faults.reached("preprocess.shard")
        names.append(name)
        sizes.append((folder / name).stat().st_size)
        targets += int(arrays["target"].sum())
    return Written(files=tuple(names), sizes=tuple(sizes), windows=len(windows), targets=targets)


def write_sequences(folder: pathlib.Path, split: str, ids: pl.Series) -> None:
    """The split's sequence table: row k holds the original id of the windows whose `sequence` is k."""
    ids.to_frame().write_parquet(folder / sequences_file(split))
