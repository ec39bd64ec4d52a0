"""Write one split's windows as shards, plus the table of its sequence ids."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl

from seqjax.data import records
from seqjax.data.metadata import SplitMeta, sequences_file
from seqjax.preprocess.windows import Plan, Rows, gather


def shard_name(split: str, index: int, fmt: str) -> str:
    return f"{split}-{index:05d}.{records.EXTENSION[fmt]}"


def write_split(
    folder: pathlib.Path,
    split: str,
    windows: Plan,
    rows: Rows,
    ids: pl.Series,
    *,
    context: int,
    fmt: str,
    shard_windows: int,
) -> SplitMeta:
    """Shards of at most `shard_windows` windows in (sequence, end) order; memory stays one shard."""
    used = np.unique(windows.sequence)
    # sorted-sequence index -> row of this split's sequence table
    table_index = np.full(len(rows.starts) - 1, -1, np.int64)
    table_index[used] = np.arange(len(used))
    ids.gather(used).alias(ids.name).to_frame().write_parquet(folder / sequences_file(split))
    files, targets = [], 0
    for index, part in enumerate(windows.chunks(shard_windows)):
        arrays = gather(rows, part, context, table_index)
        name = shard_name(split, index, fmt)
        records.write_shard(folder / name, arrays, fmt)
        files.append(name)
        targets += int(arrays["target"].sum())
    return SplitMeta(files=tuple(files), windows=len(windows), sequences=len(used), targets=targets)
