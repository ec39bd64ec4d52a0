"""One preprocessing run into a given folder, in passes whose memory is one bucket, not the dataset.

1. Streaming passes over the whole input: validate (rows, nulls, non-finite reals) and count the
   items of every sequence (one row per sequence). Splits are decided here, for all sequences.
2. Each bucket (a range of ids holding about the same number of rows) is read, sorted and
   checked for duplicates, and reports its train rows' distinct values and exact sums.
3. The parts merge into vocabularies and statistics; each bucket is read again, encoded,
   windowed and written as its own shards.
Buckets run in worker processes when `workers > 1`. Splits, vocabularies, statistics, sequence
tables and the windows in shard order do not depend on the number of buckets or workers.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import multiprocessing
import operator
import os
import pathlib
import shutil
import time
from typing import Callable, Sequence

import numpy as np

from seqjax import files as files_module
from seqjax import fingerprints
from seqjax import spec as spec_module
from seqjax.data.metadata import SPLITS, VERSION, Metadata, SplitMeta
from seqjax.preprocess import bucket, read, sequences, split, vocab, write
from seqjax.spec import DataSpec, PreprocessSpec


def settings(spec: DataSpec, seed: int, files: list[pathlib.Path] | None, workdir: pathlib.Path, view: str = "windows") -> dict:
    """Everything the output depends on: the data spec, the seed, the input files' identities, the format version.

    Paths are relative to the workdir, so a project folder moved as a whole keeps its preprocessed data.
    `files` None leaves the inputs out (when they cannot be found, only the settings can be compared).
    """
    data = spec_module.to_dict(spec)
    for key in ("input", "labels", "static_input"):
        if data[key]:
            data[key] = os.path.relpath(data[key], workdir)
    out = {"data": data, "seed": seed, "version": VERSION, "view": view}
    if files is not None:
        out["files"] = [[os.path.relpath(path, workdir), *rest] for path, *rest in fingerprints.file_identities(files)]
    return out


def fingerprint(spec: DataSpec, seed: int, files: list[pathlib.Path], workdir: pathlib.Path, view: str = "windows") -> str:
    """sha256 of `settings`."""
    return fingerprints.digest(settings(spec, seed, files, workdir, view))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Summary:
    rows: int
    sequences: int
    single: int
    """Sequences with one item: nothing to predict, so they give no windows."""
    buckets: int
    workers: int
    read_seconds: float
    """First pass: validation and sequence lengths."""
    learn_seconds: float
    """Buckets read, sorted and learned from (vocabularies, statistics)."""
    seconds: float


def build_folder(
    spec: DataSpec,
    folder: pathlib.Path,
    *,
    seed: int,
    files: list[pathlib.Path],
    options: PreprocessSpec = PreprocessSpec(),
    progress_bar: bool = False,
    view: str = "windows",
) -> tuple[Metadata, Summary]:
    """Write shards, sequence tables and metadata.json for `spec` into `folder` (which must exist): windows,
    or with `view = "sequences"` one record per whole sequence with its labels and static features.
    With `progress_bar`, a bar counts the rows of each bucket as it is learned from and written."""
    start = time.perf_counter()
    source = spec.input
    recorded = settings(spec, seed, files, folder.parent, view)
    original = files
    lazy, dtypes = read.scan(spec, files, source)
    scratch = folder / ".scratch"
    if any(f.suffix == ".csv" for f in files):  # parse csv once; every later pass reads parquet
        scratch.mkdir()
        files = [scratch / "input.parquet"]
        read.to_parquet(lazy, files[0], source)
        lazy, _ = read.scan(spec, files, source)
    rows = read.validate(spec, lazy, source)
    ids, lengths = read.sequence_lengths(spec, lazy, source)
    read_seconds = time.perf_counter() - start

    whole = sequences.prepare(spec, ids, lengths, original, seed) if view == "sequences" else None
    ranges = whole.ranges if whole else split.split_ranges(spec.split, ids, lengths, seed, spec.start)
    buckets = bucket.count(options.buckets, options.workers, rows, len(spec.columns))
    jobs = _jobs(spec, folder, files, ids, lengths, ranges, buckets, whole.arrays if whole else None)
    workers = min(options.workers, len(jobs))
    bar = _bar(progress_bar, 2 * rows)
    try:
        columns, written, learn_seconds = _run_buckets(spec, jobs, dtypes, workers, _ticker(bar))
    finally:
        if bar is not None:
            bar.close()
    splits = {}
    for name in SPLITS:
        used = ranges[name][1] > ranges[name][0]
        kept = np.minimum(lengths[used], spec.max_length) if whole else None
        write.write_sequences(folder, name, ids.filter(used), kept)
        parts = [w[name] for w in written]
        splits[name] = SplitMeta(
            files=tuple(f for p in parts for f in p.files),
            sizes=tuple(s for p in parts for s in p.sizes),
            windows=sum(p.windows for p in parts),
            sequences=int(used.sum()),
            targets=sum(p.targets for p in parts),
        )
    shutil.rmtree(scratch, ignore_errors=True)
    if not splits["train"].windows and whole is None:
        single = int(np.sum(lengths == 1))
        raise read.PreprocessError(
            f"{source}: the training split has no windows ({single:,} of {len(lengths):,} sequences have a single item, which leaves "
            "nothing to predict); training needs sequences of at least 2 items in the train split"
        )
    metadata = Metadata(
        fingerprint=fingerprints.digest(recorded),
        settings=recorded,
        id_column=spec.id_column,
        position_column=spec.position_column,
        id_dtype=dtypes[spec.id_column],
        columns=columns,
        context=spec.max_length if whole else spec.context,
        stride=spec.window_stride,
        start=spec.start and not whole,
        format=spec.format.value,
        rows=rows,
        splits=splits,
        **(whole.metadata(lengths) if whole else {}),
    )
    files_module.write_text(folder / "metadata.json", metadata.to_json())
    seconds = time.perf_counter() - start
    summary = Summary(
        rows=rows, sequences=len(lengths), single=int(np.sum(lengths == 1)), buckets=len(jobs), workers=workers,
        read_seconds=read_seconds, learn_seconds=learn_seconds, seconds=seconds,
    )  # fmt: skip
    return metadata, summary


def _jobs(spec: DataSpec, folder: pathlib.Path, files, ids, lengths: np.ndarray, ranges: split.Ranges, buckets: int, per=None) -> list[bucket.Job]:
    """One job per non-empty bucket, each with its slice of the per-sequence tables."""
    # a split's sequence table lists the sequences that have windows in it, in ascending id order
    table_index = {name: np.cumsum(b > a) - 1 for name, (a, b) in ranges.items()}
    cuts = bucket.bounds(lengths, buckets)
    return [
        bucket.Job(
            spec=spec,
            files=tuple(files),
            source=spec.input,
            folder=folder,
            bucket=k if len(cuts) > 1 else None,
            low=ids[s0] if s0 > 0 else None,
            high=ids[s1] if s1 < len(ids) else None,
            lengths=lengths[s0:s1],
            ranges={name: (a[s0:s1], b[s0:s1]) for name, (a, b) in ranges.items()},
            table_index={name: index[s0:s1] for name, index in table_index.items()},
            per_sequence=None if per is None else per.rows(slice(s0, s1)),
        )
        for k, (s0, s1) in enumerate(cuts)
    ]


def _bar(enabled: bool, rows: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=rows, desc="preprocess", unit="row", unit_scale=True, dynamic_ncols=True, mininterval=0.5)


def _ticker(bar) -> Callable[[bucket.Job, object], object]:
    """A pass-through that advances the bar by a bucket's rows once its step is done."""

    def tick(job: bucket.Job, result):
        if bar is not None:
            bar.update(int(job.lengths.sum()))
        return result

    return tick


def _run_buckets(spec: DataSpec, jobs: list[bucket.Job], dtypes: dict[str, str], workers: int, tick: Callable):
    """Learn from every bucket, merge, then write every bucket; in this process or in `workers` processes.
    Returns the column metadata, per bucket what it wrote for each split, and the seconds spent learning."""
    start = time.perf_counter()
    if len(jobs) == 1:  # keep the one table in memory between the two steps
        table = bucket.load(jobs[0])
        columns = vocab.finish(spec.columns, tick(jobs[0], bucket.learn(jobs[0], table)), dtypes)
        learned = time.perf_counter() - start
        return columns, [tick(jobs[0], bucket.write_bucket(jobs[0], columns, table))], learned
    if workers == 1:
        columns = vocab.finish(spec.columns, functools.reduce(operator.add, (tick(job, bucket.learn(job)) for job in jobs)), dtypes)
        learned = time.perf_counter() - start
        return columns, [tick(job, bucket.write_bucket(job, columns)) for job in jobs], learned
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        columns = vocab.finish(spec.columns, functools.reduce(operator.add, _in_order(pool, bucket.learn, jobs, tick)), dtypes)
        learned = time.perf_counter() - start
        return columns, _in_order(pool, functools.partial(bucket.write_bucket, columns=columns), jobs, tick), learned
    finally:
        # on failure, let running buckets stop before the caller removes their folder
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(pool: concurrent.futures.Executor, fn: Callable, jobs: Sequence[bucket.Job], tick: Callable) -> list:
    """Results in bucket order; the first failure in bucket order is raised (the smallest offending id)."""
    futures = [pool.submit(fn, job) for job in jobs]
    try:
        return [tick(job, f.result()) for job, f in zip(jobs, futures)]
    except BaseException:
        for f in futures:
            f.cancel()
        raise
