"""Where inference windows come from: a preprocessed split's shards, or encoded new data.

Both give chunks of windows in the record layout of seqjax.data.records (W = context + 1
items ending at an existing item), streamed so memory stays one chunk of windows.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable, Iterator

import numpy as np
import polars as pl

from seqjax.data import pipeline
from seqjax.data.metadata import Metadata, sequences_file
from seqjax.infer.inputs import Encoded
from seqjax.preprocess.windows import Plan, gather, plan

Chunk = dict[str, np.ndarray]
"""cat [N, W, C], real [N, W, R], mask/target/position [N, W], sequence [N]."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Source:
    """Windows to infer on, and the ids their `sequence` field indexes."""

    ids: pl.Series
    known_last: bool
    """The windows' last items are known truths (a split): next-item modes predict them."""
    chunks: Callable[[int, bool], Iterator[Chunk]]
    """chunks(size, last_only): every window, or each sequence's last window, `size` at a time."""
    counts: tuple[int, int]
    """(windows, sequences), for progress bars."""
    last_position: int | None = None
    """The largest last position of a sequence (new data), to tell when positions after it cannot be represented."""
    scoring: Callable[[int], Iterator[Chunk]] | None = None
    """scoring(size): windows that score every item once (a held-out split's own windows; new data cut like one)."""


def split_source(meta: Metadata, data_dir: pathlib.Path, split: str) -> Source:
    """The windows of a preprocessed split, in shard order."""
    data_dir = pathlib.Path(data_dir)
    ids = pl.read_parquet(data_dir / sequences_file(split)).to_series()
    info = meta.splits[split]

    def chunks(size: int, last_only: bool) -> Iterator[Chunk]:
        stream = _read_chunks(pipeline.split_source(meta, data_dir, split), size)
        return rechunk(last_per_sequence(stream), size) if last_only else stream

    # the train split's windows overlap (an item is a target in each): scoring reads held-out splits only
    scoring = None if split == "train" else lambda size: chunks(size, False)
    return Source(ids=ids, known_last=True, chunks=chunks, counts=(info.windows, info.sequences), scoring=scoring)


def _read_chunks(windows, size: int) -> Iterator[Chunk]:
    total = len(windows)
    for start in range(0, total, size):
        items = [windows[i] for i in range(start, min(start + size, total))]
        yield {k: np.stack([w[k] for w in items]) for k in items[0]}


def take(chunk: Chunk, index) -> Chunk:
    return {k: v[index] for k, v in chunk.items()}


def concat(chunks: list[Chunk]) -> Chunk:
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def last_per_sequence(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """Only each sequence's last window; windows arrive in (sequence, end) order."""
    pending: Chunk | None = None
    for chunk in chunks:
        if pending is not None:
            chunk = concat([pending, chunk])
        sequence = chunk["sequence"]
        last = np.append(sequence[1:] != sequence[:-1], False)  # the final window waits for the next chunk
        if last.any():
            yield take(chunk, last)
        pending = take(chunk, slice(-1, None))
    if pending is not None:
        yield pending


def rechunk(chunks: Iterator[Chunk], size: int) -> Iterator[Chunk]:
    """Chunks of exactly `size` windows (the last may be shorter)."""
    buffer: list[Chunk] = []
    held = 0
    for chunk in chunks:
        buffer.append(chunk)
        held += len(chunk["sequence"])
        while held >= size:
            merged = concat(buffer)
            yield take(merged, slice(0, size))
            rest = take(merged, slice(size, None))
            buffer, held = [rest], len(rest["sequence"])
    if held:
        yield concat(buffer)


def encoded_source(meta: Metadata, encoded: Encoded) -> Source:
    """Windows of new data: each sequence's last window, or windows every `stride` items as in training."""
    lengths = encoded.lengths
    sequences = len(lengths)
    table_index = np.arange(sequences, dtype=np.int64)
    last = Plan(sequence=table_index, end=lengths - 1, first_target=np.zeros(sequences, np.int64))
    every = plan(np.zeros(sequences, np.int64), lengths, meta.context, meta.stride)
    # scoring: every item once, as a held-out split's windows do; item 0 too with a start slot
    first = np.full(sequences, 0 if meta.start else 1, np.int64)
    once = plan(first, lengths, meta.context, meta.stride, once=True)

    def windows(plan_: Plan, size: int) -> Iterator[Chunk]:
        for part in plan_.chunks(size):
            yield gather(encoded.rows, part, meta.context, table_index, start=meta.start)

    def chunks(size: int, last_only: bool) -> Iterator[Chunk]:
        return windows(last if last_only else every, size)

    last_position = int(encoded.rows.position[encoded.rows.starts[1:] - 1].max()) if sequences else None
    return Source(
        ids=encoded.ids, known_last=False, chunks=chunks, counts=(len(every), sequences), last_position=last_position,
        scoring=lambda size: windows(once, size),
    )  # fmt: skip
