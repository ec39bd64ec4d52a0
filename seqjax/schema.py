"""The spec as a JSON Schema (for TOML editors: taplo, Even Better TOML) and as a Markdown reference.

Both are generated from the spec's dataclasses: types, choices, defaults and the docstrings under
the fields, so they never disagree with what `load_spec` accepts.

    seqjax schema > spec.schema.json                       # then `#:schema ./spec.schema.json` atop a spec
    seqjax schema --format markdown > docs/spec.md
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import typing
from typing import Any

from seqjax.spec import describe
from seqjax.spec.loading import to_dict
from seqjax.spec.sections import Spec

DRAFT = "http://json-schema.org/draft-07/schema#"
SCALARS = {int: ("integer", "integer"), float: ("number", "number"), str: ("string", "string"), bool: ("boolean", "true or false")}


def json_schema() -> dict:
    """A draft-07 JSON Schema of a spec file (after TOML parsing)."""
    definitions: dict = {}
    root = _object(Spec, definitions, tagged=False)
    return {"$schema": DRAFT, "title": "seqjax spec", **root, "definitions": definitions}


def json_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def write(text: str, path: str | pathlib.Path) -> pathlib.Path:
    """Write a generated file atomically."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def _object(cls: type, definitions: dict, *, tagged: bool) -> dict:
    """A dataclass as a closed object; a member of a tagged union must name its `kind`."""
    fields = describe.fields(cls)
    required = [f.name for f in fields if f.required or (tagged and f.name == "kind")]
    schema = {"type": "object", "properties": {f.name: _property(f, definitions) for f in fields}, "additionalProperties": False}
    if describe.class_doc(cls):
        schema = {"description": describe.class_doc(cls), **schema}
    if required:
        schema["required"] = required
    return schema


def _property(field: describe.Field, definitions: dict) -> dict:
    schema = _type(field.type, definitions)
    extra = {"description": field.doc} if field.doc else {}
    if not field.required:
        extra["default"] = to_dict(field.default)
    return {**schema, **extra}


def _type(tp: Any, definitions: dict) -> dict:
    kinds = describe.variants(tp)
    if kinds:
        return {"oneOf": [_object(cls, definitions, tagged=True) for cls in kinds.values()]}
    if dataclasses.is_dataclass(tp):
        return _object(tp, definitions, tagged=False)
    values = describe.enum_values(tp)
    if values is not None:
        return _choices(tp, values)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return {"type": "array", "items": _type(typing.get_args(tp)[0], definitions)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _table_entry(typing.get_args(tp)[1], definitions)}
    if tp is Any:
        return {}
    return {"type": SCALARS[tp][0]}


def _choices(tp: Any, values: list) -> dict:
    kind = SCALARS[type(values[0])][0]
    schema = {"type": kind, "const": values[0]} if len(values) == 1 else {"type": kind, "enum": values}
    docs = describe.enum_docs(tp)
    if docs:
        schema["enumDescriptions"] = [docs.get(v, "") for v in values]
    return schema


def _table_entry(tp: Any, definitions: dict) -> dict:
    """Values of a table; a table of tagged variants also takes bare dotted keys (`model.dim = {kind = ...}`),
    which TOML parses as nested tables."""
    kinds = describe.variants(tp)
    if not kinds:
        return _type(tp, definitions)
    name = "_".join(kinds)
    if name not in definitions:
        nested = {"type": "object", "not": {"required": ["kind"]}, "additionalProperties": {"$ref": f"#/definitions/{name}"}}
        definitions[name] = {"oneOf": [*_type(tp, definitions)["oneOf"], nested]}
    return {"$ref": f"#/definitions/{name}"}


# ---------------------------------------------------------------- the Markdown reference

HEADER = """# The spec: every key

Generated from the spec's dataclasses (`seqjax schema --format markdown > docs/spec.md`); edit the
docstrings in `seqjax/spec/`, not this file. `seqjax schema` prints the same as a JSON Schema for
TOML editors. Relative paths resolve against the spec file's folder; `--set key=value` overrides
any key with TOML value syntax.
"""


def markdown() -> str:
    """Every key of the spec: one section per table, one row per key."""
    sections: list[str] = [HEADER]
    _section(Spec, "", "Top level", sections)
    return "\n".join(sections)


def _section(cls: type, prefix: str, title: str, sections: list[str], doc: str = "") -> None:
    fields = describe.fields(cls)
    lines = [f"## {title}", ""]
    if doc or describe.class_doc(cls):
        lines += [_one_line(doc or describe.class_doc(cls)), ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    lines += [f"| `{f.name}` | {_type_name(f.type)} | {_default(f)} | {_cell(f.doc)} |" for f in fields]
    sections.append("\n".join(lines) + "\n")
    for f in fields:
        _subsections(f, f"{prefix}{f.name}", sections)


def _subsections(field: describe.Field, key: str, sections: list[str]) -> None:
    tp, title = field.type, f"`[{key}]`"
    if typing.get_origin(tp) is tuple:
        tp, title = typing.get_args(tp)[0], f"`{key}` entries"
    elif typing.get_origin(tp) is dict:
        tp, title = typing.get_args(tp)[1], f'`[{key}]` entries (`"<key>" = {{...}}`)'
    kinds = describe.variants(tp)
    if kinds:
        for kind, cls in kinds.items():
            _section(cls, f"{key}.", f'{title}: kind = "{kind}"', sections)
    elif dataclasses.is_dataclass(tp):
        _section(tp, f"{key}.", title, sections, doc=field.doc)


def _type_name(tp: Any) -> str:
    kinds = describe.variants(tp)
    if kinds:
        return "table: " + " \\| ".join(f'kind = "{k}"' for k in kinds)
    if dataclasses.is_dataclass(tp):
        return "table"
    values = describe.enum_values(tp)
    if values is not None:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in values)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"table of {_type_name(typing.get_args(tp)[1])}"
    if tp is Any:
        return "any value"
    return SCALARS[tp][1]


def _default(field: describe.Field) -> str:
    if field.required:
        return "required"
    if describe.is_table(field.type):
        return "see below"
    return f"`{json.dumps(to_dict(field.default))}`"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")
