"""Assign target rows to the train, validation and test splits.

A split is described per sequence by a half-open range of row offsets `[a, b)` inside
the sorted sequence: the rows whose items are that split's targets. Row 0 is a target
only with a start slot (`data.start`: it is predicted from the slot before it); else
nothing precedes it and `a >= 1`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from seqjax.data.metadata import SPLITS
from seqjax.spec import SplitBy, SplitSpec

Ranges = dict[str, tuple[np.ndarray, np.ndarray]]
"""split name -> (a, b), each int64 [sequences]."""


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed, well-spread uint64 -> uint64 map (wraps mod 2**64 on purpose)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _string_hash(ids: pl.Series) -> np.ndarray:
    """Polynomial hash of each string's UTF-8 bytes, vectorised over all strings."""
    import pyarrow as pa  # only string ids need it; worker processes start faster without it
    import pyarrow.compute as pc

    array = pc.cast(ids.to_arrow(), pa.large_binary())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], np.uint8)[offsets[0] : offsets[-1]].astype(np.uint64)
    offsets = offsets - offsets[0]
    lengths = np.diff(offsets)
    # byte i of a string of length n gets weight P**(n-1-i): Horner's rule without a loop
    powers = np.full(max(int(lengths.max(initial=0)), 1), 1099511628211, np.uint64)  # FNV prime
    powers[0] = 1
    powers = np.cumprod(powers)  # P**k mod 2**64
    from_end = np.repeat(offsets[1:], lengths) - 1 - np.arange(len(data))
    weighted = np.concatenate([data * powers[from_end], np.zeros(1, np.uint64)])
    sums = np.add.reduceat(weighted, offsets[:-1])
    return np.where(lengths > 0, sums, np.uint64(0)) ^ _mix(lengths.astype(np.uint64))


def id_hash(ids: pl.Series, seed: int) -> np.ndarray:
    """A seeded uint64 hash of each sequence id that is stable across runs, machines and versions."""
    if ids.dtype.is_integer():
        raw = ids.cast(pl.Int64).to_numpy().view(np.uint64)
    else:
        raw = _string_hash(ids.cast(pl.String))
    salt = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    return _mix(raw ^ salt)


def _cuts(fractions: tuple[float, ...], count: np.ndarray | int) -> list:
    """Cumulative boundaries round(sum(fractions[:k]) * count) for k = 0..3."""
    cumulative = np.cumsum((0.0, *fractions))
    return [np.minimum(np.floor(c * np.asarray(count) + 0.5).astype(np.int64), count) for c in cumulative]


def sequence_codes(ids: pl.Series, fractions: tuple[float, ...], seed: int) -> np.ndarray:
    """int8 [sequences]: the split (index into SPLITS) of each sequence, by a seeded id hash cut by the fractions."""
    count = len(ids)
    rank = np.empty(count, np.int64)
    rank[np.argsort(id_hash(ids, seed), kind="stable")] = np.arange(count)
    cuts = _cuts(fractions, count)
    cuts[1] = max(int(cuts[1]), 1)  # the train split is never empty
    codes = np.full(count, -1, np.int8)
    for k in range(len(SPLITS)):
        codes[(rank >= cuts[k]) & (rank < max(int(cuts[k + 1]), int(cuts[k])))] = k
    return codes


def members(codes: np.ndarray, lengths: np.ndarray, first: int = 1) -> Ranges:
    """Whole sequences to the split their code names: rows [first, length) of each are its split's."""
    return {
        name: (np.where(codes == k, first, 0).astype(np.int64), np.where(codes == k, lengths, 0).astype(np.int64)) for k, name in enumerate(SPLITS)
    }


def by_sequence(ids: pl.Series, lengths: np.ndarray, fractions: tuple[float, ...], seed: int, first: int = 1) -> Ranges:
    """Whole sequences to one split: rank sequences by a seeded id hash, cut by the fractions."""
    return members(sequence_codes(ids, fractions, seed), lengths, first)


def by_time(lengths: np.ndarray, fractions: tuple[float, ...], first: int = 1) -> Ranges:
    """Each sequence cut by position: first items train, next valid, last test (rows before `first` are no split's)."""
    cuts = [np.maximum(c, first) for c in _cuts(fractions, lengths)]
    cuts[-1] = np.maximum(lengths, 1)
    return {name: (cuts[k], np.maximum(cuts[k + 1], cuts[k])) for k, name in enumerate(SPLITS)}


def split_ranges(split: SplitSpec, ids: pl.Series, lengths: np.ndarray, seed: int, start: bool = False) -> Ranges:
    """Target row ranges of every split for every sequence; with a start slot (`start`) row 0 is a target too."""
    first = 0 if start else 1
    if split.by == SplitBy.SEQUENCE:
        return by_sequence(ids, lengths, split.fractions, seed, first)
    return by_time(lengths, split.fractions, first)


def train_rows(ranges: Ranges, starts: np.ndarray) -> np.ndarray:
    """bool [rows]: rows the model sees while training (train targets and the context before them)."""
    lengths = np.diff(starts)
    sequence = np.repeat(np.arange(len(lengths)), lengths)
    offset = np.arange(starts[-1]) - starts[sequence]
    return offset < ranges["train"][1][sequence]
