"""The spec's JSON Schema and Markdown reference: generated from the dataclasses, checked by real validators, never stale."""

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import typing

import jsonschema
import pytest
import tomli
from tiny import ROOT

from seqjax import schema
from seqjax.spec import Spec, describe

SPECS = sorted((ROOT / "specs").glob("*.toml"))


def broken(text: str) -> str:
    """A spec with a wrong type, an unknown key and a value outside its choices."""
    return text.replace("dim = 64", 'dim = "big"').replace("kv_heads = 2", "kv_head = 2").replace('split = "test"', 'split = "tset"')


def test_checked_in_files_are_current():
    assert (ROOT / "docs" / "spec.md").read_text() == schema.markdown(), "docs/spec.md is stale: run `seqjax schema --format markdown --output docs/spec.md`"
    assert json.loads((ROOT / "docs" / "spec.schema.json").read_text()) == schema.json_schema(), "docs/spec.schema.json is stale: run `seqjax schema --output docs/spec.schema.json`"


def test_every_key_is_documented():
    seen, missing = set(), []

    def walk(cls, prefix):
        if cls in seen:
            return
        seen.add(cls)
        for field in describe.fields(cls):
            if not field.doc:
                missing.append(prefix + field.name)
            tp = field.type
            if typing.get_origin(tp) in (tuple, dict):
                tp = typing.get_args(tp)[0 if typing.get_origin(tp) is tuple else 1]
            for sub in (describe.variants(tp) or {}).values():
                walk(sub, f"{prefix}{field.name}.")
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{prefix}{field.name}.")

    walk(Spec, "")
    assert missing == []


def test_schema_describes_types_choices_defaults_and_docs():
    s = schema.json_schema()
    jsonschema.Draft7Validator.check_schema(s)
    model = s["properties"]["model"]
    assert model["properties"]["dim"] == {"type": "integer", "description": "Width of the residual stream.", "default": 128}
    assert model["properties"]["position"]["enum"] == ["rope", "learned", "sinusoidal", "none"]
    assert model["additionalProperties"] is False
    assert s["required"] == ["data", "train"]
    schedules = s["properties"]["train"]["properties"]["schedule"]["oneOf"]
    assert [v["properties"]["kind"]["const"] for v in schedules] == ["cosine", "constant"]
    assert all("kind" in v["required"] for v in schedules)


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_every_spec_validates_and_a_broken_one_does_not(path):
    validator = jsonschema.Draft7Validator(schema.json_schema())
    assert list(validator.iter_errors(tomli.loads(path.read_text()))) == []
    errors = {e.message for e in validator.iter_errors(tomli.loads(broken(path.read_text())))}
    assert "'big' is not of type 'integer'" in errors
    assert any("'kv_head' was unexpected" in e for e in errors)
    assert any("'tset'" in e for e in errors)


def test_search_space_with_bare_dotted_keys_validates():
    validator = jsonschema.Draft7Validator(schema.json_schema())
    table = tomli.loads((ROOT / "specs" / "example.toml").read_text())
    table["search"]["space"] = tomli.loads('model.layers = { kind = "int", low = 1, high = 2 }\n"model.dim" = { kind = "choice", values = [32] }')
    assert list(validator.iter_errors(table)) == []
    table["search"]["space"]["model"]["heads"] = {"kind": "range"}
    assert list(validator.iter_errors(table))


def test_taplo_checks_specs_with_the_schema(tmp_path):
    """taplo is the engine of Even Better TOML: what it accepts here is what the editor accepts."""
    taplo = shutil.which("taplo", path=os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if taplo is None:
        pytest.skip("taplo is not installed (pip install taplo)")
    (tmp_path / "spec.schema.json").write_text(schema.json_text())
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    text = (ROOT / "specs" / "example.toml").read_text().replace("#:schema ../docs/spec.schema.json", "#:schema ./spec.schema.json")
    good.write_text(text)
    bad.write_text(broken(text))
    assert subprocess.run([taplo, "check", str(good)], cwd=tmp_path, capture_output=True, text=True).returncode == 0
    result = subprocess.run([taplo, "check", str(bad)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    assert '"big" is not of type "integer"' in result.stderr + result.stdout


def test_cli_prints_the_schema_and_the_reference(tmp_path):
    out = subprocess.run([sys.executable, "-m", "seqjax.cli", "schema"], capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout) == schema.json_schema()
    target = tmp_path / "spec.md"
    out = subprocess.run([sys.executable, "-m", "seqjax.cli", "schema", "--format", "markdown", "--output", str(target)], capture_output=True, text=True)
    assert out.returncode == 0 and target.read_text() == schema.markdown()
