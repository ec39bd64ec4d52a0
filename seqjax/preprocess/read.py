"""Find, read and validate the long-format input table, then sort it by (sequence, position)."""

from __future__ import annotations

import dataclasses
import difflib
import glob
import pathlib

import numpy as np
import polars as pl

from seqjax.spec import ColumnKind, DataSpec

SUFFIXES = (".parquet", ".csv")


class PreprocessError(ValueError):
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


def _scan(files: list[pathlib.Path]) -> pl.LazyFrame:
    frames = []
    for f in files:
        if f.suffix == ".csv":
            frames.append(pl.scan_csv(f, infer_schema_length=10000))
        else:
            frames.append(pl.scan_parquet(f))
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")


def _check_columns(spec: DataSpec, schema: pl.Schema, source: str) -> None:
    """Every named column exists and has a dtype its kind accepts."""
    available = list(schema.names())
    for name in (spec.id_column, spec.position_column, *(c.name for c in spec.columns)):
        if name not in schema:
            close = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PreprocessError(f"{source}: column {name!r} not found{hint}; available columns: {available}")
    dtype = schema[spec.id_column]
    if not (dtype.is_integer() or dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)):
        raise PreprocessError(f"{source}: id column {spec.id_column!r} has dtype {dtype}; allowed: string or integer")
    dtype = schema[spec.position_column]
    if not dtype.is_integer():
        raise PreprocessError(f"{source}: position column {spec.position_column!r} has dtype {dtype}; allowed: integer")
    for column in spec.columns:
        dtype = schema[column.name]
        if column.kind == ColumnKind.REAL and not dtype.is_numeric():
            raise PreprocessError(f"{source}: real column {column.name!r} has dtype {dtype}; allowed: integer or float")
        categorical = dtype.is_integer() or dtype in (pl.String, pl.Boolean, pl.Categorical) or isinstance(dtype, pl.Enum)
        if column.kind == ColumnKind.CATEGORICAL and not categorical:
            raise PreprocessError(
                f"{source}: categorical column {column.name!r} has dtype {dtype}; allowed: string, integer or boolean (declare it real?)"
            )


def _check_values(spec: DataSpec, frame: pl.DataFrame, source: str) -> None:
    """No nulls in any used column, no NaN or infinity in real columns."""
    if frame.height == 0:
        raise PreprocessError(f"{source}: no rows")
    nulls = frame.null_count().row(0, named=True)
    for name, count in nulls.items():
        if not count:
            continue
        if name == spec.id_column:
            row = frame[name].is_null().arg_max()
            raise PreprocessError(f"{source}: id column {name!r} has {count} null values (first at row {row}); ids must be set on every row")
        first = frame.filter(pl.col(name).is_null()).row(0, named=True)
        raise PreprocessError(
            f"{source}: column {name!r} has {count} null values, first in sequence {first[spec.id_column]!r}; nulls are not allowed"
        )
    for column in spec.columns:
        if column.kind == ColumnKind.REAL and frame.schema[column.name].is_float():
            bad = frame.filter(~pl.col(column.name).is_finite())
            if bad.height:
                first = bad.row(0, named=True)
                raise PreprocessError(
                    f"{source}: real column {column.name!r} has value {first[column.name]} in sequence {first[spec.id_column]!r}; "
                    "allowed: finite numbers"
                )


def _collect(spec: DataSpec, files: list[pathlib.Path], source: str) -> pl.DataFrame:
    """Read only the used columns, turning polars/IO errors into one-line PreprocessErrors."""
    names = [spec.id_column, spec.position_column, *(c.name for c in spec.columns)]
    try:
        lazy = _scan(files)
        _check_columns(spec, lazy.collect_schema(), source)
        return lazy.select(names).collect()
    except (pl.exceptions.PolarsError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PreprocessError(f"{source}: cannot read input: {first}") from None


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


def _check_duplicates(codes: np.ndarray, positions: np.ndarray, ids: pl.Series, spec: DataSpec, source: str) -> None:
    same = (codes[1:] == codes[:-1]) & (positions[1:] == positions[:-1])
    if same.any():
        row = int(np.argmax(same))
        raise PreprocessError(
            f"{source}: sequence {ids[int(codes[row])]!r} has position {int(positions[row])} more than once; "
            f"each ({spec.id_column}, {spec.position_column}) pair must be unique"
        )


def read_table(spec: DataSpec, files: list[pathlib.Path]) -> Table:
    """Read, validate and sort the input; sequences come out in ascending id order."""
    source = spec.input
    frame = _collect(spec, files, source)
    _check_values(spec, frame, source)
    dtypes = {name: str(dtype) for name, dtype in frame.schema.items()}
    id_column = frame[spec.id_column]
    if id_column.dtype == pl.Categorical or isinstance(id_column.dtype, pl.Enum):
        id_column = id_column.cast(pl.String)
    ids = id_column.unique().sort()  # sequence k has the k-th smallest id
    codes = _dense_codes(id_column, ids)
    positions = frame[spec.position_column].cast(pl.Int64).to_numpy()
    order = _sort_order(codes, positions)
    if order is not None:
        codes, positions = codes[order], positions[order]
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1, [len(codes)]]).astype(np.int64)
    _check_duplicates(codes, positions, ids, spec, source)
    features = _normalise(spec, frame.select(c.name for c in spec.columns))
    return Table(frame=features, order=order, positions=positions, starts=starts, ids=ids, dtypes=dtypes)


def _normalise(spec: DataSpec, features: pl.DataFrame) -> pl.DataFrame:
    """Reals as Float64; categorical dictionary types as plain strings."""
    casts = []
    for column in spec.columns:
        dtype = features.schema[column.name]
        if column.kind == ColumnKind.REAL:
            casts.append(pl.col(column.name).cast(pl.Float64))
        elif dtype == pl.Categorical or isinstance(dtype, pl.Enum):
            casts.append(pl.col(column.name).cast(pl.String))
    return features.with_columns(casts) if casts else features
