"""Batches of whole sequences from length buckets: a batch holds sequences of one bucket, right-aligned and
padded to the bucket's upper length, so a batch of short sequences costs little and each bucket compiles once.

Training: every epoch shuffles the sequences of each bucket and the order of the batches, seeded by
(seed, epoch); a bucket's last batch is filled with empty rows (`valid` False). Element j of the
stream is global batch j, so grain's iterator state (one index) resumes exactly, and a process reads
only its rows of each global batch. Evaluation: the batches of each bucket in record order.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Iterator, Sequence

import numpy as np
import polars as pl

from seqjax.data.metadata import Metadata, sequences_file
from seqjax.data.pipeline import _check_rows, process_rows, read_options, split_source

EPOCHS = 1 << 30
"""Epochs a training stream holds (it never ends in practice)."""


def lengths(meta: Metadata, data_dir: pathlib.Path, split: str) -> np.ndarray:
    """int64 [records] items each record of a split keeps (from its sequence table)."""
    if not meta.splits[split].windows:
        return np.zeros(0, np.int64)
    return pl.read_parquet(pathlib.Path(data_dir) / sequences_file(split))["length"].to_numpy()


def bucket_of(lengths: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
    """int64 [records] the first bucket whose upper length holds each record."""
    return np.minimum(np.searchsorted(np.asarray(boundaries), lengths, side="left"), len(boundaries) - 1)


def padded(windows: list[dict | None], length: int, meta: Metadata) -> dict[str, np.ndarray]:
    """Records (None: an empty row) -> a batch of right-aligned arrays of `length` items (see records.Sequences)."""
    B, C, R = len(windows), len(meta.categorical), len(meta.real)
    Lc, Lr = len([c for c in meta.labels if c.categorical]), len([c for c in meta.labels if not c.categorical])
    Sc, Sr = len([c for c in meta.statics if c.categorical]), len([c for c in meta.statics if not c.categorical])
    out = {
        "cat": np.zeros((B, length, C), np.int32), "real": np.zeros((B, length, R), np.float32),
        "mask": np.zeros((B, length), bool), "order": np.zeros((B, length), np.int32),
        "sequence": np.full(B, -1, np.int64), "valid": np.zeros(B, bool),
        "label_cat": np.zeros((B, Lc), np.int32), "label_real": np.zeros((B, Lr), np.float32),
        "static_cat": np.zeros((B, Sc), np.int32), "static_real": np.zeros((B, Sr), np.float32),
    }  # fmt: skip
    for b, window in enumerate(windows):
        if window is None:
            continue
        n = len(window["position"])
        out["cat"][b, length - n :] = window["cat"]
        out["real"][b, length - n :] = window["real"]
        out["mask"][b, length - n :] = True
        out["order"][b, length - n :] = np.arange(n)
        out["sequence"][b], out["valid"][b] = window["sequence"], True
        for key in ("label_cat", "label_real", "static_cat", "static_real"):
            out[key][b] = window[key]
    return out


class _EpochBatches:
    """Random access to the global batches of an endless seeded stream of bucketed, shuffled epochs."""

    def __init__(self, source, meta: Metadata, lengths: np.ndarray, global_batch: int, seed: int, rows: Sequence[int]):
        self.source, self.meta, self.global_batch, self.seed, self.rows = source, meta, global_batch, seed, tuple(rows)
        self.buckets = bucket_of(lengths, meta.buckets)
        counts = np.bincount(self.buckets, minlength=len(meta.buckets))
        self.per_epoch = int(sum(-(-c // global_batch) for c in counts))

    def __len__(self) -> int:
        return self.per_epoch * EPOCHS

    @functools.lru_cache(maxsize=2)
    def epoch(self, e: int) -> list[tuple[int, np.ndarray]]:
        """(bucket, global_batch record indices, -1 filling) of every batch of epoch e, in order."""
        rng = np.random.default_rng([self.seed, e])
        batches = []
        for b in range(len(self.meta.buckets)):
            members = rng.permutation(np.flatnonzero(self.buckets == b))
            for start in range(0, len(members), self.global_batch):
                chunk = members[start : start + self.global_batch]
                batches.append((b, np.pad(chunk, (0, self.global_batch - len(chunk)), constant_values=-1)))
        return [batches[k] for k in rng.permutation(len(batches))]

    def __getitem__(self, j: int) -> dict[str, np.ndarray]:
        bucket, indices = self.epoch(j // self.per_epoch)[j % self.per_epoch]
        picked = [self.source[int(i)] if i >= 0 else None for i in indices[list(self.rows)]]
        return padded(picked, self.meta.buckets[bucket], self.meta)


def train_iterator(meta: Metadata, data_dir: pathlib.Path, *, global_batch: int, seed: int, rows: Sequence[int] | None = None):
    """An endless, checkpointable iterator of this process's rows of shuffled, bucketed global batches."""
    import grain

    rows = process_rows(global_batch) if rows is None else rows
    _check_rows(rows, global_batch)
    source = split_source(meta, data_dir, "train")
    if len(source) == 0:
        raise ValueError(f"{data_dir}: the training split has no sequences")
    batches = _EpochBatches(source, meta, lengths(meta, data_dir, "train"), global_batch, seed, rows)
    return iter(grain.MapDataset.source(batches).to_iter_dataset(read_options()))


def eval_batches(
    meta: Metadata, data_dir: pathlib.Path, split: str, *, global_batch: int, limit: int = 0, rows: Sequence[int] | None = None
) -> Iterator[dict[str, np.ndarray]]:
    """This process's rows of one split's global batches, bucket by bucket in record order, each with `index`
    (the record's position in the split, -1 for filling rows)."""
    source = split_source(meta, data_dir, split)
    if len(source) == 0:
        return
    rows = process_rows(global_batch) if rows is None else rows
    _check_rows(rows, global_batch)
    buckets = bucket_of(lengths(meta, data_dir, split), meta.buckets)
    done = 0
    for b, length in enumerate(meta.buckets):
        members = np.flatnonzero(buckets == b)
        for start in range(0, len(members), global_batch):
            if limit and done >= limit:
                return
            chunk = members[start : start + global_batch]
            indices = np.pad(chunk, (0, global_batch - len(chunk)), constant_values=-1)[list(rows)]
            batch = padded([source[int(i)] if i >= 0 else None for i in indices], length, meta)
            batch["index"] = indices.astype(np.int64)
            done += 1
            yield batch

