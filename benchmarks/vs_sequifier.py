"""seqjax against sequifier, side by side on the same data, machine and model size.

    .venv/bin/python benchmarks/vs_sequifier.py --size tiny|small|medium

One run: creates sequifier's environment (benchmarks/.venv-sequifier: torch CPU first, then
sequifier) if it is missing, generates one long-format dataset with tools/generate_data.py,
writes sequifier's YAML configs and seqjax's TOML spec for the same task, then measures for both:
CLI start-up (`--help`), preprocessing rows/s and peak memory, steady training tokens/s, warm-up,
whole-command times, validation loss per target at equal steps, next-item prediction windows/s,
generation items/s, and the model FLOPs utilisation of training against a matmul peak measured
with jax in the same run. Raw numbers go to benchmarks/vs_sequifier-<size>.json, a table to
this size's section of benchmarks/RESULTS.md. Work files live in benchmarks/.work/<size>/.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.util
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"


def _reexec_in_project_venv() -> None:
    """This script needs the project's environment (seqjax, polars, jax); switch to it if started elsewhere."""
    if importlib.util.find_spec("seqjax") is None and PROJECT_PYTHON.exists() and pathlib.Path(sys.executable) != PROJECT_PYTHON:
        os.execv(str(PROJECT_PYTHON), [str(PROJECT_PYTHON), *sys.argv])


_reexec_in_project_venv()
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
import mfu  # noqa: E402
import peer  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Size:
    sequences: int
    context: int
    dim: int
    layers: int
    heads: int
    batch: int
    epochs: int
    log_every: int
    gen_steps: tuple[int, int]
    """Items generated per sequence, in two runs (the difference gives a rate without fixed costs)."""
    lr: float = 1e-3
    min_rows: int = 0
    help_repeats: int = 3
    gen_fit_sequences: int = 400
    """Sequences the separate sequifier generation model is fitted on (its speed does not depend on its weights)."""


SIZES = {
    "tiny": Size(sequences=300, context=16, dim=32, layers=1, heads=2, batch=16, epochs=1, log_every=5, gen_steps=(4, 8), help_repeats=1, gen_fit_sequences=60),
    "small": Size(sequences=12000, context=64, dim=128, layers=2, heads=4, batch=64, epochs=2, log_every=20, gen_steps=(16, 64)),
    "medium": Size(sequences=58000, context=64, dim=128, layers=4, heads=4, batch=128, epochs=1, log_every=25, gen_steps=(8, 32), min_rows=4_000_000),
}

TARGETS = ["event", "channel", "amount", "duration"]


def say(text: str) -> None:
    print(text, flush=True)


def mlp_dim(dim: int) -> int:
    """seqjax's default SwiGLU width (mlp_ratio 4, 2/3 per branch, rounded to 8); sequifier gets the same."""
    return max(8, int(round(4.0 * dim * (2 / 3) / 8)) * 8)


# ----------------------------------------------------------------------------- data and configs


def generate_data(path: pathlib.Path, size: Size) -> dict:
    spec = importlib.util.spec_from_file_location("seqjax_generate_data", ROOT / "tools" / "generate_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sequences = size.sequences
    frame = module.generate(sequences, 0)
    while frame.height < size.min_rows:
        sequences = int(sequences * size.min_rows / frame.height) + 100
        frame = module.generate(sequences, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return {"rows": frame.height, "sequences": sequences, "path": str(path)}


def seqjax_spec(path: pathlib.Path, *, data: pathlib.Path, workdir: pathlib.Path, size: Size, steps: int, eval_every: int) -> None:
    columns = ",\n".join(f'  {{ name = "{c}", kind = "{k}" }}' for c, k in peer.COLUMNS.items())
    path.write_text(
        f"""name = "vs-sequifier"
seed = 0
workdir = "{workdir}"

[data]
input = "{data}"
columns = [
{columns},
]
context = {size.context}
stride = {size.context}
split = {{ by = "sequence", fractions = [0.8, 0.1, 0.1] }}

[model]
dim = {size.dim}
layers = {size.layers}
heads = {size.heads}
position = "rope"
norm = "rmsnorm"
mlp = "swiglu"
dropout = 0.0

[train]
targets = {json.dumps(TARGETS)}
batch_size = {size.batch}
steps = {steps}
optimizer = {{ lr = {size.lr}, weight_decay = 0.01, b1 = 0.9, b2 = 0.95, clip = 1.0 }}
schedule = {{ kind = "constant" }}
eval_every = {eval_every}
log_every = {size.log_every}

[checkpoint]
every = {eval_every}
keep = 1

[infer]
split = "test"
batch_size = 256
format = "parquet"
"""
    )


# ----------------------------------------------------------------------------- running


class Bench:
    def __init__(self, size_name: str, size: Size, work: pathlib.Path, max_load: float, load_wait: float):
        self.size_name, self.size, self.work = size_name, size, work
        self.max_load, self.load_wait = max_load, load_wait
        self.sq = work / "sequifier"
        self.sj = work / "seqjax"
        self.logs = work / "logs"
        self.results: dict = {"steps": {}}

    def run(self, label: str, argv, *, cwd=None, watch=None, quiet: bool = True) -> measure.Measured:
        if quiet:
            measure.wait_for_quiet(self.max_load, self.load_wait, say)
        say(f"- {label}: {' '.join(map(str, argv))}")
        m = measure.run(argv, cwd=cwd, watch=watch, log=self.logs / f"{label}.log")
        say(f"  {m.wall_s:.1f} s, peak RSS {m.peak_rss_mb:,.0f} MB, load {m.load_before[0]:.2f} -> {m.load_after[0]:.2f}, others' CPU {100 * m.foreign_cpu_share:.0f}%")
        self.results["steps"][label] = m.asdict()
        if m.returncode != 0:
            say(m.stdout_tail[-3000:])
        return m

    def seqjax(self, label: str, args: list[str], **kw) -> tuple[measure.Measured, dict]:
        timing = self.logs / f"{label}.timing.json"
        m = self.run(label, [sys.executable, str(HERE / "seqjax_cli.py"), str(timing), "--", *args], cwd=self.sj, **kw)
        t = json.loads(timing.read_text()) if timing.exists() else {}
        self.results["steps"][label].update(t)
        return m, t

    def sequifier(self, label: str, args: list[str], **kw) -> measure.Measured:
        return self.run(label, [str(peer.bin_path("sequifier")), *args], cwd=self.sq, **kw)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def rows_in(text: str) -> int | None:
    m = re.findall(r"\(([\d,]+) rows\)", text)
    return int(m[-1].replace(",", "")) if m else None


def parquet_rows(paths) -> int:
    import polars as pl

    return sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in paths)


def benchmark(size_name: str, args) -> dict:
    size = SIZES[size_name]
    work = HERE / ".work" / size_name
    if work.exists():
        shutil.rmtree(work)
    b = Bench(size_name, size, work, args.max_load, args.load_wait)
    for d in (b.sq / "data", b.sq / "configs", b.sj, b.logs):
        d.mkdir(parents=True, exist_ok=True)
    # seqjax keeps compiled programs between commands; start from an empty cache so warm-up is a first run's
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(work / "jax-cache")
    r = b.results
    started = time.time()
    r["command"] = f".venv/bin/python benchmarks/vs_sequifier.py --size {size_name}" + (" --sequifier-compile" if args.sequifier_compile else "")
    r["date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    r["machine"] = machine()
    peer.ensure_venv(say)
    r["versions"] = {**seqjax_versions(), "peer": peer.versions()}
    r["size"] = {"name": size_name, **dataclasses.asdict(size), "mlp_dim": mlp_dim(size.dim)}

    say(f"generating data ({size.sequences:,} sequences) ...")
    data = b.sq / "data" / "events.parquet"
    r["data"] = generate_data(data, size)
    rows = r["data"]["rows"]
    say(f"  {rows:,} rows")

    peak = measure_peak(b)
    r["peak"] = peak

    # --- CLI start-up
    helps = {"seqjax": [], "sequifier": []}
    for _ in range(size.help_repeats):
        helps["seqjax"].append(b.run("help-seqjax", [str(ROOT / ".venv" / "bin" / "seqjax"), "--help"]).wall_s)
        helps["sequifier"].append(b.run("help-sequifier", [str(peer.bin_path("sequifier")), "--help"]).wall_s)
    r["help"] = {k: {"median_s": median(v), "all_s": v} for k, v in helps.items()}

    # --- preprocessing
    (b.sq / "configs" / "preprocess.yaml").write_text(peer.preprocess_yaml(data="data/events.parquet", context=size.context, stride=size.context))
    m = b.sequifier("preprocess-sequifier", ["preprocess", "--config-path", "configs/preprocess.yaml"])
    check(m)
    sq_pre_in = peer.log_span(m.stdout_tail if len(m.stdout_tail) < 4000 else (b.logs / "preprocess-sequifier.log").read_text(), "Starting Preprocessing", "Preprocessing Complete")
    metadata = "configs/metadata_configs/events.json"
    sq_windows = {s: parquet_rows([b.sq / "data" / f"events-split{s}.parquet"]) // len(peer.COLUMNS) for s in range(3)}
    steps_per_epoch = -(-sq_windows[0] // size.batch)  # sequifier's loader keeps the last, partial batch
    steps = steps_per_epoch * size.epochs
    spec = b.sj / "spec.toml"
    seqjax_spec(spec, data=data, workdir=b.sj / "run", size=size, steps=steps, eval_every=steps_per_epoch)
    m2, t2 = b.seqjax("preprocess-seqjax", ["preprocess", str(spec)])
    check(m2)
    sj_meta = json.loads((b.sj / "run" / "data" / "metadata.json").read_text())
    r["preprocess"] = {
        "sequifier": {"wall_s": m.wall_s, "in_tool_s": sq_pre_in, "peak_rss_mb": m.peak_rss_mb, "peak_pss_mb": m.peak_pss_mb, "windows": sq_windows},
        "seqjax": {"wall_s": m2.wall_s, "in_tool_s": t2.get("call_s"), "peak_rss_mb": m2.peak_rss_mb, "peak_pss_mb": m2.peak_pss_mb,
                   "windows": {k: v["windows"] for k, v in sj_meta["splits"].items()}},
    }
    for tool in ("sequifier", "seqjax"):
        p = r["preprocess"][tool]
        p["rows_per_s_in_tool"] = rows / p["in_tool_s"] if p["in_tool_s"] else None
        p["rows_per_s_command"] = rows / p["wall_s"]

    # --- training (equal steps: sequifier trains whole epochs, seqjax gets the same number of steps)
    tokens_per_step = size.batch * size.context
    (b.sq / "configs" / "train.yaml").write_text(
        peer.train_yaml(name="bench", metadata=metadata, context=size.context, batch=size.batch, dim=size.dim, layers=size.layers, heads=size.heads,
                        mlp_dim=mlp_dim(size.dim), lr=size.lr, epochs=size.epochs, prediction_length=size.context, log_interval=size.log_every)
    )
    sq_csv = b.sq / "logs" / "bench" / "bench-training-full.csv"
    m = b.sequifier("train-sequifier", ["train", "--config-path", "configs/train.yaml"], watch=lambda: sq_csv.exists() and sq_csv.stat().st_size > 400)
    check(m)
    sq_rows = peer.training_rows(b.sq, "bench")
    sq_rate = peer.steady_tokens_per_s(sq_rows, tokens_per_step)
    sq_valid = peer.validation_losses(b.sq, "bench")
    sq_steps = sq_rows[-1]["global_step"] if sq_rows else None
    if sq_rows and sq_steps != steps:
        say(f"  note: sequifier ran {sq_steps} steps, {steps} expected; seqjax gets {sq_steps}")
        steps, steps_per_epoch = sq_steps, sq_rows[-1]["batches_total"]
        seqjax_spec(spec, data=data, workdir=b.sj / "run", size=size, steps=steps, eval_every=steps_per_epoch)
    metrics_path = b.sj / "run" / "metrics.jsonl"
    m2, t2 = b.seqjax("train-seqjax", ["train", str(spec), "--no-progress"], watch=lambda: metrics_path.exists() and '"train"' in metrics_path.read_text())
    check(m2)
    sj_rate = mfu.steady_tokens_per_s(metrics_path, steps_per_epoch, size.log_every)
    sj_lines = [json.loads(x) for x in metrics_path.read_text().splitlines() if x.strip()]
    sj_valid = [{"global_step": x["step"], "total": x["loss"], "targets": {k: v["loss"] for k, v in x["targets"].items()}} for x in sj_lines if x.get("split") == "valid"]
    flops = mfu.model_flops(
        dim=size.dim, layers=size.layers, heads=size.heads, kv_heads=size.heads, mlp_dim=mlp_dim(size.dim), swiglu=True, context=size.context,
        head_outputs=sum(len(c.get("vocab", [])) + 2 if c["kind"] == "categorical" else 1 for c in sj_meta["columns"] if c["name"] in TARGETS),
        real_inputs=sum(c["kind"] == "real" for c in sj_meta["columns"]),
    )
    r["flops"] = flops
    r["train"] = {"steps": steps, "steps_per_epoch": steps_per_epoch, "tokens_per_step": tokens_per_step}
    for tool, mm, rate, valid, first_step in (
        ("sequifier", m, sq_rate, sq_valid, sq_rows[0]["global_step"] if sq_rows else size.log_every),
        ("seqjax", m2, sj_rate, sj_valid, size.log_every),
    ):
        tps = rate["tokens_per_s"]
        warm = mm.first_seen_s - first_step * tokens_per_step / tps if (mm.first_seen_s and tps) else None
        r["train"][tool] = {
            "wall_s": mm.wall_s, "steady_tokens_per_s": tps, "tokens_per_s_max": rate.get("tokens_per_s_max"), "intervals": rate.get("intervals"),
            "first_log_s": mm.first_seen_s, "warmup_s": warm, "peak_rss_mb": mm.peak_rss_mb, "cpu_s": mm.cpu_s,
            "mfu": tps * flops["flops_per_token"] / peak["peak_flops_per_s"] if tps else None,
            "validation": valid,
        }
    if args.sequifier_compile:
        (b.sq / "configs" / "train-compiled.yaml").write_text(
            peer.train_yaml(name="compiled", metadata=metadata, context=size.context, batch=size.batch, dim=size.dim, layers=size.layers, heads=size.heads,
                            mlp_dim=mlp_dim(size.dim), lr=size.lr, epochs=size.epochs, prediction_length=size.context, log_interval=size.log_every, compile="outer")
        )
        csv2 = b.sq / "logs" / "compiled" / "compiled-training-full.csv"
        mc = b.sequifier("train-sequifier-compiled", ["train", "--config-path", "configs/train-compiled.yaml"], watch=lambda: csv2.exists() and csv2.stat().st_size > 400)
        check(mc)
        rows_c = peer.training_rows(b.sq, "compiled")
        rate_c = peer.steady_tokens_per_s(rows_c, tokens_per_step)
        tps = rate_c["tokens_per_s"]
        r["train"]["sequifier_compiled"] = {
            "wall_s": mc.wall_s, "steady_tokens_per_s": tps, "first_log_s": mc.first_seen_s,
            "warmup_s": mc.first_seen_s - rows_c[0]["global_step"] * tokens_per_step / tps if (mc.first_seen_s and tps and rows_c) else None,
            "peak_rss_mb": mc.peak_rss_mb, "validation": peer.validation_losses(b.sq, "compiled"),
        }

    # --- sequifier's generation model: autoregression needs prediction_length 1, so a second model of the
    # same architecture is fitted on a few sequences (inference speed does not depend on the weights)
    import polars as pl

    fit = pl.read_parquet(data)
    ids = fit.get_column("sequenceId").unique(maintain_order=True).head(size.gen_fit_sequences)
    fit.filter(pl.col("sequenceId").is_in(ids.implode())).write_parquet(b.sq / "data" / "genfit.parquet")
    del fit
    (b.sq / "configs" / "preprocess-genfit.yaml").write_text(
        peer.preprocess_yaml(data="data/genfit.parquet", context=size.context, stride=size.context, metadata=metadata)
    )
    check(b.sequifier("genfit-preprocess-sequifier", ["preprocess", "--config-path", "configs/preprocess-genfit.yaml"], quiet=False))
    (b.sq / "configs" / "train-gen.yaml").write_text(
        peer.train_yaml(name="gen", metadata="configs/metadata_configs/genfit.json", context=size.context, batch=size.batch, dim=size.dim, layers=size.layers,
                        heads=size.heads, mlp_dim=mlp_dim(size.dim), lr=size.lr, epochs=1, prediction_length=1, log_interval=size.log_every, evaluation=False)
    )
    check(b.sequifier("genfit-train-sequifier", ["train", "--config-path", "configs/train-gen.yaml"], quiet=False))
    gen_model = peer.newest(b.sq, "models/gen-last-*.onnx") or peer.newest(b.sq, "models/gen-*.onnx")
    gen_model = str(gen_model.relative_to(b.sq))

    # --- next-item prediction after every window of the training split (the largest split: fixed costs weigh least)
    (b.sq / "configs" / "infer.yaml").write_text(peer.infer_yaml(model=gen_model, data="data/events-split0.parquet", metadata=metadata))
    m = b.sequifier("predict-sequifier", ["infer", "--config-path", "configs/infer.yaml"])
    check(m)
    text = (b.logs / "predict-sequifier.log").read_text()
    sq_pred_rows = parquet_rows(sorted((b.sq / "outputs" / "predictions").rglob("*.parquet")))
    m2, t2 = b.seqjax("predict-seqjax", ["infer", str(spec), "--no-progress", "--set", 'infer.split="train"'])
    check(m2)
    sj_pred_rows = rows_in((b.logs / "predict-seqjax.log").read_text())
    r["predict"] = {
        "sequifier": {"wall_s": m.wall_s, "in_tool_s": peer.log_span(text, "Starting Inference", "Inference Complete"), "rows": sq_pred_rows, "peak_rss_mb": m.peak_rss_mb},
        "seqjax": {"wall_s": m2.wall_s, "in_tool_s": t2.get("call_s"), "rows": sj_pred_rows, "peak_rss_mb": m2.peak_rss_mb},
    }
    for p in r["predict"].values():
        p["items_per_s"] = p["rows"] / p["in_tool_s"] if p["rows"] and p["in_tool_s"] else None
        p["items_per_s_command"] = p["rows"] / p["wall_s"] if p["rows"] else None

    # --- generation: new items per sequence, greedy, from each test sequence; run at two lengths so the
    # marginal rate (extra items / extra seconds) leaves out fixed costs (start-up, model load, compilation)
    r["generate"] = {"steps": list(size.gen_steps), "sequifier": [], "seqjax": []}
    for steps_n in size.gen_steps:
        shutil.rmtree(b.sq / "outputs", ignore_errors=True)
        (b.sq / "configs" / "infer-generate.yaml").write_text(
            peer.infer_yaml(model=gen_model, data="data/events-split2.parquet", metadata=metadata, generation_steps=steps_n)
        )
        m = b.sequifier(f"generate{steps_n}-sequifier", ["infer", "--config-path", "configs/infer-generate.yaml"])
        check(m)
        text = (b.logs / f"generate{steps_n}-sequifier.log").read_text()
        r["generate"]["sequifier"].append({
            "steps": steps_n, "wall_s": m.wall_s, "in_tool_s": peer.log_span(text, "Starting Inference", "Inference Complete"),
            "rows": parquet_rows(sorted((b.sq / "outputs" / "predictions").rglob("*.parquet"))), "peak_rss_mb": m.peak_rss_mb,
        })
        m2, t2 = b.seqjax(f"generate{steps_n}-seqjax", ["infer", str(spec), "--no-progress", "--set", 'infer.mode="generate"', "--set", f"infer.steps={steps_n}"])
        if m2.returncode != 0:
            error = m2.stdout_tail.strip().splitlines()[-1] if m2.stdout_tail.strip() else f"exit code {m2.returncode}"
            r["generate"]["seqjax"].append({"steps": steps_n, "pending": True, "error": error})
            say(f"  seqjax generation unavailable: {error}")
            continue
        r["generate"]["seqjax"].append({
            "steps": steps_n, "wall_s": m2.wall_s, "in_tool_s": t2.get("call_s"), "rows": rows_in((b.logs / f"generate{steps_n}-seqjax.log").read_text()),
            "peak_rss_mb": m2.peak_rss_mb,
        })
    for tool in ("sequifier", "seqjax"):
        runs = r["generate"][tool]
        for p in runs:
            if p.get("rows") and p.get("in_tool_s"):
                p["items_per_s"] = p["rows"] / p["in_tool_s"]
                p["items_per_s_command"] = p["rows"] / p["wall_s"]
        ok = [p for p in runs if p.get("items_per_s")]
        summary = {"pending": any(p.get("pending") for p in runs)}
        if ok:
            summary.update(items_per_s=ok[-1]["items_per_s"], wall_s=ok[-1]["wall_s"], steps=ok[-1]["steps"])
        if len(ok) >= 2 and ok[-1]["in_tool_s"] > ok[0]["in_tool_s"]:
            summary["marginal_items_per_s"] = (ok[-1]["rows"] - ok[0]["rows"]) / (ok[-1]["in_tool_s"] - ok[0]["in_tool_s"])
        r["generate"][f"{tool}_summary"] = summary

    # --- where seqjax's training step spends its time
    if args.profile:
        say("- profile of seqjax's training loop (benchmarks/mfu.py --breakdown-spec)")
        measure.wait_for_quiet(args.max_load, args.load_wait, say)
        out = subprocess.run(
            [sys.executable, str(HERE / "mfu.py"), "--breakdown-spec", str(spec), "--json"], capture_output=True, text=True, cwd=b.sj
        )
        if out.returncode == 0:
            r["seqjax_step_breakdown"] = json.loads(out.stdout.strip().splitlines()[-1])
            bd = r["seqjax_step_breakdown"]
            bd["step_only_mfu"] = bd["step_only_tokens_per_s"] * flops["flops_per_token"] / peak["peak_flops_per_s"]
        else:
            r["seqjax_step_breakdown"] = {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}

    # the peak again at the end; the best of the two is the reference (a busy machine only lowers it)
    again = measure_peak(b)
    r["peak_runs"] = [peak["peak_flops_per_s"], again["peak_flops_per_s"]]
    if again["peak_flops_per_s"] > peak["peak_flops_per_s"]:
        for tool in ("seqjax", "sequifier", "sequifier_compiled"):
            if tool in r["train"] and r["train"][tool].get("mfu"):
                r["train"][tool]["mfu"] *= peak["peak_flops_per_s"] / again["peak_flops_per_s"]
        if r.get("seqjax_step_breakdown", {}).get("step_only_mfu"):
            r["seqjax_step_breakdown"]["step_only_mfu"] *= peak["peak_flops_per_s"] / again["peak_flops_per_s"]
        r["peak"] = again
    r["total_wall_s"] = time.time() - started
    r["load_end"] = measure.loadavg()
    return r


def measure_peak(b: Bench) -> dict:
    measure.wait_for_quiet(b.max_load, b.load_wait, say)
    say("- matmul peak with jax (benchmarks/mfu.py --peak-only)")
    peak = json.loads(subprocess.run([sys.executable, str(HERE / "mfu.py"), "--peak-only", "--json"], capture_output=True, text=True, check=True).stdout)
    peak["load"] = measure.loadavg()
    say(f"  {peak['peak_flops_per_s'] / 1e9:.1f} GFLOP/s")
    return peak


def check(m: measure.Measured) -> None:
    if m.returncode != 0:
        raise SystemExit(f"{' '.join(m.argv)} failed with exit code {m.returncode}; see benchmarks/.work/*/logs/")


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = 0
    try:
        mem = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))) / 1024**2
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "platform": platform.platform(), "load_start": measure.loadavg(),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    }


def seqjax_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("seqjax", "jax", "jaxlib", "flax", "optax", "grain", "polars"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    try:
        out["seqjax_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "seqjax"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        out["seqjax_tree"] = "modified" if dirty else "clean"
    except OSError:
        pass
    return out


# ----------------------------------------------------------------------------- report


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def table(r: dict) -> list[tuple[str, object, object, str]]:
    """(figure, seqjax, sequifier, better) rows."""
    pre, tr, pr, ge = r["preprocess"], r["train"], r["predict"], r["generate"]
    rows = [
        ("`--help` start-up, s (median)", r["help"]["seqjax"]["median_s"], r["help"]["sequifier"]["median_s"], "lower"),
        ("preprocess rows/s, in tool", pre["seqjax"]["rows_per_s_in_tool"], pre["sequifier"]["rows_per_s_in_tool"], "higher"),
        ("preprocess rows/s, whole command", pre["seqjax"]["rows_per_s_command"], pre["sequifier"]["rows_per_s_command"], "higher"),
        ("preprocess whole command, s", pre["seqjax"]["wall_s"], pre["sequifier"]["wall_s"], "lower"),
        ("preprocess peak RSS of the process tree, MB", pre["seqjax"]["peak_rss_mb"], pre["sequifier"]["peak_rss_mb"], "lower"),
        ("preprocess peak PSS of the process tree, MB", pre["seqjax"]["peak_pss_mb"], pre["sequifier"]["peak_pss_mb"], "lower"),
        ("train steady tokens/s", tr["seqjax"]["steady_tokens_per_s"], tr["sequifier"]["steady_tokens_per_s"], "higher"),
        ("train start-up + compile before steady state, s", tr["seqjax"]["warmup_s"], tr["sequifier"]["warmup_s"], "lower"),
        (f"train whole command ({tr['steps']} steps, evals, checkpoints, export), s", tr["seqjax"]["wall_s"], tr["sequifier"]["wall_s"], "lower"),
        ("train peak RSS, MB", tr["seqjax"]["peak_rss_mb"], tr["sequifier"]["peak_rss_mb"], "lower"),
        ("train MFU, % of measured matmul peak", pct(tr["seqjax"]["mfu"]), pct(tr["sequifier"]["mfu"]), "higher"),
    ]
    sj_last = tr["seqjax"]["validation"][-1] if tr["seqjax"]["validation"] else None
    sq_last = tr["sequifier"]["validation"][-1] if tr["sequifier"]["validation"] else None
    if sj_last and sq_last:
        rows.append((f"valid loss, total (sum of targets) at step {sj_last['global_step']} / {sq_last['global_step']}", sj_last["total"], sq_last["total"], "lower"))
        for t in TARGETS:
            kind = "CE" if peer.COLUMNS[t] == "categorical" else "MSE, standardised"
            rows.append((f"valid loss {t} ({kind})", sj_last["targets"].get(t), sq_last["targets"].get(t), "lower"))
    rows += [
        ("predict next item: windows/s, in tool", pr["seqjax"]["items_per_s"], pr["sequifier"]["items_per_s"], "higher"),
        ("predict whole command, s", pr["seqjax"]["wall_s"], pr["sequifier"]["wall_s"], "lower"),
    ]
    sj, sq = ge["seqjax_summary"], ge["sequifier_summary"]
    n = sq.get("steps")
    if sj.get("pending") and not sj.get("items_per_s"):
        rows.append((f"generate {n} items per sequence: items/s, in tool", "pending", sq.get("items_per_s"), "higher"))
    else:
        rows += [
            (f"generate {n} items per sequence: items/s, in tool", sj.get("items_per_s"), sq.get("items_per_s"), "higher"),
            (f"generate: marginal items/s ({ge['steps'][0]} -> {ge['steps'][-1]} items per sequence)", sj.get("marginal_items_per_s"), sq.get("marginal_items_per_s"), "higher"),
            (f"generate {n} items per sequence: whole command, s", sj.get("wall_s"), sq.get("wall_s"), "lower"),
        ]
    return rows


def pct(x):
    return None if x is None else 100 * x


def targets_met(r: dict) -> list[str]:
    pre, tr, ge = r["preprocess"], r["train"], r["generate"]
    out = []
    x = ratio(pre["seqjax"]["rows_per_s_in_tool"], pre["sequifier"]["rows_per_s_in_tool"])
    out.append(f"preprocessing >= 20x sequifier's rows/s (in tool): {fmt(x)}x, {'met' if x and x >= 20 else 'missed'}")
    x = ratio(tr["seqjax"]["steady_tokens_per_s"], tr["sequifier"]["steady_tokens_per_s"])
    out.append(f"training >= 2x sequifier's steady tokens/s: {fmt(x)}x, {'met' if x and x >= 2 else 'missed'}")
    sj, sq = tr["seqjax"]["validation"], tr["sequifier"]["validation"]
    if sj and sq:
        worse = [t for t in TARGETS if sj[-1]["targets"].get(t, 0) > sq[-1]["targets"].get(t, 0)]
        verdict = "met" if sj[-1]["total"] <= sq[-1]["total"] and not worse else f"missed ({'total ' if sj[-1]['total'] > sq[-1]['total'] else ''}{', '.join(worse)} worse)"
        out.append(f"validation loss no worse at equal steps: total {fmt(sj[-1]['total'])} vs {fmt(sq[-1]['total'])}, {verdict}")
    sj, sq = ge["seqjax_summary"], ge["sequifier_summary"]
    if sj.get("pending") and not sj.get("items_per_s"):
        out.append("generation >= 10x sequifier's items/s: pending (seqjax generation not available in this tree)")
    else:
        x = ratio(sj.get("items_per_s"), sq.get("items_per_s"))
        y = ratio(sj.get("marginal_items_per_s"), sq.get("marginal_items_per_s"))
        out.append(f"generation >= 10x sequifier's items/s: {fmt(x)}x in tool, {fmt(y)}x marginal; {'met' if x and x >= 10 else 'missed'} (in tool), {'met' if y and y >= 10 else 'missed'} (marginal)")
    return out


def markdown(r: dict) -> str:
    s, m, v = r["size"], r["machine"], r["versions"]
    tr = r["train"]
    lines = [
        f"## seqjax vs sequifier: {s['name']}",
        "",
        f"Command: `{r['command']}` (total {r['total_wall_s'] / 60:.1f} min). Date: {r['date']}. "
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, CPU only. "
        f"Load average (1/5/15 min) at start {m['load_start']}, at end {r['load_end']}.",
        "",
        f"Versions: seqjax {v.get('seqjax')} (commit {v.get('seqjax_commit')}, working tree {v.get('seqjax_tree')}), jax {v.get('jax')}, flax {v.get('flax')}, "
        f"Python {v.get('python')}; sequifier {v['peer']['sequifier']}, torch {v['peer']['torch']}, onnxruntime {v['peer']['onnxruntime']}.",
        "",
        f"Data: {r['data']['rows']:,} rows, {r['data']['sequences']:,} sequences (tools/generate_data.py, seed 0); columns event, channel "
        f"(categorical), amount, duration (real); all four are inputs and targets. Split 0.8/0.1/0.1 by sequence (seeded hash in each tool).",
        f"Model (both): dim {s['dim']}, {s['layers']} layers, {s['heads']} heads (MHA), SwiGLU {s['mlp_dim']}, RMSNorm pre-norm, RoPE, no dropout; "
        f"context {s['context']}, stride {s['context']}, batch {s['batch']}, {tr['steps']} optimizer steps ({s['epochs']} sequifier epoch(s) of "
        f"{tr['steps_per_epoch']} steps; validation after each); AdamW lr {s['lr']} constant, betas (0.9, 0.95), weight decay 0.01, clip 1.0; "
        f"loss on every position of each window. sequifier: torch_compile none, ONNX export at the end of training (in its whole-command time).",
        f"FLOPs/token ({r['flops']['formula']}): {r['flops']['flops_per_token']:,} ({r['flops']['matmul_params']:,} matmul parameters); "
        f"matmul peak measured with jax in the same run: {r['peak']['peak_flops_per_s'] / 1e9:.1f} GFLOP/s (float32).",
        "",
        "| figure | seqjax | sequifier | seqjax/sequifier | better |",
        "|---|---:|---:|---:|---|",
    ]
    for name, a, b, better in table(r):
        lines.append(f"| {name} | {fmt(a)} | {fmt(b)} | {fmt(ratio(a, b) if not isinstance(a, str) and not isinstance(b, str) else None)} | {better} |")
    if "sequifier_compiled" in tr:
        c = tr["sequifier_compiled"]
        lines += ["", f"sequifier with `torch_compile: outer` (its default): steady {fmt(c['steady_tokens_per_s'])} tokens/s, "
                  f"start-up + compile {fmt(c['warmup_s'])} s, whole command {fmt(c['wall_s'])} s."]
    bd = r.get("seqjax_step_breakdown")
    if bd and "step_s" in bd:
        lines += ["", "seqjax step breakdown (mfu.loop_breakdown, same spec): input pipeline {:.1f} ms, host->device {:.1f} ms "
                  "({:.2f} ms once the pipeline's {} reader threads are gone), jitted step alone {:.1f} ms "
                  "({} tokens/s, {:.0f}% MFU), metrics read {:.2f} ms, loop over prefetched batches {:.1f} ms per step.".format(
                      1e3 * bd["input_s"], 1e3 * bd["transfer_s"], 1e3 * bd.get("transfer_s_without_reader_threads", float("nan")),
                      bd.get("threads_while_iterating", 1) - 1, 1e3 * bd["step_s"], fmt(bd["step_only_tokens_per_s"]), 100 * bd.get("step_only_mfu", 0),
                      1e3 * bd["metrics_s"], 1e3 * bd["loop_with_prefetched_batches_s"])]
    lines += ["", "Targets:", ""] + [f"- {t}" for t in targets_met(r)]
    lines += ["", "Load during each measurement (1-min load average before -> after; share of CPU used by other processes):", ""]
    for label, st in r["steps"].items():
        lines.append(f"- {label}: {st['load_before'][0]} -> {st['load_after'][0]}; others {100 * st['foreign_cpu_share']:.0f}%")
    lines += ["", f"Raw numbers: `benchmarks/vs_sequifier-{s['name']}.json`."]
    return "\n".join(lines) + "\n"


def update_results(section: str, key: str, path: pathlib.Path = HERE / "RESULTS.md") -> None:
    """Replace this size's block between its markers, keeping every other section of the file."""
    begin, end = f"<!-- vs_sequifier:{key}:begin -->", f"<!-- vs_sequifier:{key}:end -->"
    block = f"{begin}\n{section}{end}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--sequifier-compile", action="store_true", help="also train sequifier with torch.compile (its default) and report it")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the breakdown of seqjax's training step")
    parser.add_argument("--max-load", type=float, default=2.0, help="wait before each measurement until the 1-minute load average is below this")
    parser.add_argument("--load-wait", type=float, default=120.0, help="seconds to wait for that at most (then measure anyway and record the load)")
    parser.add_argument("--no-results", action="store_true", help="write the JSON only, leave RESULTS.md alone")
    parser.add_argument("--json", type=pathlib.Path, help="where the raw numbers go (default benchmarks/vs_sequifier-<size>.json)")
    args = parser.parse_args(argv)
    r = benchmark(args.size, args)
    out = args.json or HERE / f"vs_sequifier-{args.size}.json"
    out.write_text(json.dumps(r, indent=1, default=str))
    section = markdown(r)
    if not args.no_results:
        update_results(section, args.size)
    say("")
    say(section)
    say(f"raw numbers: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
