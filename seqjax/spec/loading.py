"""TOML -> Spec: overrides, type conversion, unknown keys with "did you mean", path resolution."""

from __future__ import annotations

import copy
import dataclasses
import enum
import math
import pathlib
import re
import types
import typing
from typing import Any, Literal

import tomli

from seqjax.spec.choices import SpecError
from seqjax.spec.choices import suggest as _suggest
from seqjax.spec.sections import Spec


def _type_name(tp) -> str:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    if typing.get_origin(tp) is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if typing.get_origin(tp) is dict:
        return f"a table of {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _convert(value: Any, tp, key: str, origin: str) -> Any:
    """Turn a parsed TOML value into `tp`, or fail naming the dotted key."""
    where = f"{origin}: {key}"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        variants = {t.__dataclass_fields__["kind"].default: t for t in typing.get_args(tp)}
        kind = value.get("kind") if isinstance(value, dict) else None
        if kind not in variants:
            raise SpecError(f"{where}.kind = {kind!r}: must be one of {', '.join(map(repr, variants))}{_suggest(str(kind), variants)}")
        return _build(variants[kind], value, key, origin)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SpecError(f"{where} = {value!r}: must be {_type_name(tp)}")
        return _build(tp, value, key, origin)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise SpecError(f"{where} = {value!r}: must be {_type_name(tp)}{_suggest(str(value), [m.value for m in tp])}") from None
    if typing.get_origin(tp) is Literal:
        if value not in typing.get_args(tp):
            raise SpecError(f"{where} = {value!r}: must be {_type_name(tp)}{_suggest(str(value), typing.get_args(tp))}")
        return value
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, list):
            raise SpecError(f"{where} = {value!r}: must be {_type_name(tp)}")
        item = typing.get_args(tp)[0]
        return tuple(_convert(v, item, f"{key}[{i}]", origin) for i, v in enumerate(value))
    if typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            raise SpecError(f"{where} = {value!r}: must be {_type_name(tp)}")
        item = typing.get_args(tp)[1]
        if typing.get_origin(item) in (typing.Union, types.UnionType):
            value = _dotted(value)
        return {k: _convert(v, item, f"{key}.{k}", origin) for k, v in value.items()}
    if tp is Any:
        return value
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{where} = {value!r}: must be a finite number")
    if not ok:
        raise SpecError(f"{where} = {value!r}: must be {_type_name(tp)}")
    return value


def _dotted(table: dict, prefix: str = "") -> dict:
    """A table of tagged variants written with bare dotted keys (`model.dim = {kind = ...}` parses as nested
    tables) -> one level of dotted keys, as if each were quoted."""
    flat = {}
    for k, v in table.items():
        if isinstance(v, dict) and "kind" not in v and v:
            flat.update(_dotted(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def _build(cls, table: dict, prefix: str, origin: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    section = f"[{prefix}]" if prefix else "the top level"
    for key in table:
        if key not in fields:
            raise SpecError(f"{origin}: {section} has no field {key!r}{_suggest(key, fields)}")
    kwargs = {}
    for name, field in fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name in table:
            kwargs[name] = _convert(table[name], hints[name], dotted, origin)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise SpecError(f"{origin}: {dotted} is required ({_type_name(hints[name])})")
    try:
        return cls(**kwargs)
    except SpecError as error:
        raise SpecError(f"{origin}: {error}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`model.dim=64` -> (['model', 'dim'], 64); the value uses TOML syntax, and a bare word (letters, digits,
    `_ - . / : + @ ~`, no quotes or brackets) is a string: `--set workdir=runs/b` is `workdir = "runs/b"`."""
    if "=" not in text:
        raise SpecError(f"--set {text!r}: must look like section.key=value")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    if not _KEY.fullmatch(key):
        raise SpecError(f"--set {text!r}: {key!r} is not a dotted key (like model.dim)")
    try:
        value = tomli.loads(f"v = {raw}")["v"]
    except tomli.TOMLDecodeError as error:
        if not _BARE.fullmatch(raw):
            raise SpecError(f"--set {text!r}: {raw!r} is not a TOML value ({str(error).split(' (at ')[0]}); quote text as key='text'") from None
        value = raw
    return key.split("."), value


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
_BARE = re.compile(r"[A-Za-z0-9_\-./:+@~]+")


def load_spec(path: str | pathlib.Path, overrides: typing.Sequence[str] = ()) -> Spec:
    """Read, override, validate and resolve a spec file."""
    path = pathlib.Path(path)
    try:
        table = tomli.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except tomli.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML: {error}") from None
    for override in overrides:
        keys, value = parse_override(override)
        node = table
        for part in keys[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SpecError(f"--set {override!r}: {part!r} is not a section")
        node[keys[-1]] = value
    return resolve_paths(spec_from_dict(table, str(path)), path.parent)


def apply_values(table: dict, values: dict[str, Any]) -> dict:
    """A copy of a spec table with dotted keys set (`{"model.dim": 64}`), making tables on the way as needed."""
    table = copy.deepcopy(table)
    for key, value in values.items():
        *parents, last = key.split(".")
        node = table
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SpecError(f"{key}: {part!r} is not a table")
        node[last] = copy.deepcopy(value)
    return table


def spec_from_dict(table: dict, origin: str = "spec") -> Spec:
    """Validate a parsed table (e.g. a saved `to_dict(spec)`) into a Spec; `origin` prefixes error messages."""
    return _build(Spec, table, "", origin)


def resolve_paths(spec: Spec, base: pathlib.Path) -> Spec:
    """Make relative paths (`data.input`, `data.labels`, `data.static_input`, `train.init`, `infer.*`, `workdir`) absolute against the spec's folder."""

    def absolute(p: str) -> str:
        return p if pathlib.Path(p).is_absolute() else str((base / p).resolve())

    data = dataclasses.replace(
        spec.data,
        input=absolute(spec.data.input),
        labels=absolute(spec.data.labels) if spec.data.labels else "",
        static_input=absolute(spec.data.static_input) if spec.data.static_input else "",
    )
    infer = dataclasses.replace(
        spec.infer,
        input=absolute(spec.infer.input) if spec.infer.input else "",
        static=absolute(spec.infer.static) if spec.infer.static else "",
        output=absolute(spec.infer.output) if spec.infer.output else "",
    )
    train = dataclasses.replace(spec.train, init=absolute(spec.train.init)) if spec.train.init else spec.train
    return dataclasses.replace(spec, data=data, train=train, infer=infer, workdir=absolute(spec.workdir))


def to_dict(obj) -> Any:
    """A spec (or part of one) as plain JSON-ready values."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
