"""What commands print: plain lines with progress bars, JSON lines for pipelines, or nothing with --quiet."""

import json
import subprocess
import sys

from tiny import ROOT, write_experiment


def seqjax(*args):
    return subprocess.run([sys.executable, "-m", "seqjax.cli", *args], cwd=ROOT, capture_output=True, text=True)


def test_preprocess_shows_a_progress_bar_and_says_where_its_output_went(tmp_path):
    spec = write_experiment(tmp_path)
    result = seqjax("preprocess", str(spec), "--set", "preprocess.buckets=2")
    assert result.returncode == 0, result.stderr
    assert "preprocess: 100%" in result.stderr and "row" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"data: {tmp_path / 'run' / 'data'}"


def test_json_lines_for_pipelines(tmp_path):
    spec = write_experiment(tmp_path)
    result = seqjax("preprocess", str(spec), "--log-format", "json")
    assert result.returncode == 0 and result.stderr == ""  # no progress bar either
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[-1] == {"event": "output", "message": f"data: {tmp_path / 'run' / 'data'}", "name": "data", "path": str(tmp_path / "run" / "data")}
    assert all(r["event"] == "log" for r in records[:-1]) and records[0]["message"].startswith("preprocess: ")


def test_json_errors_and_quiet(tmp_path):
    spec = write_experiment(tmp_path)
    spec.write_text(spec.read_text().replace("heads = 4", "head = 4"))
    result = seqjax("validate", str(spec), "--log-format", "json")
    assert result.returncode == 2 and result.stdout == ""
    error = json.loads(result.stderr)
    assert error["event"] == "error" and error["exit_code"] == 2 and "did you mean 'heads'?" in error["message"]
    spec.write_text(spec.read_text().replace("head = 4", "heads = 4"))
    result = seqjax("preprocess", str(spec), "--quiet")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
    assert (tmp_path / "run" / "data" / "metadata.json").exists()
