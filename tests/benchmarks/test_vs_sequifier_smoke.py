"""Smoke test of the side-by-side benchmark against sequifier (needs torch and sequifier: opt in with SEQJAX_BENCH=1)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.environ.get("SEQJAX_BENCH") != "1", reason="benchmarks run only with SEQJAX_BENCH=1 (they install torch and sequifier)")


def test_tiny_run_reports_both_tools(tmp_path):
    out = tmp_path / "tiny.json"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device, as a user runs it
    command = [sys.executable, str(ROOT / "benchmarks" / "vs_sequifier.py"), "--size", "tiny", "--no-results", "--no-profile", "--load-wait", "0", "--json", str(out)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=1800)
    r = json.loads(out.read_text())
    for tool in ("seqjax", "sequifier"):
        assert r["preprocess"][tool]["rows_per_s_in_tool"] > 0
        assert r["train"][tool]["steady_tokens_per_s"] > 0
        assert r["train"][tool]["validation"], tool
        assert set(r["train"][tool]["validation"][-1]["targets"]) == {"event", "channel", "amount", "duration"}
        assert r["predict"][tool]["items_per_s"] > 0
        assert r["help"][tool]["median_s"] > 0
    assert r["train"]["seqjax"]["validation"][-1]["global_step"] == r["train"]["sequifier"]["validation"][-1]["global_step"]
    assert r["generate"]["sequifier_summary"]["items_per_s"] > 0
    assert 0 < r["train"]["seqjax"]["mfu"] < 1
