"""`seqjax init DIR --data FILE`: a project folder whose spec is inferred from the data and runs as it is.

    DIR/spec.toml          every key of the spec with its default and a comment; columns, their kinds,
                           `context` and the targets come from the data, each choice explained
    DIR/spec.schema.json   the spec's JSON Schema, named on the spec's first line for TOML editors

Kinds: strings and booleans are categorical, floats real, and integers categorical when they take at
most FEW distinct values (codes, channels, flags), else real (counts, amounts).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np
import polars as pl

from seqjax import console, schema
from seqjax.preprocess.read import PreprocessError, collect, input_files, scan_files
from seqjax.spec import Spec, spec_from_dict
from seqjax.spec.writing import Notes, spec_toml

FEW = 32
"""An integer column with at most this many distinct values is categorical."""
SCHEMA_FILE = "spec.schema.json"


class ScaffoldError(PreprocessError):
    """A folder or data file that cannot be scaffolded; the message names it."""


@dataclasses.dataclass(frozen=True)
class Scaffold:
    spec_file: pathlib.Path
    schema_file: pathlib.Path
    spec: Spec


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    kind: str | None
    """`categorical`, `real`, or None for a column left out."""
    why: str


def kind_of(name: str, dtype: pl.DataType, distinct: int | None) -> Column:
    """A column's kind from its dtype (and, for integers, its number of distinct values), with the reason."""
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return Column(name, "categorical", "strings: categorical")
    if dtype == pl.Boolean:
        return Column(name, "categorical", "booleans: categorical")
    if dtype.is_integer():
        if distinct is not None and distinct <= FEW:
            return Column(name, "categorical", f'integers with {distinct} distinct values (at most {FEW}): categorical; kind = "real" treats them as numbers')
        return Column(name, "real", f'integers with {distinct:,} distinct values (more than {FEW}): real; kind = "categorical" gives each value an embedding')
    if dtype.is_float():
        return Column(name, "real", "floats: real")
    return Column(name, None, f"{name!r} ({dtype}) is left out: a column must hold strings, booleans or numbers")


def suggest_context(lengths: np.ndarray) -> tuple[int, str]:
    """The largest power of two below the median sequence length (8 to 512), and the comment that explains it."""
    median, p90 = (int(v) for v in np.quantile(lengths, [0.5, 0.9]))
    context = int(min(512, max(8, 2 ** int(np.floor(np.log2(max(median - 1, 1)))))))
    why = (
        f"sequence lengths: median {median}, 90% at most {p90}, longest {int(lengths.max())} items; context {context} is the largest "
        "power of two below the median (8 to 512): most sequences fill a window, longer ones give several, shorter ones are padded"
    )
    return context, why


def _read(data: str, id_column: str, position_column: str):
    """(schema, distinct counts of the integer feature columns, sequence lengths) of the data."""
    files = input_files(data)
    lazy = scan_files(files, data)
    try:
        names = lazy.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ScaffoldError(f"{data}: cannot read input: {str(error).splitlines()[0]}") from None
    for column in (id_column, position_column):
        if column not in names:
            raise ScaffoldError(f"{data}: column {column!r} not found; available columns: {list(names)} (name the columns with --id-column / --position-column)")
    features = [n for n in names if n not in (id_column, position_column)]
    integers = [n for n in features if names[n].is_integer()]
    distinct = collect(lazy.select([pl.col(n).n_unique() for n in integers]), data).row(0, named=True) if integers else {}
    lengths = collect(lazy.group_by(id_column).len(), data)["len"].to_numpy()
    return names, features, distinct, lengths


def _path_from(folder: pathlib.Path, data: str) -> str:
    """`data` relative to the project folder when it is inside it or beside it, else absolute."""
    absolute = pathlib.Path(data).resolve()
    relative = os.path.relpath(absolute, folder.resolve())
    return str(absolute) if relative.startswith(os.path.join(os.pardir, os.pardir)) else relative


def init(folder: str | pathlib.Path, data: str, *, id_column: str = "sequenceId", position_column: str = "itemPosition", force: bool = False) -> Scaffold:
    """Write DIR/spec.toml and DIR/spec.schema.json for `data`; refuses to replace a spec unless `force`."""
    folder = pathlib.Path(folder)
    spec_file = folder / "spec.toml"
    if spec_file.exists() and not force:
        raise ScaffoldError(f"{spec_file}: already exists; pass --force to replace it")
    names, features, distinct, lengths = _read(data, id_column, position_column)
    columns = [kind_of(n, names[n], distinct.get(n)) for n in features]
    used = [c for c in columns if c.kind]
    if not used:
        raise ScaffoldError(f"{data}: no column besides {id_column!r} and {position_column!r} holds strings, booleans or numbers")
    context, context_why = suggest_context(lengths)
    table = {
        "name": folder.resolve().name,
        "workdir": f"runs/{folder.resolve().name}",
        "data": {
            "input": _path_from(folder, data),
            "columns": [{"name": c.name, "kind": c.kind} for c in used],
            "context": context,
            "id_column": id_column,
            "position_column": position_column,
        },
        "train": {"targets": [c.name for c in used]},
    }
    spec = spec_from_dict(table, str(spec_file))
    left_out = [c.why for c in columns if not c.kind]
    notes = Notes(
        above={"data.context": [context_why], "data.columns": left_out, "train.targets": ["every column by default; keep the ones to predict"]},
        after={f"data.columns[{i}]": c.why for i, c in enumerate(used)},
    )
    header = [
        f"A seqjax spec for {data} ({int(lengths.sum()):,} rows, {len(lengths):,} sequences), written by `seqjax init`.",
        "Every key is shown with its default and what it does; `seqjax schema --format markdown` prints the reference.",
        "Run it with: seqjax run spec.toml",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    schema_file = schema.write(schema.json_text(), folder / SCHEMA_FILE)
    schema.write(f"#:schema ./{SCHEMA_FILE}\n" + spec_toml(spec, header=header, notes=notes), spec_file)
    return Scaffold(spec_file, schema_file, spec)


def describe(result: Scaffold) -> None:
    spec = result.spec
    kinds = ", ".join(f"{c.name} ({c.kind.value})" for c in spec.data.columns)
    console.say(f"columns: {kinds}; context {spec.data.context}", event="scaffold", columns={c.name: c.kind.value for c in spec.data.columns}, context=spec.data.context)
    console.outputs(spec=result.spec_file, schema=result.schema_file)
    console.say(f"next: seqjax run {result.spec_file}", event="next", command=f"seqjax run {result.spec_file}")
