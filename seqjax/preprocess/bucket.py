"""One bucket of sequences: a contiguous range of ids, read, learned from and written on its own.

Buckets cut the id-sorted sequences into ranges of about equal row counts. Bucket k holds
ids in [low, high), so writing buckets in order writes every split in ascending id order,
exactly as one bucket would; only the shard file names say which bucket wrote them.
The functions here run in worker processes: everything they need travels in the `Job`.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Any

import numpy as np

from seqjax.data.metadata import SPLITS, ColumnMeta
from seqjax.preprocess import read, split, vocab, windows, write
from seqjax.preprocess.read import PreprocessError
from seqjax.spec import DataSpec

BUCKET_CELLS = 24_000_000
"""Rows times used columns per automatic bucket (4 M rows of id, position and 4 features: about 0.5 GB to sort and window)."""
MIN_BUCKET_ROWS = 500_000
"""Below this, starting worker processes costs more than it saves."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    spec: DataSpec
    files: tuple[pathlib.Path, ...]
    """What to scan: the input files, or one parquet copy of csv input."""
    source: str
    """The input as the user named it, for messages."""
    folder: pathlib.Path
    bucket: int | None
    """Shard name tag; None when there is only one bucket."""
    low: Any
    """Smallest id in the bucket; None for the first bucket."""
    high: Any
    """Smallest id of the next bucket; None for the last."""
    lengths: np.ndarray
    """int64 [sequences] items per sequence, from the first pass (ascending id)."""
    ranges: split.Ranges
    """The bucket's slice of every split's target ranges."""
    table_index: dict[str, np.ndarray]
    """split -> int64 [sequences] row of each sequence in the split's sequence table."""
    per_sequence: write.PerSequenceArrays | None = None
    """Whole sequences: the bucket's encoded labels and static features; None writes windows."""


def count(buckets: int, workers: int, rows: int, columns: int) -> int:
    """`buckets` if set; otherwise enough that each holds about BUCKET_CELLS, and one per worker when
    that is worth it, rounded up to a multiple of the workers so that they finish together."""
    if buckets:
        return buckets
    n = max(1, math.ceil(rows * (2 + columns) / BUCKET_CELLS))
    if workers > 1 and rows >= 2 * MIN_BUCKET_ROWS:
        n = max(n, min(workers, rows // MIN_BUCKET_ROWS))
        n = workers * math.ceil(n / workers)
    return n


def bounds(lengths: np.ndarray, buckets: int) -> list[tuple[int, int]]:
    """[first, end) sequence of each non-empty bucket: sequence s goes to floor(first row of s * buckets / rows)."""
    first_row = np.cumsum(lengths) - lengths
    rows = max(int(lengths.sum()), 1)
    which = np.minimum(first_row * buckets // rows, buckets - 1)
    edges = np.flatnonzero(np.diff(which)) + 1
    starts = np.concatenate([[0], edges]).astype(np.int64)
    ends = np.concatenate([edges, [len(lengths)]]).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(starts, ends) if b > a]


def load(job: Job) -> read.Table:
    """The bucket's rows, sorted by (sequence, position), checked against the first pass."""
    lazy, _ = read.scan(job.spec, list(job.files), job.source)
    table = read.read_bucket(job.spec, lazy, job.low, job.high, job.source)
    if not np.array_equal(table.lengths, job.lengths):
        raise PreprocessError(f"{job.source}: the input changed while it was being read; run again")
    return table


def learn(job: Job, table: read.Table | None = None) -> vocab.Part:
    """Distinct values and exact sums over the bucket's train rows."""
    table = load(job) if table is None else table
    train = table.unsort(split.train_rows(job.ranges, table.starts))
    return vocab.learn_part(job.spec.columns, table.frame, train)


def write_bucket(job: Job, columns: tuple[ColumnMeta, ...], table: read.Table | None = None) -> dict[str, write.Written]:
    """Encode the bucket with the merged vocabularies and statistics, cut windows, write every split's shards."""
    table = load(job) if table is None else table
    cat, real = vocab.encode(table.frame, columns)
    rows = windows.Rows(cat=table.sort(cat), real=table.sort(real), position=table.positions, starts=table.starts)
    del cat, real
    spec = job.spec
    out = {}
    for name in SPLITS:
        a, b = job.ranges[name]
        if job.per_sequence is not None:
            members = np.flatnonzero(b > a)
            out[name] = write.write_sequence_split(
                job.folder, name, members, rows, job.per_sequence, job.table_index[name], spec=spec, bucket=job.bucket
            )
            continue
        plan = windows.plan(a, b, spec.context, spec.window_stride, once=name != "train")
        out[name] = write.write_split(
            job.folder,
            name,
            plan,
            rows,
            job.table_index[name],
            context=spec.context,
            shard_windows=spec.shard_windows,
            bucket=job.bucket,
            start=spec.start,
        )
    return out
