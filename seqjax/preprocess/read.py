"""Find, scan and validate the long-format input; read one range of sequence ids and sort it by (sequence, position).

Nothing here holds more than one bucket of rows: validation and sequence lengths are
streaming aggregates, and a bucket is a filtered streaming scan of the ids in [low, high).
Inference on new data (seqjax.infer.inputs) uses the same checks with a run's Metadata as the layout.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import pathlib

import numpy as np
import polars as pl

from seqjax.data.metadata import Metadata
from seqjax.errors import UserError
from seqjax.spec import ColumnKind, DataSpec

SUFFIXES = (".parquet", ".csv")

Layout = DataSpec | Metadata
"""The columns a table must have (id, position, features by kind): the data spec, or a trained run's metadata."""


class PreprocessError(UserError):
    """Input that cannot be preprocessed; the message is one line naming the file, column and value."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Table:
    """The validated input plus the row order that sorts it by (sequence, position).

    Features stay in input order (gathering strings is slow); callers encode them to
    numbers first and sort the numbers with `sort`.
    """

    frame: pl.DataFrame
    """Feature columns in input order (categoricals as read, reals as Float64)."""
    order: np.ndarray | None
    """int64 [rows] input row of each sorted row; None when the input is already sorted."""
    positions: np.ndarray
    """int64 [rows] item positions, sorted."""
    starts: np.ndarray
    """int64 [sequences + 1] first sorted row of each sequence, plus the row count."""
    ids: pl.Series
    """Original id of each sequence, ascending."""
    dtypes: dict[str, str]
    """Input dtype of the id and every feature column, as polars names them."""

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    def sort(self, values: np.ndarray) -> np.ndarray:
        """Input-order rows -> sorted rows."""
        return values if self.order is None else values[self.order]

    def unsort(self, values: np.ndarray) -> np.ndarray:
        """Sorted rows -> input-order rows."""
        if self.order is None:
            return values
        out = np.empty_like(values)
        out[self.order] = values
        return out


def input_files(pattern: str) -> list[pathlib.Path]:
    """The parquet/csv files named by a file, a folder of them, or a glob."""
    path = pathlib.Path(pattern)
    if any(ch in pattern for ch in "*?["):
        files = [pathlib.Path(p) for p in sorted(glob.glob(pattern, recursive=True)) if pathlib.Path(p).is_file()]
        where = "no files match this glob"
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
        where = "folder holds no .parquet or .csv files"
    elif path.is_file():
        files = [path]
        where = ""
    else:
        raise PreprocessError(f"{pattern}: no such file or folder")
    if not files:
        raise PreprocessError(f"{pattern}: {where}")
    for f in files:
        if f.suffix not in SUFFIXES:
            raise PreprocessError(f"{f}: unsupported file type {f.suffix!r}; allowed: .parquet, .csv")
    return files


def scan_files(files: list[pathlib.Path], source: str, layout: "Layout | None" = None) -> pl.LazyFrame:
    """All rows of the parquet/csv files, lazily (csv types inferred from the first 10,000 rows).

    With a `layout`, of several files each must have its used columns (an error names the first file that
    lacks one), and only those are read, so files may differ in their other columns.
    """
    try:
        frames = [pl.scan_csv(f, infer_schema_length=10000) if f.suffix == ".csv" else pl.scan_parquet(f) for f in files]
        if len(frames) == 1:
            return frames[0]
        if layout is not None:
            names = used_columns(layout)
            for f, frame in zip(files, frames):
                missing = [n for n in names if n not in frame.collect_schema()]
                if missing:
                    raise PreprocessError(f"{f}: has no column {missing[0]!r}; every file of {source} needs the columns {names}")
            frames = [frame.select(names) for frame in frames]
        return pl.concat(frames, how="vertical_relaxed")
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _failure(error, source) from None


def used_columns(layout: Layout) -> list[str]:
    return [layout.id_column, layout.position_column, *(c.name for c in layout.columns)]


def check_columns(layout: Layout, schema: pl.Schema, source: str, *, categorical_dtypes: bool = True) -> None:
    """Every used column exists and has a dtype its kind accepts (categorical dtypes only if asked:
    inference checks them against the trained dtype instead)."""
    available = list(schema.names())
    for name in used_columns(layout):
        if name not in schema:
            close = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PreprocessError(f"{source}: column {name!r} not found{hint}; available columns: {available}")
    dtype = schema[layout.id_column]
    if not (dtype.is_integer() or dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)):
        raise PreprocessError(f"{source}: id column {layout.id_column!r} has dtype {dtype}; allowed: string or integer")
    dtype = schema[layout.position_column]
    if not dtype.is_integer():
        raise PreprocessError(f"{source}: position column {layout.position_column!r} has dtype {dtype}; allowed: integer")
    for column in layout.columns:
        dtype = schema[column.name]
        if column.kind == ColumnKind.REAL and not dtype.is_numeric():
            raise PreprocessError(f"{source}: real column {column.name!r} has dtype {dtype}; allowed: integer or float")
        categorical = dtype.is_integer() or dtype in (pl.String, pl.Boolean, pl.Categorical) or isinstance(dtype, pl.Enum)
        if categorical_dtypes and column.kind == ColumnKind.CATEGORICAL and not categorical:
            raise PreprocessError(
                f"{source}: categorical column {column.name!r} has dtype {dtype}; allowed: string, integer or boolean (declare it real?)"
            )


def first_line(error: BaseException) -> str:
    """An error's first line of text (polars' and pyarrow's run on), else its type's name."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _failure(error: BaseException, source: str) -> PreprocessError:
    return PreprocessError(f"{source}: cannot read input: {first_line(error)}")


def collect(lazy: pl.LazyFrame, source: str) -> pl.DataFrame:
    """Run a query with the streaming engine, turning polars/IO errors into one-line PreprocessErrors."""
    try:
        return lazy.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _failure(error, source) from None


def scan(spec: DataSpec, files: list[pathlib.Path], source: str) -> tuple[pl.LazyFrame, dict[str, str]]:
    """The used columns of the input files, lazily, checked and cast as `prepare` does."""
    return prepare(spec, scan_files(files, source, spec), source)


def prepare(layout: Layout, lazy: pl.LazyFrame, source: str, *, categorical_dtypes: bool = True) -> tuple[pl.LazyFrame, dict[str, str]]:
    """The used columns, after `check_columns`, with string ids and categories (from dictionary types) and
    Float64 reals; plus the input dtype of every used column, as polars names them."""
    names = used_columns(layout)
    try:
        schema = lazy.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _failure(error, source) from None
    _check_text_numbers(layout, lazy, schema, source)
    check_columns(layout, schema, source, categorical_dtypes=categorical_dtypes)
    dtypes = {name: str(schema[name]) for name in names}
    casts = [pl.col(layout.id_column).cast(pl.String)] if _dictionary(schema[layout.id_column]) else []
    for column in layout.columns:
        if column.kind == ColumnKind.REAL:
            casts.append(pl.col(column.name).cast(pl.Float64))
        elif _dictionary(schema[column.name]):
            casts.append(pl.col(column.name).cast(pl.String))
    lazy = lazy.select(names)
    return (lazy.with_columns(casts) if casts else lazy), dtypes


def _check_text_numbers(layout: Layout, lazy: pl.LazyFrame, schema: pl.Schema, source: str) -> None:
    """A position or real column read as text although most of it is numbers (a csv cell that is not one):
    name the first value that is not a number and its row. (A column of text only gets the dtype message.)"""
    numbers = [(layout.position_column, pl.Int64, "integers")] + [(c.name, pl.Float64, "numbers") for c in layout.columns if c.kind == ColumnKind.REAL]
    for name, dtype, allowed in numbers:
        if name in schema and schema[name] == pl.String:
            parsed = pl.col(name).cast(dtype, strict=False)
            bad = parsed.is_null() & pl.col(name).is_not_null()
            if not collect(lazy.select(parsed.is_not_null().any()), source).item():
                continue
            found = collect(lazy.with_row_index("__row").filter(bad).select("__row", name).head(1), source)
            if found.height:
                row, value = found.row(0)
                raise PreprocessError(f"{source}: column {name!r} has value {value!r} at row {row}; allowed: {allowed}")


def _dictionary(dtype: pl.DataType) -> bool:
    return dtype == pl.Categorical or isinstance(dtype, pl.Enum)


def to_parquet(lazy: pl.LazyFrame, path: pathlib.Path, source: str) -> None:
    """Stream a (csv) input into one parquet file, so that later passes read it quickly and by column."""
    try:
        lazy.sink_parquet(path, compression="lz4")
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _failure(error, source) from None


def validate(layout: Layout, lazy: pl.LazyFrame, source: str) -> int:
    """Row count, after checking in one streaming pass that rows exist, no used column has nulls
    and real columns are finite; an error names the first offending sequence in sorted order."""
    names = lazy.collect_schema().names()
    floats = [c.name for c in layout.columns if c.kind == ColumnKind.REAL]
    counts = collect(
        lazy.select(
            pl.len().alias("rows"),
            *(pl.col(n).null_count().alias(f"null {n}") for n in names),
            *((~pl.col(n).is_finite()).sum().alias(f"bad {n}") for n in floats),
        ),
        source,
    ).row(0, named=True)
    if not counts["rows"]:
        raise PreprocessError(f"{source}: no rows")
    ident = layout.id_column
    for name in names:
        count = counts[f"null {name}"]
        if not count:
            continue
        if name == ident:
            row = collect(lazy.with_row_index("__row").filter(pl.col(ident).is_null()).select(pl.col("__row").min()), source).item()
            raise PreprocessError(f"{source}: id column {name!r} has {count} null values (first at row {row}); ids must be set on every row")
        first = collect(lazy.filter(pl.col(name).is_null()).select(pl.col(ident).min()), source).item()
        raise PreprocessError(f"{source}: column {name!r} has {count} null values, first in sequence {first!r}; nulls are not allowed")
    for name in floats:
        if not counts[f"bad {name}"]:
            continue
        bad = ~pl.col(name).is_finite()
        first = collect(lazy.filter(bad).select(pl.col(ident).min()), source).item()
        rows = collect(lazy.filter(bad & (pl.col(ident) == first)).select(layout.position_column, name), source)
        value = rows.sort(layout.position_column)[name][0]
        raise PreprocessError(f"{source}: real column {name!r} has value {value} in sequence {first!r}; allowed: finite numbers")
    return int(counts["rows"])


def sequence_lengths(spec: DataSpec, lazy: pl.LazyFrame, source: str) -> tuple[pl.Series, np.ndarray]:
    """Every sequence id, ascending, and its item count: one streaming pass over the id column."""
    counts = collect(lazy.group_by(spec.id_column).agg(pl.len().alias("length")), source).sort(spec.id_column)
    return counts[spec.id_column], counts["length"].cast(pl.Int64).to_numpy()


def _dense_codes(ids: pl.Series, distinct: pl.Series) -> np.ndarray:
    """int64 [rows]: index of each row's id in the ascending `distinct` ids (a hash lookup; ranking strings is slower)."""
    return ids.replace_strict(distinct, pl.int_range(0, len(distinct), eager=True), return_dtype=pl.Int64).to_numpy()


def _sort_order(codes: np.ndarray, positions: np.ndarray) -> np.ndarray | None:
    """Row order sorted by (sequence code, position); None when already sorted."""
    low = positions.min()
    span = int(positions.max()) - int(low) + 1
    sequences = int(codes.max()) + 1
    if sequences * span < 2**62:
        # one composite int64 key sorts several times faster than two keys
        key = codes * span + (positions - low)
        if np.all(key[1:] >= key[:-1]):
            return None
        return np.argsort(key)  # keys are unique once duplicates are ruled out, so stability is moot
    return np.lexsort((positions, codes))


def _check_duplicates(codes: np.ndarray, positions: np.ndarray, ids: pl.Series, layout: Layout, source: str) -> None:
    """The first repeated (sequence, position) pair in sorted order, if any."""
    same = (codes[1:] == codes[:-1]) & (positions[1:] == positions[:-1])
    if same.any():
        row = int(np.argmax(same))
        raise PreprocessError(
            f"{source}: sequence {ids[int(codes[row])]!r} has position {int(positions[row])} more than once; "
            f"each ({layout.id_column}, {layout.position_column}) pair must be unique"
        )


def read_bucket(layout: Layout, lazy: pl.LazyFrame, low, high, source: str, dtypes: dict[str, str] | None = None) -> Table:
    """Read the (validated) rows whose id lies in [low, high) (None: unbounded) and sort them;
    their sequences come out in ascending id order."""
    ident = pl.col(layout.id_column)
    id_dtype = lazy.collect_schema()[layout.id_column]
    if low is not None:
        lazy = lazy.filter(ident >= pl.lit(low, id_dtype))
    if high is not None:
        lazy = lazy.filter(ident < pl.lit(high, id_dtype))
    frame = collect(lazy, source)
    id_column = frame[layout.id_column]
    ids = id_column.unique().sort()  # sequence k has the k-th smallest id
    codes = _dense_codes(id_column, ids)
    positions = frame[layout.position_column].cast(pl.Int64).to_numpy()
    order = _sort_order(codes, positions)
    if order is not None:
        codes, positions = codes[order], positions[order]
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1, [len(codes)]]).astype(np.int64)
    _check_duplicates(codes, positions, ids, layout, source)
    features = frame.select(c.name for c in layout.columns)
    return Table(frame=features, order=order, positions=positions, starts=starts, ids=ids, dtypes=dtypes or {})


def read_table(spec: DataSpec, files: list[pathlib.Path]) -> Table:
    """Read, validate and sort the whole input in memory; sequences come out in ascending id order."""
    lazy, dtypes = scan(spec, files, spec.input)
    validate(spec, lazy, spec.input)
    return read_bucket(spec, lazy, None, None, spec.input, dtypes)
