"""Preprocessing: long-format table -> validated, split, encoded windows in shards + metadata.json."""

from __future__ import annotations

import pathlib

from seqjax import files as files_module
from seqjax.data.metadata import SPLITS, Metadata, MetadataError
from seqjax.preprocess.build import Summary, build_folder, fingerprint, settings
from seqjax.preprocess.read import PreprocessError, input_files
from seqjax.spec import DataSpec, PreprocessSpec

__all__ = ["PreprocessError", "StaleDataError", "check_current", "preprocess"]


def reusable(data: pathlib.Path, digest: str) -> bool:
    """The data folder was written by seqjax with the same fingerprint, and its shards are intact."""
    if not files_module.owned(data):
        return False
    try:
        meta = Metadata.read(data)
        meta.check_shards(data)
    except MetadataError:
        return False
    return meta.fingerprint == digest


def _report(data: pathlib.Path, metadata: Metadata, summary: Summary) -> None:
    whole = metadata.view == "sequences"
    single = f" ({summary.single:,} with a single item give no windows)" if summary.single and not whole else ""
    print(f"preprocess: {summary.rows:,} rows, {summary.sequences:,} sequences{single}, read in {summary.read_seconds:.2f} s")
    if whole and metadata.truncated:
        print(f"preprocess: {metadata.truncated:,} sequences longer than {metadata.context} items were cut to {metadata.context} (data.max_length, data.truncate)")
    for name in SPLITS:
        s = metadata.splits[name]
        what = "" if whole else f", {s.windows:,} windows, {s.targets:,} targets"
        print(f"preprocess:   {name}: {s.sequences:,} sequences{what}")
    if whole:
        print(f"preprocess: length buckets up to {', '.join(map(str, metadata.buckets))} items")
    rate = summary.rows / max(summary.seconds, 1e-9)
    where = f" in {summary.buckets} buckets on {summary.workers} worker{'s' if summary.workers > 1 else ''}" if summary.buckets > 1 else ""
    print(f"preprocess: wrote {data}{where} in {summary.seconds:.2f} s ({rate:,.0f} rows/s)")


def preprocess(
    spec: DataSpec, workdir: pathlib.Path, *, seed: int, options: PreprocessSpec = PreprocessSpec(), progress_bar: bool = False, view: str = "windows"
) -> pathlib.Path:
    """Make `workdir/data` hold the shards and metadata for `spec`, reusing it when nothing changed.

    `options` sets worker processes and buckets; they change speed and memory, never the output
    (so they are not part of the fingerprint). `view` is what the objective reads: windows, or whole
    sequences with their labels. A `data` folder that seqjax did not write is never replaced.
    """
    data = pathlib.Path(workdir) / "data"
    files = input_files(spec.input)
    digest = fingerprint(spec, seed, files, pathlib.Path(workdir), view)
    if reusable(data, digest):
        print(f"preprocess: reusing {data} (same input and settings)")
        return data
    with files_module.building(data, "preprocessed data") as temporary:
        metadata, summary = build_folder(spec, temporary, seed=seed, files=files, options=options, progress_bar=progress_bar, view=view)
    _report(data, metadata, summary)
    return data


class StaleDataError(PreprocessError):
    """The preprocessed data was made from other settings or inputs than the spec names now."""


def check_current(spec: DataSpec, seed: int, meta: Metadata, data: pathlib.Path, view: str = "windows") -> None:
    """Fail, naming what changed, unless `data` was preprocessed from `spec`, `seed` and the inputs as they are now.

    Inputs that can no longer be found (moved after preprocessing) are not compared, only the settings.
    """
    try:
        files = input_files(spec.input)
    except PreprocessError:
        files = None
    current = settings(spec, seed, files, pathlib.Path(data).parent, view)
    recorded = dict(meta.settings)
    if files is None:
        recorded.pop("files", None)
    if recorded != current:
        from seqjax.fingerprints import describe

        raise StaleDataError(
            f"{data}: was preprocessed from other settings or inputs than the spec names now ({describe(recorded, current)}); "
            "run `seqjax preprocess` (or `seqjax run`) again"
        )
    meta.check_shards(data)
