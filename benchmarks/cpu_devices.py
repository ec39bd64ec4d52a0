"""The devices `seqjax` makes of a CPU-only host (seqjax/cpu.py): training and prediction with XLA's one
device against one single-threaded device per core, side by side in one run.

    python benchmarks/cpu_devices.py [--rounds 3] [--steps 120]

Data: tools/generate_data.py (4,000 sequences); model: dim 128, 2 layers, 4 heads, context 64, batch 64
(the "small" size of benchmarks/vs_sequifier.py). For each round, alternating the order, both settings run
(a) the jitted train step alone on a device-resident batch (benchmarks/mfu.py --step-time-spec) and
(b) the whole `seqjax train` command for `--steps` steps (steady tokens/s: the median of its metrics.jsonl
intervals after the first), then (c) `seqjax infer` (next-item prediction over the test split).
Medians over rounds; the 1-minute load average before and after each measurement is recorded.
Writes benchmarks/cpu_devices.json and the "CPU devices" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "cpu_devices"
SECTION = "## CPU devices"
SPEC = """name = "cpu-devices"
seed = 0
workdir = "{workdir}"
[data]
input = "{data}"
columns = [
  {{ name = "event", kind = "categorical" }},
  {{ name = "channel", kind = "categorical" }},
  {{ name = "amount", kind = "real" }},
  {{ name = "duration", kind = "real" }},
]
context = 64
stride = 64
[model]
dim = 128
layers = 2
heads = 4
[train]
targets = ["event", "channel", "amount", "duration"]
batch_size = 64
steps = {steps}
log_every = 10
eval_every = 100000
optimizer = {{ lr = 1e-3, weight_decay = 0.01, clip = 1.0 }}
[checkpoint]
every = 100000
[infer]
split = "test"
batch_size = 256
"""


def load() -> float:
    return os.getloadavg()[0]


def env_for(devices: str) -> dict:
    return {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {"SEQJAX_CPU_DEVICES": devices, "JAX_COMPILATION_CACHE_DIR": ""}


def flags_for(devices: str) -> str:
    """The XLA_FLAGS the command sets for this setting (the jitted-step child gets them directly)."""
    from seqjax import cpu

    environ = env_for(devices)
    cpu.configure(0, 64, False, environ=environ)
    return environ.get("XLA_FLAGS", "")


def run(command: list[str], env: dict) -> tuple[float, str, dict]:
    before, t = load(), time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t, proc.stdout, {"load_before": before, "load_after": load()}


def steady_tokens(metrics: pathlib.Path, tokens_per_step: int) -> float:
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    train = [r for r in lines if r.get("split") == "train" and "tokens_per_s" in r]
    return statistics.median(r["tokens_per_s"] for r in train[1:]) if len(train) > 1 else float("nan")


def measure(setting: str, devices: str, spec: pathlib.Path, steps: int) -> dict:
    python = sys.executable
    env = env_for(devices)
    step_env = {k: v for k, v in env.items() if k != "SEQJAX_CPU_DEVICES"} | {"XLA_FLAGS": flags_for(devices)}
    _, out, step_load = run([python, "benchmarks/mfu.py", "--step-time-spec", str(spec), "--json"], step_env)
    step = json.loads(out.strip().splitlines()[-1])
    workdir = WORK / f"run-{setting}"
    overrides = ["--set", f"workdir={str(workdir)!r}", "--no-progress"]
    subprocess.run([python, "-m", "seqjax.cli", "preprocess", str(spec), *overrides], cwd=ROOT, env=env, capture_output=True, check=True)
    train_s, _, train_load = run([python, "-m", "seqjax.cli", "train", str(spec), "--restart", *overrides], env)
    infer_s, _, infer_load = run([python, "-m", "seqjax.cli", "infer", str(spec), *overrides], env)
    return {
        "step_s": step["step_s"], "step_tokens_per_s": step["tokens_per_s"],
        "train_command_s": train_s, "train_steady_tokens_per_s": steady_tokens(workdir / "metrics.jsonl", 64 * 64),
        "infer_command_s": infer_s, "load": {"step": step_load, "train": train_load, "infer": infer_load},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from seqjax import cpu

    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / "data.parquet"
    if not data.exists():
        subprocess.run([sys.executable, "tools/generate_data.py", str(data), "--sequences", "4000"], cwd=ROOT, check=True, capture_output=True)
    spec = WORK / "spec.toml"
    spec.write_text(SPEC.format(workdir=WORK / "run", data=data, steps=args.steps))
    subprocess.run([sys.executable, "-m", "seqjax.cli", "preprocess", str(spec), "--no-progress"], cwd=ROOT, check=True, capture_output=True)
    cores = cpu.cores()
    settings = {"one device": "1", f"{cores} single-threaded devices": str(cores)}
    started, load_start = time.strftime("%Y-%m-%dT%H:%M:%S%z"), os.getloadavg()
    rounds = []
    for r in range(args.rounds):
        order = list(settings.items()) if r % 2 == 0 else list(settings.items())[::-1]
        rounds.append({name: measure(name.split()[0], devices, spec, args.steps) for name, devices in order})
        print(json.dumps(rounds[-1]), flush=True)
    names = list(settings)
    figures = ("step_tokens_per_s", "train_steady_tokens_per_s", "train_command_s", "infer_command_s")
    median = {n: {f: statistics.median(r[n][f] for r in rounds) for f in figures} for n in names}
    result = {"date": started, "cores": cores, "machine": platform.processor() or platform.machine(), "load_start": load_start,
              "load_end": os.getloadavg(), "rounds": rounds, "median": median, "steps": args.steps}
    (ROOT / "benchmarks" / "cpu_devices.json").write_text(json.dumps(result, indent=1))
    write_section(result, names)


def write_section(result: dict, names: list[str]) -> None:
    a, b = (result["median"][n] for n in names)
    rows = [
        ("jitted train step alone, tokens/s", "step_tokens_per_s", True),
        (f"`seqjax train` ({result['steps']} steps), steady tokens/s", "train_steady_tokens_per_s", True),
        ("`seqjax train` whole command, s", "train_command_s", False),
        ("`seqjax infer` (predict the test split) whole command, s", "infer_command_s", False),
    ]
    lines = [SECTION, "", f"Command: `python benchmarks/cpu_devices.py` ({len(result['rounds'])} rounds, order alternating; medians). "
             f"Date: {result['date']}. Machine: {result['machine']}, {result['cores']} cores, CPU only. Load average at start "
             f"{[round(x, 2) for x in result['load_start']]}, at end {[round(x, 2) for x in result['load_end']]}. "
             "Model: dim 128, 2 layers, 4 heads, context 64, batch 64; cold compilation cache in every command.", "",
             f"| figure | {names[0]} | {names[1]} | ratio |", "|---|---:|---:|---:|"]
    for label, key, higher in rows:
        ratio = b[key] / a[key] if higher else a[key] / b[key]
        lines.append(f"| {label} | {a[key]:,.1f} | {b[key]:,.1f} | {ratio:.2f}x |")
    lines += ["", "Ratio > 1: the per-core devices are faster. Raw numbers and per-measurement load: `benchmarks/cpu_devices.json`.", ""]
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text()
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + "\n".join(lines) + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    path.write_text(text)


if __name__ == "__main__":
    main()
