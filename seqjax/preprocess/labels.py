"""What is known once per sequence: its labels, its static features and (optionally) its official split.

Labels come from `data.labels`, a table of one row per sequence. A static feature is looked up in
`data.static_input`, then in the labels table, then in the item table, where it must be constant
within each sequence. Every sequence with items needs a label; labels of sequences without items
are counted in a warning. Everything here is aligned with the ascending ids of the first pass.
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings

import numpy as np
import polars as pl

from seqjax.data.metadata import SPLITS, ColumnMeta
from seqjax.preprocess import read
from seqjax.preprocess.read import PreprocessError
from seqjax.spec import ColumnKind, ColumnSpec, DataSpec


class UnusedLabelsWarning(UserWarning):
    """Labels of sequences that have no items."""


@dataclasses.dataclass(frozen=True)
class PerSequence:
    """One row per sequence with items, in ascending id order."""

    labels: pl.DataFrame
    """The label columns, as read."""
    label_columns: tuple[ColumnSpec, ...]
    statics: pl.DataFrame
    """The static features, as read (categorical) or as Float64 (real)."""
    split: np.ndarray | None
    """int8 [sequences] index into SPLITS from the labels' split column, or None (split by hash)."""


def _table(path: str, what: str) -> pl.DataFrame:
    files = read.input_files(path)
    return read.collect(read.scan_files(files, path), path)


def _kind(dtype: pl.DataType) -> ColumnKind:
    """Strings, booleans and integers are categorical, floats real (as for item columns in `seqjax init`)."""
    return ColumnKind.REAL if dtype.is_float() else ColumnKind.CATEGORICAL


def label_columns(spec: DataSpec, table: pl.DataFrame) -> tuple[ColumnSpec, ...]:
    """The declared label columns, or every column of the labels table but the id, the split column and static features."""
    if spec.label_columns:
        return spec.label_columns
    skip = {spec.id_column, spec.split_column, *(c.name for c in spec.static)}
    found = tuple(ColumnSpec(name=n, kind=_kind(table.schema[n])) for n in table.columns if n not in skip)
    if not found:
        raise PreprocessError(f"{spec.labels}: has no label column besides {sorted(skip & set(table.columns))}")
    return found


def align(table: pl.DataFrame, ident: str, ids: pl.Series, source: str, what: str) -> pl.DataFrame:
    """The table's rows in the order of `ids`, after checking its id column for nulls and repeats."""
    if ident not in table.columns:
        raise PreprocessError(f"{source}: has no id column {ident!r}; columns: {table.columns}")
    if table[ident].null_count():
        raise PreprocessError(f"{source}: id column {ident!r} has {table[ident].null_count()} null values")
    repeated = table.filter(table[ident].is_duplicated())
    if repeated.height:
        raise PreprocessError(f"{source}: sequence {repeated[ident][0]!r} has more than one row; each sequence has one row (its {what})")
    keys = pl.DataFrame({ident: ids})
    try:
        table = table.with_columns(pl.col(ident).cast(ids.dtype))
    except pl.exceptions.PolarsError:
        raise PreprocessError(f"{source}: id column {ident!r} has dtype {table.schema[ident]}; the item table's ids are {ids.dtype}") from None
    joined = keys.join(table, on=ident, how="left", maintain_order="left")
    present = keys.join(table.select(ident), on=ident, how="semi")
    if present.height < keys.height:
        missing = keys.join(table.select(ident), on=ident, how="anti")
        raise PreprocessError(f"{source}: {missing.height:,} sequences with items have no row (no {what}), first {missing[ident][0]!r}")
    unused = table.height - keys.height
    if unused:
        warnings.warn(f"{source}: {unused:,} rows are for sequences without items and are not used", UnusedLabelsWarning, stacklevel=3)
    return joined


def _nulls(frame: pl.DataFrame, names: list[str], ident: pl.Series, source: str, what: str) -> None:
    for name in names:
        nulls = frame[name].is_null()
        if nulls.any():
            raise PreprocessError(f"{source}: {what} {name!r} has {int(nulls.sum())} null values, first in sequence {ident.filter(nulls)[0]!r}")


def _split(labels: pl.DataFrame, spec: DataSpec) -> np.ndarray | None:
    if spec.split_column not in labels.columns:
        return None
    values = labels[spec.split_column].cast(pl.String)
    bad = ~values.is_in(list(SPLITS)) | values.is_null()
    if bad.any():
        raise PreprocessError(f"{spec.labels}: split column {spec.split_column!r} has value {values.filter(bad)[0]!r}; allowed: {list(SPLITS)}")
    return values.replace_strict(list(SPLITS), list(range(len(SPLITS))), return_dtype=pl.Int8).to_numpy()


def _statics(spec: DataSpec, ids: pl.Series, labels: pl.DataFrame, files: list[pathlib.Path]) -> pl.DataFrame:
    """Each static feature from the first table that has it (constant within each sequence in the item table)."""
    out = {}
    extra = align(_table(spec.static_input, "static features"), spec.id_column, ids, spec.static_input, "static features") if spec.static_input else None
    items = read.scan_files(files, spec.input)
    for column in spec.static:
        if extra is not None and column.name in extra.columns:
            out[column.name], where = extra[column.name], spec.static_input
        elif column.name in labels.columns:
            out[column.name], where = labels[column.name], spec.labels
        elif column.name in items.collect_schema().names():
            out[column.name], where = _constant(spec, items, column.name, ids), spec.input
        else:
            tables = [t for t in (spec.static_input, spec.labels, spec.input) if t]
            raise PreprocessError(f"data.static: {column.name!r} is in none of {tables}")
        _nulls(pl.DataFrame({column.name: out[column.name]}), [column.name], ids, where, "static feature")
        if column.kind == ColumnKind.REAL:
            if not out[column.name].dtype.is_numeric():
                raise PreprocessError(f"{where}: real static feature {column.name!r} has dtype {out[column.name].dtype}; allowed: numbers")
            out[column.name] = out[column.name].cast(pl.Float64)
    return pl.DataFrame(out) if out else pl.DataFrame()


def _constant(spec: DataSpec, items: pl.LazyFrame, name: str, ids: pl.Series) -> pl.Series:
    return constant(items, spec.id_column, name, ids, spec.input)


def constant(items: pl.LazyFrame, ident: str, name: str, ids: pl.Series, source: str) -> pl.Series:
    """A static feature kept in the item table: its value in each sequence (aligned with `ids`), which must be
    the same on every row of the sequence."""
    per = read.collect(items.group_by(ident).agg(pl.col(name).n_unique().alias("n"), pl.col(name).first().alias(name)), source)
    varying = per.filter(pl.col("n") > 1)
    if varying.height:
        raise PreprocessError(f"{source}: static feature {name!r} varies within sequence {varying.sort(ident)[ident][0]!r}; a static feature has one value per sequence")
    return pl.DataFrame({ident: ids}).join(per.with_columns(pl.col(ident).cast(ids.dtype)), on=ident, how="left", maintain_order="left")[name]


def read_per_sequence(spec: DataSpec, ids: pl.Series, files: list[pathlib.Path]) -> PerSequence:
    """Labels, static features and split of every sequence with items, checked and aligned with `ids`
    (no labels, split by hash, when `data.labels` is empty: objectives that learn without them)."""
    if not spec.labels:
        return PerSequence(labels=pl.DataFrame(), label_columns=(), statics=_statics(spec, ids, pl.DataFrame(), files), split=None)
    table = _table(spec.labels, "labels")
    columns = label_columns(spec, table)
    for column in columns:
        if column.name not in table.columns:
            raise PreprocessError(f"{spec.labels}: label column {column.name!r} not found; columns: {table.columns}")
        if column.kind == ColumnKind.REAL and not table.schema[column.name].is_numeric():
            raise PreprocessError(f"{spec.labels}: real label {column.name!r} has dtype {table.schema[column.name]}; allowed: numbers")
    labels = align(table, spec.id_column, ids, spec.labels, "label")
    _nulls(labels, [c.name for c in columns], ids, spec.labels, "label")
    statics = _statics(spec, ids, labels, files)
    casts = [pl.col(c.name).cast(pl.Float64) for c in columns if c.kind == ColumnKind.REAL]
    picked = labels.select([c.name for c in columns]).with_columns(casts)
    return PerSequence(labels=picked, label_columns=columns, statics=statics, split=_split(labels, spec))


def encoded(frame: pl.DataFrame, metas: tuple[ColumnMeta, ...], count: int) -> tuple[np.ndarray, np.ndarray]:
    """int32 [count, categorical] ids and float32 [count, real] standardised values of `count` sequences' columns."""
    from seqjax.preprocess.vocab import encode

    if not metas:
        return np.zeros((count, 0), np.int32), np.zeros((count, 0), np.float32)
    return encode(frame, metas)
