"""Preprocess throughput by stage on a generated table (best of several repeats).

    python benchmarks/preprocess_throughput.py --sequences 14000 --repeats 3

Stages: read (scan, validate, sort order), encode (split, vocabularies, encode, sort),
windows (window plan + gather, no writing), and the whole `preprocess` per shard format.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import io
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqjax.preprocess import preprocess, read, split, vocab, windows  # noqa: E402
from seqjax.spec import ColumnKind, ColumnSpec, DataSpec, ShardFormat  # noqa: E402

COLUMNS = (
    ColumnSpec(name="event", kind=ColumnKind.CATEGORICAL),
    ColumnSpec(name="channel", kind=ColumnKind.CATEGORICAL),
    ColumnSpec(name="amount", kind=ColumnKind.REAL),
    ColumnSpec(name="duration", kind=ColumnKind.REAL),
)


def generate(path: pathlib.Path, sequences: int, shuffle: bool) -> int:
    spec = importlib.util.spec_from_file_location("generate_data", ROOT / "tools" / "generate_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.generate(sequences, 0)
    if shuffle:  # string ids in random row order: the slow path (hashing strings, a real sort)
        import polars as pl

        frame = frame.with_columns(pl.format("user-{}", "sequenceId").alias("sequenceId")).sample(fraction=1.0, shuffle=True, seed=0)
    frame.write_parquet(path)
    return frame.height


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def stages(spec: DataSpec, repeats: int) -> dict[str, float]:
    files = read.input_files(spec.input)
    out = {"read": best(lambda: read.read_table(spec, files), repeats)}
    table = read.read_table(spec, files)

    def encode():
        ranges = split.split_ranges(spec.split, table.ids, table.lengths, 0)
        metas = vocab.learn(spec, table.frame, table.unsort(split.train_rows(ranges, table.starts)), table.dtypes)
        cat, real = vocab.encode(table.frame, metas)
        return ranges, windows.Rows(cat=table.sort(cat), real=table.sort(real), position=table.positions, starts=table.starts)

    out["encode"] = best(encode, repeats)
    ranges, rows = encode()
    index = np.arange(len(table.lengths))

    def cut():
        for a, b in ranges.values():
            for part in windows.plan(a, b, spec.context, spec.window_stride).chunks(spec.shard_windows):
                windows.gather(rows, part, spec.context, index)

    out["windows"] = best(cut, repeats)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=14000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shuffle", action="store_true")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="seqjax-bench-"))
    try:
        rows = generate(folder / "table.parquet", args.sequences, args.shuffle)
        spec = DataSpec(input=str(folder / "table.parquet"), columns=COLUMNS, context=32, stride=16)
        report = stages(spec, args.repeats)
        for fmt in ShardFormat:
            run = dataclasses.replace(spec, format=fmt)

            def whole():
                shutil.rmtree(folder / "work", ignore_errors=True)
                with contextlib.redirect_stdout(io.StringIO()):  # keep the per-run summary out of the table
                    preprocess(run, folder / "work", seed=0)

            report[f"preprocess ({fmt.value})"] = best(whole, args.repeats)
        print(f"{rows:,} rows, context 32, stride 16{', shuffled string ids' if args.shuffle else ''}")
        for name, seconds in report.items():
            print(f"{name:>24}: {seconds:6.3f} s  {rows / seconds:>12,.0f} rows/s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
