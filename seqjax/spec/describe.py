"""The spec's structure as data: each section's fields with their types, defaults and docstrings.

The string literal written under a field is its documentation; the JSON Schema, docs/spec.md,
`seqjax init` and `best.toml` all read it from here, so it is written in one place only.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import inspect
import textwrap
import types
import typing
from typing import Any, Literal


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    type: Any
    default: Any
    """The default value, or dataclasses.MISSING for a required field."""
    doc: str

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    @property
    def summary(self) -> str:
        """The docstring's first line."""
        return self.doc.splitlines()[0] if self.doc else ""


@functools.cache
def attribute_docs(cls: type) -> dict[str, str]:
    """Docstrings written under the attributes of a class body (dataclass fields, enum members)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        name = _assigned_name(node)
        if name and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            docs[name] = inspect.cleandoc(after.value.value)
    return docs


def _assigned_name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def class_doc(cls: type) -> str:
    """A class's own docstring (not an inherited one, nor the signature dataclasses write when there is none), or ''."""
    doc = cls.__dict__.get("__doc__") or ""
    return "" if doc.startswith(f"{cls.__name__}(") else inspect.cleandoc(doc)


def fields(cls: type) -> list[Field]:
    """The fields a spec table may set, in declaration order."""
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        doc = docs.get(f.name, "")
        if f.name == "kind" and not doc:
            doc = class_doc(cls)
        out.append(Field(f.name, hints[f.name], default, doc))
    return out


def variants(tp: Any) -> dict[str, type] | None:
    """A union of tagged dataclasses (`kind = ...`) as {kind: class}; None for any other type."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    members = typing.get_args(tp)
    if not all(dataclasses.is_dataclass(m) and "kind" in m.__dataclass_fields__ for m in members):
        return None
    return {m.__dataclass_fields__["kind"].default: m for m in members}


def is_table(tp: Any) -> bool:
    """A field that is a table of its own: a dataclass or a union of tagged ones."""
    return dataclasses.is_dataclass(tp) or variants(tp) is not None


def enum_values(tp: Any) -> list | None:
    """The allowed values of an enum or Literal type; None for other types."""
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [m.value for m in tp]
    if typing.get_origin(tp) is Literal:
        return list(typing.get_args(tp))
    return None


def enum_docs(tp: Any) -> dict[str, str]:
    """Docstrings of an enum's members, by value."""
    if not (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return {}
    docs = attribute_docs(tp)
    return {m.value: docs[m.name] for m in tp if m.name in docs}
