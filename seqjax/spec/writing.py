"""Spec -> TOML text with every key, its value and a comment (its docstring's first line) above it.

`seqjax init` writes a new project's spec with it, and `seqjax search` the best trial's `best.toml`.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, Sequence

import tomlkit

from seqjax.spec import describe
from seqjax.spec.loading import to_dict
from seqjax.spec.sections import Spec


@dataclasses.dataclass(frozen=True)
class Notes:
    """Extra comment lines: above a dotted key (`data.context`), or after one entry of a list (`data.columns[2]`)."""

    above: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    after: Mapping[str, str] = dataclasses.field(default_factory=dict)


def spec_toml(spec: Spec, *, header: Sequence[str] = (), notes: Notes = Notes(), leave_out: Sequence[str] = ()) -> str:
    """The whole spec as commented TOML that `load_spec` reads back to an equal spec (paths as given)."""
    document = tomlkit.document()
    for line in header:
        document.add(tomlkit.comment(line))
    if header:
        document.add(tomlkit.nl())
    _fill(document, spec, "", notes, leave_out)
    return tomlkit.dumps(document)


def _fill(table, obj: Any, prefix: str, notes: Notes, leave_out: Sequence[str], kinds: Sequence[str] = ()) -> None:
    """Scalars of `obj` first, then its sub-tables (TOML needs a table's own keys before its sub-tables).
    A table's comment goes under its header; `kinds` are the other variants a tagged table could be."""
    entries = [f for f in describe.fields(type(obj)) if f"{prefix}{f.name}" not in leave_out]
    scalars = [f for f in entries if not _own_table(f)]
    for field in scalars + [f for f in entries if _own_table(f)]:
        key = f"{prefix}{field.name}"
        value = getattr(obj, field.name)
        if not _own_table(field):
            for line in _comments(field, key, notes, kinds):
                table.add(tomlkit.comment(line))
            table.add(field.name, _value(value, key, notes))
            continue
        sub = tomlkit.table()
        for line in _comments(field, key, notes):
            sub.add(tomlkit.comment(line))
        sub.add(tomlkit.nl())
        if _variant_dict(field.type):
            for name, param in value.items():
                sub.add(name, _inline(to_dict(param)))
        else:
            _fill(sub, value, f"{key}.", notes, leave_out, list(describe.variants(field.type) or ()))
        table.add(field.name, sub)


def _own_table(field: describe.Field) -> bool:
    return describe.is_table(field.type) or _variant_dict(field.type)


def _variant_dict(tp) -> bool:
    return typing.get_origin(tp) is dict and describe.variants(typing.get_args(tp)[1]) is not None


def _comments(field: describe.Field, key: str, notes: Notes, kinds: Sequence[str] = ()) -> list[str]:
    lines = [field.summary] if field.summary else []
    if field.name == "kind":
        others = [repr(k) for k in kinds if k != field.default]
        lines = [f"{field.default}: {field.summary}" + (f" Other kinds: {', '.join(others)}." if others else "")]
    return [*lines, *notes.above.get(key, ())]


def _value(value: Any, key: str, notes: Notes):
    """A list of tables is written one entry per line (with its note); everything else as one value."""
    plain = to_dict(value)
    if isinstance(plain, list) and plain and all(isinstance(v, dict) for v in plain):
        array = tomlkit.array()
        for i, entry in enumerate(plain):
            comment = notes.after.get(f"{key}[{i}]")
            array.add_line(_inline(entry), comment=comment) if comment else array.add_line(_inline(entry))
        array.add_line(indent="")
        return array
    if isinstance(plain, dict):
        return _inline(plain)
    return tomlkit.item(plain)


def _inline(table: dict):
    inline = tomlkit.inline_table()
    inline.update(table)
    return inline
