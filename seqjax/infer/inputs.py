"""New long-format data for inference: read, validate, sort and encode it with the stored metadata.

The checks, sorting and encoding are preprocessing's (seqjax.preprocess.read, .vocab) with the
run's metadata as the layout. The vocabularies and statistics are the training run's
(`workdir/data/metadata.json`); values never seen in training map to the unknown id and are
counted in one warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pathlib
import sys
import warnings

import numpy as np
import polars as pl

from seqjax.data.metadata import UNKNOWN, ColumnMeta, Metadata
from seqjax.errors import UserError
from seqjax.infer.decode import polars_dtype
from seqjax.preprocess import read, vocab
from seqjax.preprocess.read import PreprocessError
from seqjax.preprocess.windows import Rows


class InputError(UserError):
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


@contextlib.contextmanager
def input_errors():
    """The checks are preprocessing's (seqjax.preprocess.read); here their failures are InputErrors."""
    try:
        yield
    except PreprocessError as error:
        raise InputError(str(error)) from None


def as_polars(frame, source: str = "frame", columns: list[str] | None = None) -> pl.DataFrame:
    """A polars frame from a polars or pandas one. Of a pandas frame, named index levels count as columns
    (`set_index("sequenceId")`) and only `columns` are converted (the others may hold anything)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    pandas = sys.modules.get("pandas")  # a pandas frame can only come from a user who has pandas
    if pandas is None or not isinstance(frame, pandas.DataFrame):
        raise InputError(f"{source}: expected a polars or pandas DataFrame, got {type(frame).__name__}")
    index = [name for name in frame.index.names if name is not None and name not in frame.columns]
    if index:
        frame = frame.reset_index(level=index)
    if columns is not None:  # a missing column is an error anyway: then only the names are needed
        frame = frame[columns] if all(name in frame.columns for name in columns) else frame.iloc[:0]
    try:
        return pl.from_pandas(frame)
    except _CONVERSION_ERRORS as error:
        raise InputError(f"{source}: {_unconvertible(frame)} cannot be converted to polars: {read.first_line(error)}") from None


_CONVERSION_ERRORS = (pl.exceptions.PolarsError, ValueError, TypeError)
"""What pl.from_pandas raises for data it cannot convert (pyarrow's errors are ValueErrors or TypeErrors)."""


def _unconvertible(frame) -> str:
    """The first pandas column that pl.from_pandas fails on, else the frame (e.g. repeated column names)."""
    for i in range(frame.shape[1]):
        try:
            pl.from_pandas(frame.iloc[:, [i]])
        except _CONVERSION_ERRORS:
            return f"pandas column {frame.columns[i]!r} (dtype {frame.dtypes.iloc[i]})"
    return "the pandas frame"


def read_table(pattern: str) -> pl.DataFrame:
    """All columns of a parquet/csv file, folder or glob (a table of one row per sequence)."""
    with input_errors():
        return read.collect(read.scan_files(read.input_files(pattern), pattern), pattern)


def read_input(meta: Metadata, pattern: str) -> pl.DataFrame:
    """The used columns of a parquet/csv file, folder or glob, checked and cast like `encode` does."""
    with input_errors():
        lazy, _ = read.prepare(meta, read.scan_files(read.input_files(pattern), pattern, meta), pattern, categorical_dtypes=False)
        return read.collect(lazy, pattern)


def _as_stored(column: ColumnMeta, values: pl.Series, source: str) -> pl.Series:
    """Categorical values in the dtype the vocabulary was learned in (csv may read `10` where parquet had "10")."""
    stored = pl.String if column.dtype.startswith(("Categorical", "Enum")) else polars_dtype(column.dtype)
    if values.dtype == stored:
        return values
    if values.dtype.is_float() and stored.is_integer():
        fractional = values.filter(values != values.round())
        if fractional.len():
            raise InputError(
                f"{source}: categorical column {column.name!r} has value {fractional[0]!r}; the model was trained on {column.dtype} values "
                "(whole numbers only)"
            )
    try:
        return values.cast(stored, strict=True)
    except (pl.exceptions.PolarsError, ValueError):
        raise InputError(f"{source}: categorical column {column.name!r} has dtype {values.dtype}; the model was trained on {column.dtype} values") from None


def encode(meta: Metadata, frame, source: str = "input") -> Encoded:
    """Validate, sort and encode a long-format frame with the training vocabularies and statistics."""
    with input_errors():
        lazy, _ = read.prepare(meta, as_polars(frame, source, read.used_columns(meta)).lazy(), source, categorical_dtypes=False)
        read.validate(meta, lazy, source)
        table = read.read_bucket(meta, lazy, None, None, source)
    features = table.frame.with_columns([_as_stored(c, table.frame[c.name], source) for c in meta.categorical])
    with input_errors():
        cat, real = vocab.encode(features, meta.columns)
    unseen = {}
    for k, column in enumerate(meta.categorical):
        missing = cat[:, k] == UNKNOWN
        if missing.any():
            unseen[column.name] = (int(missing.sum()), features[column.name].filter(pl.Series(missing)).n_unique())
    rows = Rows(cat=table.sort(cat), real=table.sort(real), position=table.positions, starts=table.starts)
    return Encoded(rows=rows, ids=table.ids, unseen=unseen)


def warn_unseen(unseen: dict[str, tuple[int, int]]) -> None:
    """One warning naming each column and how many values were unseen."""
    if unseen:
        parts = ", ".join(f"{name}: {rows} rows ({distinct} distinct values)" for name, (rows, distinct) in unseen.items())
        warnings.warn(f"categories not seen in training were mapped to the unknown id: {parts}", UnseenCategoryWarning, stacklevel=3)


def input_name(pattern: str) -> str:
    """A name for output files of new data: `input-<stem>-<8 hex digits of the absolute path>`.

    The prefix keeps it apart from the splits' results (`test.parquet`), the digits apart from
    another input with the same stem in another folder.
    """
    stem = "glob" if any(ch in pattern for ch in "*?[") else (pathlib.Path(pattern).stem or "input")
    tag = hashlib.sha256(os.path.abspath(pattern).encode()).hexdigest()[:8]
    return f"input-{stem}-{tag}"
