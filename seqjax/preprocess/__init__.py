"""Preprocessing: long-format table -> validated, split, encoded windows in shards + metadata.json."""

from __future__ import annotations

import os
import pathlib
import shutil

from seqjax.data.metadata import SPLITS, Metadata
from seqjax.preprocess.build import Summary, build_folder, fingerprint
from seqjax.preprocess.read import PreprocessError, input_files
from seqjax.spec import DataSpec, PreprocessSpec

__all__ = ["PreprocessError", "preprocess"]


def _reusable(data: pathlib.Path, digest: str) -> bool:
    """The data folder was written by a run with the same fingerprint."""
    try:
        return Metadata.read(data).fingerprint == digest
    except (OSError, ValueError, TypeError, KeyError):
        return False


def _report(data: pathlib.Path, metadata: Metadata, summary: Summary) -> None:
    single = f" ({summary.single:,} with a single item give no windows)" if summary.single else ""
    print(f"preprocess: {summary.rows:,} rows, {summary.sequences:,} sequences{single}, read in {summary.read_seconds:.2f} s")
    for name in SPLITS:
        s = metadata.splits[name]
        print(f"preprocess:   {name}: {s.sequences:,} sequences, {s.windows:,} windows, {s.targets:,} targets")
    rate = summary.rows / max(summary.seconds, 1e-9)
    where = f" in {summary.buckets} buckets on {summary.workers} worker{'s' if summary.workers > 1 else ''}" if summary.buckets > 1 else ""
    print(f"preprocess: wrote {data}{where} in {summary.seconds:.2f} s ({rate:,.0f} rows/s)")


def _replace(temporary: pathlib.Path, data: pathlib.Path) -> None:
    """Swap the finished folder in; the old one moves aside first so a crash never mixes the two."""
    if data.exists():
        old = data.with_name(f".data.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        data.rename(old)
        temporary.rename(data)
        shutil.rmtree(old, ignore_errors=True)
    else:
        temporary.rename(data)


def _remove_leftovers(workdir: pathlib.Path) -> None:
    """Delete temporary folders of earlier runs that were killed (their process no longer exists)."""
    for folder in list(workdir.glob(".data.tmp-*")) + list(workdir.glob(".data.old-*")):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def preprocess(spec: DataSpec, workdir: pathlib.Path, *, seed: int, options: PreprocessSpec = PreprocessSpec(), progress_bar: bool = False) -> pathlib.Path:
    """Make `workdir/data` hold the shards and metadata for `spec`, reusing it when nothing changed.

    `options` sets worker processes and buckets; they change speed and memory, never the output
    (so they are not part of the fingerprint).
    """
    workdir = pathlib.Path(workdir)
    data = workdir / "data"
    files = input_files(spec.input)
    digest = fingerprint(spec, seed, files)
    if _reusable(data, digest):
        print(f"preprocess: reusing {data} (same input and settings)")
        return data
    _remove_leftovers(workdir)
    temporary = workdir / f".data.tmp-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        metadata, summary = build_folder(spec, temporary, seed=seed, files=files, digest=digest, options=options, progress_bar=progress_bar)
        _replace(temporary, data)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _report(data, metadata, summary)
    return data
