"""One preprocessing run into a given folder: read, split, encode, window, write, describe."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import time

import numpy as np

from seqjax import spec as spec_module
from seqjax.data.metadata import SPLITS, VERSION, Metadata
from seqjax.preprocess import read, split, vocab, windows, write
from seqjax.spec import DataSpec


def fingerprint(spec: DataSpec, seed: int, files: list[pathlib.Path]) -> str:
    """sha256 of everything the output depends on: settings, seed, input file identities, format version."""
    stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    payload = {"data": spec_module.to_dict(spec), "seed": seed, "files": stats, "version": VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Summary:
    rows: int
    sequences: int
    single: int
    """Sequences with one item: nothing to predict, so they give no windows."""
    read_seconds: float
    seconds: float


def build_folder(spec: DataSpec, folder: pathlib.Path, *, seed: int, files: list[pathlib.Path], digest: str) -> tuple[Metadata, Summary]:
    """Write shards, sequence tables and metadata.json for `spec` into `folder` (which must exist)."""
    start = time.perf_counter()
    table = read.read_table(spec, files)
    read_seconds = time.perf_counter() - start
    ranges = split.split_ranges(spec.split, table.ids, table.lengths, seed)
    train = table.unsort(split.train_rows(ranges, table.starts))
    columns = vocab.learn(spec, table.frame, train, table.dtypes)
    cat, real = vocab.encode(table.frame, columns)
    rows = windows.Rows(cat=table.sort(cat), real=table.sort(real), position=table.positions, starts=table.starts)
    splits = {}
    for name in SPLITS:
        a, b = ranges[name]
        plan = windows.plan(a, b, spec.context, spec.window_stride)
        splits[name] = write.write_split(
            folder, name, plan, rows, table.ids, context=spec.context, fmt=spec.format.value, shard_windows=spec.shard_windows
        )
    metadata = Metadata(
        fingerprint=digest,
        id_column=spec.id_column,
        position_column=spec.position_column,
        id_dtype=table.dtypes[spec.id_column],
        columns=columns,
        context=spec.context,
        stride=spec.window_stride,
        format=spec.format.value,
        rows=int(table.starts[-1]),
        splits=splits,
    )
    (folder / "metadata.json").write_text(metadata.to_json())
    summary = Summary(
        rows=metadata.rows,
        sequences=len(table.lengths),
        single=int(np.sum(table.lengths == 1)),
        read_seconds=read_seconds,
        seconds=time.perf_counter() - start,
    )
    return metadata, summary
