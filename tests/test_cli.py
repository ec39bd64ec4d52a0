"""The command line end to end on a tiny spec, and its one-line errors."""

import os
import subprocess
import sys

import polars as pl
from tiny import ROOT, write_experiment


def seqjax(*args, env=None):
    return subprocess.run([sys.executable, "-m", "seqjax.cli", *args], cwd=ROOT, capture_output=True, text=True, env=env)


def test_run_writes_long_format_predictions(tmp_path):
    spec = write_experiment(tmp_path, steps=6, every=3, eval_every=3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")} | {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = seqjax("run", str(spec), "--no-progress", "--set", "infer.format='csv'", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # compiled programs are kept in the user's cache folder for the next command
    assert any((tmp_path / "cache" / "seqjax" / "jax").iterdir())
    out = tmp_path / "run" / "predictions" / "test.csv"
    assert f"predictions: {out}" in result.stdout
    assert "event: accuracy" in result.stdout and "amount: mean absolute error" in result.stdout
    for name in ("data/metadata.json", "metrics.jsonl", "predictions/test-quality.json"):
        assert (tmp_path / "run" / name).exists(), name
    predicted = pl.read_csv(out)
    table = pl.read_parquet(tmp_path / "table.parquet")
    assert predicted.columns == ["sequenceId", "itemPosition", "event", "channel", "amount", "duration"]
    assert predicted.height > 0
    # every prediction names a real item of the input and decodes to a category the input has
    assert predicted.join(table, on=["sequenceId", "itemPosition"], how="anti").height == 0
    assert set(predicted["event"]) <= set(table["event"])
    assert set(predicted["channel"]) <= set(table["channel"])
    assert predicted["amount"].is_finite().all()


def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path):
    spec = write_experiment(tmp_path)
    spec.write_text(spec.read_text().replace('name = "amount"', 'name = "amout"').replace('"amount", "duration"]', '"amout", "duration"]'))
    result = seqjax("run", str(spec), "--no-progress")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqjax: error:")
    assert "amout" in lines[0] and "amount" in lines[0]
    assert not (tmp_path / "run" / "data").exists()


def test_infer_before_training_says_what_to_do(tmp_path):
    spec = write_experiment(tmp_path)
    assert seqjax("preprocess", str(spec)).returncode == 0
    result = seqjax("infer", str(spec), "--no-progress")
    assert result.returncode == 1
    assert result.stderr.strip() == f"seqjax: error: {tmp_path / 'run' / 'checkpoints'}: no checkpoint; run `seqjax train` (or `seqjax run`) first"


def test_help_lists_commands():
    result = seqjax("--help")
    assert result.returncode == 0
    for command in ("run", "preprocess", "train", "infer", "validate"):
        assert command in result.stdout


def test_preprocess_starts_without_jax(tmp_path):
    """Preprocessing needs no accelerator runtime, so its command does not pay for importing one."""
    spec = write_experiment(tmp_path)
    code = f"import sys; from seqjax import cli; assert cli.main(['preprocess', {str(spec)!r}]) == 0; print(sorted(m for m in ('jax', 'grain', 'orbax') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "run" / "data" / "metadata.json").exists()
