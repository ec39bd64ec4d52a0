"""The shard format: the only place that knows how windows and whole sequences are laid out on disk.

Shards are ArrayRecord files, one window per record, so that a shuffled stream reads any window
in tens of microseconds (a columnar format reads a whole row group per random access).

A window is a dict of numpy arrays (W = context + 1 items, C categorical and R real columns):
  cat       int32   [W, C]  categorical ids (0 = padding, 1 = unknown)
  real      float32 [W, R]  standardised reals (0 on padding)
  mask      bool    [W]     the item exists (False on left padding)
  target    bool    [W]     the item counts as a target in this split
  position  int64   [W]     original item position (-1 on padding)
  sequence  int64   []      row of the split's sequence table (the original sequence id)
Shards hold N windows stacked along a leading axis.

A whole-sequence record (objectives that read whole sequences) holds one sequence of n items:
  cat [n, C], real [n, R], position [n]   its (kept) items
  sequence    int64   []      row of the split's sequence table
  label_cat   int32   [Lc]    categorical labels (ids as for categorical columns)
  label_real  float32 [Lr]    real labels, standardised with train statistics
  static_cat  int32   [Sc]    categorical static features
  static_real float32 [Sr]    real static features, standardised
"""

from __future__ import annotations

import pathlib
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import msgpack
import numpy as np

from seqjax import files


class Windows(NamedTuple):
    """A batch of N windows as the train and eval steps take it (numpy or jax arrays, fields as above)."""

    cat: Any
    real: Any
    mask: Any
    target: Any
    position: Any
    sequence: Any

    @classmethod
    def of(cls, arrays: Mapping[str, Any]) -> "Windows":
        """The window fields of a record batch (other fields, e.g. an evaluation's `index`, stay behind)."""
        return cls(**{name: arrays[name] for name in cls._fields})


FIELDS = Windows._fields


class Sequences(NamedTuple):
    """A batch of B whole sequences, right-aligned and padded to the length L of their bucket."""

    cat: Any
    """int32 [B, L, C]"""
    real: Any
    """float32 [B, L, R]"""
    mask: Any
    """bool [B, L]: the item exists (False on left padding)"""
    order: Any
    """int32 [B, L]: index of the item in its (kept) sequence, 0 first; 0 on padding"""
    sequence: Any
    """int64 [B]: row of the split's sequence table (-1 for padding rows)"""
    valid: Any
    """bool [B]: a real sequence (False for rows that fill a batch)"""
    label_cat: Any
    label_real: Any
    static_cat: Any
    static_real: Any

    @classmethod
    def of(cls, arrays: Mapping[str, Any]) -> "Sequences":
        return cls(**{name: arrays[name] for name in cls._fields})

    def model_inputs(self) -> dict:
        """The keyword arguments of a model call over these whole sequences."""
        return {
            "cat_BLC": self.cat,
            "real_BLR": self.real,
            "mask_BL": self.mask,
            "positions_BL": self.order,
            "static_cat_BS": self.static_cat,
            "static_real_BS": self.static_real,
        }


SEQUENCE_FIELDS = ("cat", "real", "position", "sequence", "label_cat", "label_real", "static_cat", "static_real")


def write_records(path: pathlib.Path, records: list[dict[str, np.ndarray]]) -> None:
    """Write whole-sequence records (one per sequence, any lengths) to an ArrayRecord file atomically."""
    from array_record.python.array_record_module import ArrayRecordWriter

    with files.atomic(path) as tmp:
        writer = ArrayRecordWriter(str(tmp), "group_size:1,snappy")
        for record in records:
            writer.write(encode({k: np.asarray(record[k]) for k in SEQUENCE_FIELDS}))
        writer.close()
EXTENSION = "array_record"


def encode(window: dict[str, np.ndarray]) -> bytes:
    """msgpack of {name: [dtype, shape, raw bytes]}: compact, fast, and executes no code on load."""
    return msgpack.packb({k: [v.dtype.str, list(v.shape), v.tobytes()] for k, v in window.items()})


def decode(blob: bytes) -> dict[str, np.ndarray]:
    raw = msgpack.unpackb(blob)
    return {k: np.frombuffer(data, dtype=np.dtype(dt)).reshape(shape) for k, (dt, shape, data) in raw.items()}


def write_shard(path: pathlib.Path, windows: dict[str, np.ndarray]) -> None:
    """Write N stacked windows to an ArrayRecord file atomically (temporary name, then rename)."""
    from array_record.python.array_record_module import ArrayRecordWriter

    count = len(windows["sequence"])
    with files.atomic(path) as tmp:
        # One window per record for random access; snappy is ~3x faster to write than the default codec.
        writer = ArrayRecordWriter(str(tmp), "group_size:1,snappy")
        for i in range(count):
            writer.write(encode({k: windows[k][i] for k in FIELDS}))
        writer.close()


class ArrayRecordShards:
    """Random access over ArrayRecord shards, decoding one window per read."""

    def __init__(self, paths: Sequence[pathlib.Path]):
        import grain

        self._source = grain.sources.ArrayRecordDataSource([str(p) for p in paths])

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return decode(self._source[index])


def open_shards(paths: Sequence[pathlib.Path]):
    """A random-access source of windows over shard files (empty for a split without windows)."""
    return ArrayRecordShards(paths) if paths else ()


def iterate(paths: Sequence[pathlib.Path]) -> Iterator[dict[str, np.ndarray]]:
    """All windows in file order."""
    source = open_shards(paths)
    for i in range(len(source)):
        yield source[i]
