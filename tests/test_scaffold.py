"""`seqjax init`: columns, kinds and context inferred from the data, every key present and commented, and a spec that runs."""

import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import tomli
from tiny import ROOT, generator

from seqjax import scaffold
from seqjax.spec import describe, load_spec, resolve_paths, spec_from_dict
from seqjax.spec.sections import Spec


@pytest.fixture
def table(tmp_path):
    frame = generator().generate(40, 0, 4, 30)
    frame = frame.with_columns(
        (pl.col("itemPosition") * 7 % 50).alias("count"),  # integers with 50 distinct values: real
        pl.lit(True).alias("flag"),
        pl.col("itemPosition").cast(pl.Datetime("us")).alias("when"),  # left out
    )
    path = tmp_path / "data" / "table.parquet"
    path.parent.mkdir()
    frame.write_parquet(path)
    return path


def test_context_is_the_power_of_two_below_the_median_length():
    assert scaffold.suggest_context(np.array([70, 72, 75]))[0] == 64
    assert scaffold.suggest_context(np.array([3, 4, 5]))[0] == 8
    assert scaffold.suggest_context(np.array([5000] * 3))[0] == 512
    assert "median 72, 90% at most 74, longest 75 items" in scaffold.suggest_context(np.array([70, 72, 75]))[1]


def test_kinds_context_and_every_key_with_a_comment(tmp_path, table):
    result = scaffold.init(tmp_path / "project", str(table))
    text = result.spec_file.read_text()
    assert text.startswith("#:schema ./spec.schema.json\n")
    spec = load_spec(result.spec_file)
    kinds = {c.name: c.kind.value for c in spec.data.columns}
    assert kinds == {"event": "categorical", "channel": "categorical", "amount": "real", "duration": "real", "count": "real", "flag": "categorical"}
    assert "integers with 5 distinct values (at most 32): categorical" in text  # channel, explained
    assert "integers with 50 distinct values (more than 32): real" in text
    assert "'when' (Datetime(time_unit='us', time_zone=None)) is left out" in text
    assert spec.train.targets == tuple(kinds)
    assert spec.data.context == 16 and "sequence lengths: median 18," in text
    assert spec.data.input == str(table)
    assert 'input = "../data/table.parquet"' in text
    # every key of every section is written, each under a comment
    written = tomli.loads(text)
    assert resolve_paths(spec_from_dict(written, "scaffold"), result.spec_file.parent) == spec
    assert spec.model == Spec.__dataclass_fields__["model"].default  # defaults as they are
    for section in ("model", "train", "infer", "mesh", "checkpoint", "preprocess", "distributed", "search"):
        for field in describe.fields(type(getattr(spec, section))):
            assert field.name in written[section], f"{section}.{field.name}"
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if " = " in line and not line.startswith(("#", " ", "{")) and not lines[i - 1].startswith("#"):
            pytest.fail(f"no comment above {line!r}")


def test_refuses_to_overwrite_and_reads_only_long_format(tmp_path, table):
    folder = tmp_path / "project"
    scaffold.init(folder, str(table))
    command = [sys.executable, "-m", "seqjax.cli", "init", str(folder), "--data", str(table)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == f"seqjax: error: {folder / 'spec.toml'}: already exists; pass --force to replace it"
    result = subprocess.run([*command, "--force", "--id-column", "user"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "column 'user' not found" in result.stderr and len(result.stderr.splitlines()) == 1


def test_the_scaffolded_spec_trains(tmp_path):
    """The spec as written (only the step count cut, to keep the test short) preprocesses and trains."""
    data = tmp_path / "table.parquet"
    generator().generate(40, 0, 4, 30).write_parquet(data)
    init = subprocess.run([sys.executable, "-m", "seqjax.cli", "init", str(tmp_path / "p"), "--data", str(data)], cwd=ROOT, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    assert f"spec: {tmp_path / 'p' / 'spec.toml'}" in init.stdout
    for command in ("preprocess", "train"):
        step = subprocess.run(
            [sys.executable, "-m", "seqjax.cli", command, str(tmp_path / "p" / "spec.toml"), "--no-progress", "--set", "train.steps=2"],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        assert step.returncode == 0, step.stdout + step.stderr
    assert "trained to step 2" in step.stdout and f"tensorboard: {tmp_path / 'p' / 'runs' / 'p' / 'tensorboard'}" in step.stdout
