"""Preprocess a table larger than one bucket (default 50 M rows) with worker processes, in bounded memory.

    python benchmarks/preprocess_scale.py --rows 50000000 --workers 2

Writes parquet part files of about 2 M rows each (tools/generate_data.py, one seed and id offset
per file, so the generator never holds more than one part; --shuffle interleaves ids across parts
and shuffles rows), then runs `preprocess` in a child process while polling /proc every 0.2 s for
the resident memory of that process and all of its descendants (the worker processes), summed.
Figures go to benchmarks/preprocess_scale.json under "sorted" or "shuffled"; the data lives under
benchmarks/.work/ and is deleted afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
SEQUENCES_PER_PART = 28_600
"""About 2 M rows: lengths are uniform in [20, 120]."""

CHILD = """
import json, pathlib, sys, time
import seqjax.preprocess as package
from seqjax.spec import ColumnKind, ColumnSpec, DataSpec, PreprocessSpec
args = json.loads(sys.argv[1])
columns = tuple(ColumnSpec(name=n, kind=ColumnKind(k)) for n, k in args["columns"])
spec = DataSpec(input=args["input"], columns=columns, context=args["context"], stride=args["stride"])
summaries = []
original = package.build_folder
def recording(*a, **k):
    out = original(*a, **k)
    summaries.append(out[1])
    return out
package.build_folder = recording  # keep the run's Summary (phase times, buckets)
start = time.perf_counter()
data = package.preprocess(spec, pathlib.Path(args["workdir"]), seed=0, options=PreprocessSpec(workers=args["workers"], buckets=args["buckets"]))
seconds = time.perf_counter() - start
s = summaries[0]
meta = json.loads((data / "metadata.json").read_text())
print("RESULT " + json.dumps({
    "seconds": seconds, "read_seconds": s.read_seconds, "learn_seconds": s.learn_seconds, "buckets": s.buckets,
    "workers": s.workers, "rows": s.rows, "sequences": s.sequences,
    "windows": {k: v["windows"] for k, v in meta["splits"].items()},
    "shards": sum(len(v["files"]) for v in meta["splits"].values()),
    "output_bytes": sum(p.stat().st_size for p in data.iterdir()),
}))
"""


def generator():
    spec = importlib.util.spec_from_file_location("generate_data", ROOT / "tools" / "generate_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(folder: pathlib.Path, rows: int, shuffle: bool) -> tuple[int, int]:
    """Part files until at least `rows` rows; returns (rows, parts). Ids are offset so parts never share a sequence.

    With `shuffle`, ids are scrambled (times an odd constant mod 2**31: still unique) so every part spans
    the whole id range, and rows are shuffled within each part: no file or row group can be skipped.
    """
    import polars as pl

    gen = generator()
    folder.mkdir(parents=True, exist_ok=True)
    total, part = 0, 0
    while total < rows:
        frame = gen.generate(SEQUENCES_PER_PART, seed=part)
        frame = frame.with_columns(pl.col("sequenceId") + part * SEQUENCES_PER_PART)
        if shuffle:
            frame = frame.with_columns(pl.col("sequenceId") * 2654435761 % 2**31).sample(fraction=1.0, shuffle=True, seed=part)
        frame.write_parquet(folder / f"part-{part:04d}.parquet")
        total += frame.height
        part += 1
        print(f"generated part {part}: {total:,} rows", flush=True)
    return total, part


def _tree(root: int) -> list[int]:
    """`root` and all of its descendants, from the parent ids in /proc/*/stat."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _memory(pid: int) -> tuple[int, int]:
    """Resident set size and proportional set size (shared pages split between sharers) in bytes; 0 once gone."""
    try:
        rss = int(pathlib.Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        rollup = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        pss = next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
    except (OSError, IndexError, ValueError, StopIteration):
        return 0, 0
    return rss, pss


def run_preprocess(args: argparse.Namespace, data: pathlib.Path, workdir: pathlib.Path) -> dict:
    payload = {
        "input": str(data),
        "workdir": str(workdir),
        "columns": [["event", "categorical"], ["channel", "categorical"], ["amount", "real"], ["duration", "real"]],
        "context": args.context,
        "stride": args.stride,
        "workers": args.workers,
        "buckets": args.buckets,
    }
    command = [sys.executable, "-c", CHILD, json.dumps(payload)]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    peak_rss = peak_pss = peak_main = peak_one = processes = 0
    loads = []
    while child.poll() is None:
        pids = _tree(child.pid)
        each = [_memory(pid) for pid in pids]
        rss, pss = sum(m[0] for m in each), sum(m[1] for m in each)
        peak_rss, peak_pss, processes = max(peak_rss, rss), max(peak_pss, pss), max(processes, len(pids))
        peak_main = max(peak_main, each[0][0])
        peak_one = max([peak_one, *(m[0] for m in each[1:])])
        loads.append(os.getloadavg()[0])
        time.sleep(0.2)
    wall = time.perf_counter() - start
    output = child.stdout.read()
    print(output, end="")
    if child.returncode:
        raise SystemExit(f"preprocess failed with exit code {child.returncode}")
    result = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    return {
        **result,
        "wall_seconds": wall,
        "peak_rss_bytes": peak_rss,
        "peak_pss_bytes": peak_pss,
        "peak_main_rss_bytes": peak_main,
        "peak_worker_rss_bytes": peak_one,
        "processes": processes,
        "load_average_during": sum(loads) / max(len(loads), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--buckets", type=int, default=0, help="0 picks from the input size")
    parser.add_argument("--context", type=int, default=32)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "benchmarks" / ".work" / "preprocess-scale")
    parser.add_argument("--output", type=pathlib.Path, default=ROOT / "benchmarks" / "preprocess_scale.json")
    parser.add_argument("--shuffle", action="store_true", help="ids interleaved across parts, rows shuffled")
    parser.add_argument("--keep", action="store_true", help="keep the generated input and the shards")
    args = parser.parse_args()
    data, workdir = args.work / "input", args.work / "run"
    shutil.rmtree(args.work, ignore_errors=True)
    try:
        start = time.perf_counter()
        rows, parts = generate(data, args.rows, args.shuffle)
        generate_seconds = time.perf_counter() - start
        input_bytes = sum(p.stat().st_size for p in data.iterdir())
        uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        measured = run_preprocess(args, data, workdir)
        uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    finally:
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    import polars as pl

    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "memory_bytes": os.sysconf("SC_PHYS_PAGES") * PAGE, "python": platform.python_version(), "polars": pl.__version__},
        "uptime_before": uptime_before,
        "uptime_after": uptime_after,
        "input": {"rows": rows, "parts": parts, "bytes": input_bytes, "generate_seconds": generate_seconds, "columns": 4, "shuffled": args.shuffle},
        "settings": {"context": args.context, "stride": args.stride, "format": "arrayrecord", "workers": args.workers, "buckets": args.buckets},
        **measured,
        "rows_per_second": measured["rows"] / measured["seconds"],
        "peak_rss_gib": measured["peak_rss_bytes"] / 2**30,
    }
    runs = json.loads(args.output.read_text())["runs"] if args.output.exists() else {}
    runs["shuffled" if args.shuffle else "sorted"] = report  # the other kind of run stays
    args.output.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("wall_seconds", "rows_per_second", "peak_rss_gib", "buckets", "workers")}, indent=1))


if __name__ == "__main__":
    main()
