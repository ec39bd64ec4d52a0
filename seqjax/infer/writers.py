"""Long-format result frames (categories decoded, reals in original units) and atomic file writers."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl

from seqjax import faults, files
from seqjax.data.metadata import RESERVED, Metadata
from seqjax.infer.decode import decode_categorical, decode_real

PART_ROWS = 1_000_000
"""Rows per part file: a result larger than this becomes a folder of part files."""


def _keys(meta: Metadata, ids: pl.Series, sequence: np.ndarray, position: np.ndarray) -> list[pl.Series]:
    return [ids.gather(sequence).alias(meta.id_column), pl.Series(meta.position_column, position.astype(np.int64))]


def _decoded(meta: Metadata, name: str, values: np.ndarray) -> pl.Series:
    column = meta.column(name)
    return decode_categorical(column, values) if column.categorical else decode_real(column, values)


def predict_frame(meta: Metadata, targets, ids, sequence, position, out: dict[str, np.ndarray]) -> pl.DataFrame:
    """id, position, one column per target: the predicted value."""
    return pl.DataFrame(_keys(meta, ids, sequence, position) + [_decoded(meta, t, out["predicted"][t]) for t in targets])


def class_names(meta: Metadata, target: str) -> list[str]:
    """`<target>=<class value>`, one per vocabulary entry, in id order."""
    return [f"{target}={value}" for value in meta.column(target).vocab]


def probabilities_frame(meta: Metadata, targets, ids, sequence, position, out: dict[str, np.ndarray]) -> pl.DataFrame:
    """id, position, then `<target>=<class value>` probabilities for each categorical target."""
    series = _keys(meta, ids, sequence, position)
    for target in targets:
        probs_NV = out["probabilities"][target][:, RESERVED:].astype(np.float32)
        series += [pl.Series(name, probs_NV[:, v]) for v, name in enumerate(class_names(meta, target))]
    return pl.DataFrame(series)


def generate_frame(meta: Metadata, ids, sequence, last_position, cat_NTC: np.ndarray, real_NTR: np.ndarray) -> pl.DataFrame:
    """id, position (last observed + 1, + 2, ...), every column: the generated items only."""
    N, T = cat_NTC.shape[:2]
    position = (last_position[:, None] + 1 + np.arange(T)[None, :]).reshape(-1)
    series = _keys(meta, ids, np.repeat(sequence, T), position)
    cat = {c.name: cat_NTC[..., i].reshape(-1) for i, c in enumerate(meta.categorical)}
    real = {c.name: real_NTR[..., i].reshape(-1) for i, c in enumerate(meta.real)}
    series += [_decoded(meta, c.name, cat[c.name] if c.categorical else real[c.name]) for c in meta.columns]
    return pl.DataFrame(series)


def embed_frame(meta: Metadata, ids, sequence, position, vectors_ND: np.ndarray) -> pl.DataFrame:
    """id (+ position of the window's last item, when one row per window), embedding_0..embedding_{D-1}."""
    series = [ids.gather(sequence).alias(meta.id_column)]
    if position is not None:
        series.append(pl.Series(meta.position_column, position.astype(np.int64)))
    series += [pl.Series(f"embedding_{d}", vectors_ND[:, d].astype(np.float32)) for d in range(vectors_ND.shape[1])]
    return pl.DataFrame(series)


def _write_one(frame: pl.DataFrame, path: pathlib.Path, suffix: str) -> None:
    if suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)


def write_frame(frame: pl.DataFrame, path: pathlib.Path) -> None:
    """Parquet or csv by suffix, written to a temporary name and renamed."""
    with files.atomic(path) as tmp:
        _write_one(frame, tmp, pathlib.Path(path).suffix)
        faults.reached("infer.part")


class PartWriter:
    """Collects result frames; writes one file, or a folder of `part-NNNNN` files past `part_rows` rows.

    Nothing appears under the final name until `close()`: parts go to a temporary folder first.
    """

    def __init__(self, path: pathlib.Path, *, part_rows: int = PART_ROWS, enabled: bool = True):
        self.path, self.part_rows, self.enabled = pathlib.Path(path), part_rows, enabled
        self.pending: list[pl.DataFrame] = []
        self.held = self.parts = self.rows = 0
        self.folder: pathlib.Path | None = None
        if enabled:  # before any work: refuse to replace what seqjax did not write
            files.check_replaceable(self.path, folder=False)
            files.remove_leftovers(self.path.parent)

    def add(self, frame: pl.DataFrame) -> None:
        if not self.enabled or frame.height == 0:
            return
        self.pending.append(frame)
        self.held += frame.height
        self.rows += frame.height
        while self.held >= self.part_rows:
            merged = pl.concat(self.pending)
            self._part(merged.head(self.part_rows))
            rest = merged.slice(self.part_rows)
            self.pending, self.held = [rest], rest.height

    def _part(self, frame: pl.DataFrame) -> None:
        if self.folder is None:
            self.folder = files.new_folder(self.path, "result parts")
        _write_one(frame, self.folder / f"part-{self.parts:05d}{self.path.suffix}", self.path.suffix)
        self.parts += 1

    def close(self, empty: pl.DataFrame) -> pathlib.Path:
        """Publish the result (`empty` gives the columns when there were no rows)."""
        if not self.enabled:
            return self.path
        frame = pl.concat(self.pending) if self.pending else empty
        if self.parts == 0:
            if self.path.is_dir():  # an earlier result in parts (check_replaceable: seqjax's own)
                files.remove(self.path)
            write_frame(frame, self.path)
            return self.path
        if frame.height:
            self._part(frame)
        if self.path.is_file():  # an earlier result in one file
            self.path.unlink()
        files.publish(self.folder, self.path)
        return self.path

    def abort(self) -> None:
        if self.folder is not None:
            files.remove(self.folder)
