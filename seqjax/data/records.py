"""Shard formats: the only place that knows how windows are laid out on disk.

A window is a dict of numpy arrays (W = context + 1 items, C categorical and R real columns):
  cat       int32   [W, C]  categorical ids (0 = padding, 1 = unknown)
  real      float32 [W, R]  standardised reals (0 on padding)
  mask      bool    [W]     the item exists (False on left padding)
  target    bool    [W]     the item counts as a target in this split
  position  int64   [W]     original item position (-1 on padding)
  sequence  int64   []      row of the split's sequence table (the original sequence id)
Shards hold N windows stacked along a leading axis.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import msgpack
import numpy as np


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
EXTENSION = {"arrayrecord": "array_record", "parquet": "parquet"}


def encode(window: dict[str, np.ndarray]) -> bytes:
    """msgpack of {name: [dtype, shape, raw bytes]}: compact, fast, and executes no code on load."""
    return msgpack.packb({k: [v.dtype.str, list(v.shape), v.tobytes()] for k, v in window.items()})


def decode(blob: bytes) -> dict[str, np.ndarray]:
    raw = msgpack.unpackb(blob)
    return {k: np.frombuffer(data, dtype=np.dtype(dt)).reshape(shape) for k, (dt, shape, data) in raw.items()}


def _temporary(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_shard(path: pathlib.Path, windows: dict[str, np.ndarray], fmt: str) -> None:
    """Write N stacked windows to `path` atomically (temporary name, then rename)."""
    path = pathlib.Path(path)
    tmp = _temporary(path)
    count = len(windows["sequence"])
    if fmt == "arrayrecord":
        from array_record.python.array_record_module import ArrayRecordWriter

        # One window per record for random access; snappy is ~3x faster to write than the default codec.
        writer = ArrayRecordWriter(str(tmp), "group_size:1,snappy")
        for i in range(count):
            writer.write(encode({k: windows[k][i] for k in FIELDS}))
        writer.close()
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns, layout = {}, {}
        for k in FIELDS:
            flat = np.ascontiguousarray(windows[k]).reshape(count, -1)
            layout[k] = [windows[k].dtype.str, list(windows[k].shape[1:])]
            if flat.shape[1] == 0:  # e.g. no real columns: nothing to store
                continue
            values = pa.array(flat.reshape(-1))
            columns[k] = pa.FixedSizeListArray.from_arrays(values, flat.shape[1]) if layout[k][1] else values
        table = pa.table(columns).replace_schema_metadata({"seqjax.layout": msgpack.packb(layout)})
        pq.write_table(table, tmp)
    os.replace(tmp, path)


class ParquetShards:
    """Random access over parquet shards (each shard is read whole on first use)."""

    def __init__(self, paths: Sequence[pathlib.Path]):
        import pyarrow.parquet as pq

        self._paths = [pathlib.Path(p) for p in paths]
        self._counts = np.array([pq.ParquetFile(p).metadata.num_rows for p in self._paths], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._counts)])
        self._cached: tuple[int, dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _shard(self, k: int) -> dict[str, np.ndarray]:
        if self._cached is None or self._cached[0] != k:
            self._cached = (k, read_parquet_shard(self._paths[k]))
        return self._cached[1]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        k = int(np.searchsorted(self._starts, index, side="right") - 1)
        shard = self._shard(k)
        return {name: values[index - self._starts[k]] for name, values in shard.items()}


def read_parquet_shard(path: pathlib.Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    layout = msgpack.unpackb(table.schema.metadata[b"seqjax.layout"])
    out = {}
    for k in FIELDS:
        dtype, shape = np.dtype(layout[k][0]), [len(table), *layout[k][1]]
        if k not in table.column_names:
            out[k] = np.zeros(shape, dtype)
            continue
        column = table.column(k).combine_chunks()
        values = column.values if layout[k][1] else column
        out[k] = values.to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(shape)
    return out


class ArrayRecordShards:
    """Random access over ArrayRecord shards, decoding one window per read."""

    def __init__(self, paths: Sequence[pathlib.Path]):
        import grain

        self._source = grain.sources.ArrayRecordDataSource([str(p) for p in paths])

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return decode(self._source[index])


def open_shards(paths: Sequence[pathlib.Path], fmt: str):
    """A random-access source of windows over shard files (empty for a split without windows)."""
    if not paths:
        return ()
    return ArrayRecordShards(paths) if fmt == "arrayrecord" else ParquetShards(paths)


def iterate(paths: Sequence[pathlib.Path], fmt: str) -> Iterator[dict[str, np.ndarray]]:
    """All windows in file order."""
    source = open_shards(paths, fmt)
    for i in range(len(source)):
        yield source[i]
