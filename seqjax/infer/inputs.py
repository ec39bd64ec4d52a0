"""New long-format data for inference: read, validate, sort and encode it with the stored metadata.

The vocabularies and statistics are the training run's (`workdir/data/metadata.json`); values
never seen in training map to the unknown id and are counted in one warning.
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings

import numpy as np
import polars as pl

from seqjax.data.metadata import UNKNOWN, ColumnMeta, Metadata
from seqjax.infer.decode import polars_dtype
from seqjax.preprocess.vocab import encode_categorical
from seqjax.preprocess.windows import Rows


class InputError(ValueError):
    """Inference input that cannot be used; the message is one line naming the source, column and value."""


class UnseenCategoryWarning(UserWarning):
    """Categorical values that the training split never had (they go to the unknown id)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Encoded:
    """Raw input encoded like the training data, sorted by (sequence, position)."""

    rows: Rows
    ids: pl.Series
    """Original id of each sequence, ascending (sequence k starts at rows.starts[k])."""
    unseen: dict[str, tuple[int, int]]
    """Categorical column -> (rows, distinct values) that were not in its vocabulary."""

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.rows.starts)


def as_polars(frame) -> pl.DataFrame:
    """A polars frame from a polars or pandas one."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.startswith("pandas"):
        return pl.from_pandas(frame)
    raise InputError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")


def read_input(meta: Metadata, pattern: str) -> pl.DataFrame:
    """The used columns of a parquet/csv file, folder or glob."""
    from seqjax.preprocess.read import input_files

    files = input_files(pattern)
    names = _names(meta)
    try:
        frames = [pl.scan_csv(f, infer_schema_length=10000) if f.suffix == ".csv" else pl.scan_parquet(f) for f in files]
        lazy = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")
        _check_columns(meta, list(lazy.collect_schema().names()), pattern)
        return lazy.select(names).collect()
    except (pl.exceptions.PolarsError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{pattern}: cannot read input: {first}") from None


def _names(meta: Metadata) -> list[str]:
    return [meta.id_column, meta.position_column, *(c.name for c in meta.columns)]


def _check_columns(meta: Metadata, available: list[str], source: str) -> None:
    import difflib

    for name in _names(meta):
        if name not in available:
            close = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"{source}: column {name!r} not found{hint}; available columns: {available}")


def _check_values(meta: Metadata, frame: pl.DataFrame, source: str) -> None:
    """Rows exist; no nulls; integer positions; finite reals."""
    if frame.height == 0:
        raise InputError(f"{source}: no rows")
    for name, count in frame.null_count().row(0, named=True).items():
        if count:
            raise InputError(f"{source}: column {name!r} has {count} null values; nulls are not allowed")
    if not frame.schema[meta.position_column].is_integer():
        raise InputError(f"{source}: position column {meta.position_column!r} has dtype {frame.schema[meta.position_column]}; allowed: integer")
    for column in meta.real:
        dtype = frame.schema[column.name]
        if not dtype.is_numeric():
            raise InputError(f"{source}: real column {column.name!r} has dtype {dtype}; allowed: integer or float")
        if dtype.is_float() and not frame[column.name].is_finite().all():
            raise InputError(f"{source}: real column {column.name!r} has non-finite values; allowed: finite numbers")


def _sorted(meta: Metadata, frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Rows by (sequence, position); one row per (sequence, position) pair."""
    id_dtype = frame.schema[meta.id_column]
    if id_dtype == pl.Categorical or isinstance(id_dtype, pl.Enum):
        frame = frame.with_columns(pl.col(meta.id_column).cast(pl.String))
    frame = frame.sort([meta.id_column, meta.position_column])
    same = frame.select(
        (pl.col(meta.id_column) == pl.col(meta.id_column).shift(1)) & (pl.col(meta.position_column) == pl.col(meta.position_column).shift(1))
    ).to_series()
    if same.any():
        row = frame.row(int(same.arg_max()), named=True)
        raise InputError(
            f"{source}: sequence {row[meta.id_column]!r} has position {row[meta.position_column]} more than once; "
            f"each ({meta.id_column}, {meta.position_column}) pair must be unique"
        )
    return frame


def _as_stored(column: ColumnMeta, values: pl.Series, source: str) -> pl.Series:
    """Categorical values in the dtype the vocabulary was learned in (csv may read `10` where parquet had "10")."""
    stored = pl.String if column.dtype.startswith(("Categorical", "Enum")) else polars_dtype(column.dtype)
    if values.dtype == stored:
        return values
    try:
        return values.cast(stored, strict=True)
    except (pl.exceptions.PolarsError, ValueError):
        raise InputError(f"{source}: categorical column {column.name!r} has dtype {values.dtype}; the model was trained on {column.dtype} values") from None


def encode(meta: Metadata, frame, source: str = "input") -> Encoded:
    """Validate, sort and encode a long-format frame with the training vocabularies and statistics."""
    frame = as_polars(frame)
    _check_columns(meta, frame.columns, source)
    frame = frame.select(_names(meta))
    _check_values(meta, frame, source)
    frame = _sorted(meta, frame, source)
    cats, reals, unseen = [], [], {}
    for column in meta.columns:
        if column.kind == "categorical":
            values = _as_stored(column, frame[column.name], source)
            ids = encode_categorical(values, column)
            missing = ids == UNKNOWN
            if missing.any():
                unseen[column.name] = (int(missing.sum()), values.filter(pl.Series(missing)).n_unique())
            cats.append(ids)
        else:
            reals.append(((frame[column.name].cast(pl.Float64).to_numpy() - column.mean) / column.std).astype(np.float32))
    sequence_ids = frame[meta.id_column]
    change = np.flatnonzero((sequence_ids != sequence_ids.shift(1)).fill_null(True).to_numpy())
    rows = Rows(
        cat=np.ascontiguousarray(np.stack(cats, axis=1) if cats else np.zeros((frame.height, 0), np.int32), np.int32),
        real=np.ascontiguousarray(np.stack(reals, axis=1) if reals else np.zeros((frame.height, 0), np.float32), np.float32),
        position=frame[meta.position_column].cast(pl.Int64).to_numpy(),
        starts=np.append(change, frame.height).astype(np.int64),
    )
    return Encoded(rows=rows, ids=sequence_ids.gather(change), unseen=unseen)


def warn_unseen(unseen: dict[str, tuple[int, int]]) -> None:
    """One warning naming each column and how many values were unseen."""
    if unseen:
        parts = ", ".join(f"{name}: {rows} rows ({distinct} distinct values)" for name, (rows, distinct) in unseen.items())
        warnings.warn(f"categories not seen in training were mapped to the unknown id: {parts}", UnseenCategoryWarning, stacklevel=3)


def input_name(pattern: str) -> str:
    """A short name for output files: the file's or folder's stem ("input" for a glob)."""
    if any(ch in pattern for ch in "*?["):
        return "input"
    return pathlib.Path(pattern).stem or "input"
