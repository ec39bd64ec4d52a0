"""Model FLOPs utilisation (MFU) of seqjax training against a matmul peak measured on the same device.

    python benchmarks/mfu.py --dim 256                 # train a dim-256 model for 200 steps, report MFU
    python benchmarks/mfu.py --ops-spec SPEC           # where the jitted train step of a preprocessed spec spends its time
    python benchmarks/mfu.py --flag-sweep-spec SPEC    # that step's time under several XLA CPU flags
    python benchmarks/mfu.py --peak-only --json        # only the measured matmul peak, as JSON

What is counted (training, per token; forward + backward = 3 x forward):
  flops/token = 6 * N_matmul + 12 * layers * context * dim
  N_matmul    = weights that take part in a matrix product:
                layers * (attention q, k, v, out + MLP) + output heads + the real-column input projection.
                Embedding tables (gathers) and norm scales (elementwise) are not matmuls and are left out.
  12 * layers * context * dim: the two attention products (q k^T and p v), 2 FLOPs per multiply-add,
                fwd + bwd, over the full context x context square (the causal half is not subtracted,
                as in the PaLM paper's MFU definition).
The peak is the best FLOP/s of jit-compiled float32 square matmuls (2 n^3 FLOPs) of a few sizes,
after warm-up, measured with jax in the same process on the same device.

`loop_breakdown()` splits one training step into its parts (input pipeline, host->device transfer,
the jitted step, reading metrics) to show where time goes when the MFU is low.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import pathlib
import statistics
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- FLOPs


def model_flops(
    *, dim: int, layers: int, heads: int, kv_heads: int, mlp_dim: int, swiglu: bool, context: int, head_outputs: int, real_inputs: int
) -> dict:
    """Matmul parameters and training FLOPs per token for a causal transformer of these sizes."""
    head_dim = dim // heads
    attention = dim * head_dim * (heads + 2 * kv_heads) + heads * head_dim * dim
    mlp = (3 if swiglu else 2) * dim * mlp_dim
    blocks = layers * (attention + mlp)
    outputs = dim * head_outputs
    inputs = real_inputs * dim
    n_matmul = blocks + outputs + inputs
    attention_term = 12 * layers * context * dim
    return {
        "matmul_params": n_matmul,
        "block_params": blocks,
        "head_params": outputs,
        "attention_flops_per_token": attention_term,
        "flops_per_token": 6 * n_matmul + attention_term,
        "formula": "6 * matmul_params + 12 * layers * context * dim",
    }


def spec_flops(spec, meta) -> dict:
    """`model_flops` for a seqjax spec and its preprocessing metadata."""
    from seqjax.spec import Mlp

    m = spec.model
    targets = [meta.column(t) for t in spec.train.targets]
    head_outputs = sum(c.vocab_size if c.kind == "categorical" else 1 for c in targets)
    return model_flops(
        dim=m.dim, layers=m.layers, heads=m.heads, kv_heads=m.num_kv_heads, mlp_dim=m.mlp_dim, swiglu=m.mlp == Mlp.SWIGLU,
        context=meta.context, head_outputs=head_outputs, real_inputs=len(meta.real),
    )


# ----------------------------------------------------------------------------- peak


def matmul_peak(sizes=(1024, 2048, 4096), repeats: int = 5, budget_s: float = 20.0) -> dict:
    """Best float32 matmul FLOP/s over `sizes` (jit-compiled, warmed up, best of `repeats`)."""
    import jax
    import jax.numpy as jnp

    by_size = {}
    f = jax.jit(lambda a, b: a @ b)
    for n in sizes:
        ka, kb = jax.random.split(jax.random.key(n))
        a = jax.random.normal(ka, (n, n), jnp.float32)
        b = jax.random.normal(kb, (n, n), jnp.float32)
        f(a, b).block_until_ready()  # compile
        f(a, b).block_until_ready()  # warm caches and threads
        best, start = float("inf"), time.perf_counter()
        for _ in range(repeats):
            t = time.perf_counter()
            f(a, b).block_until_ready()
            best = min(best, time.perf_counter() - t)
            if time.perf_counter() - start > budget_s / len(sizes):
                break
        by_size[n] = 2 * n**3 / best
    peak = max(by_size.values())
    return {
        "peak_flops_per_s": peak,
        "by_size": {str(n): v for n, v in by_size.items()},
        "device": str(jax.devices()[0]),
        "device_count": jax.device_count(),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
    }


# ----------------------------------------------------------------------------- reading seqjax metrics


def steady_tokens_per_s(metrics_path: pathlib.Path, eval_every: int, log_every: int) -> dict:
    """Median tokens/s of train log lines after the first interval, leaving out intervals that held an evaluation."""
    lines = [json.loads(x) for x in pathlib.Path(metrics_path).read_text().splitlines() if x.strip()]
    train = [x for x in lines if x.get("split") == "train" and "tokens_per_s" in x]
    steady = [x["tokens_per_s"] for x in train[1:] if (x["step"] - log_every) // eval_every == (x["step"] - 1) // eval_every]
    if not steady:
        steady = [x["tokens_per_s"] for x in train[1:]] or [x["tokens_per_s"] for x in train]
    return {
        "tokens_per_s": statistics.median(steady) if steady else None,
        "tokens_per_s_max": max(steady) if steady else None,
        "intervals": len(steady),
        "first_interval_tokens_per_s": train[0]["tokens_per_s"] if train else None,
    }


# ----------------------------------------------------------------------------- where a step's time goes


def loop_breakdown(spec, steps: int = 30) -> dict:
    """Seconds per step of each part of the training loop, measured one part at a time on the real pipeline.

    input: next(iterator) (grain: shuffle, per-window decode, batch); transfer: host -> device arrays;
    step: the jitted train step alone on a device-resident batch (blocked until done);
    metrics: device_get of one step's metrics dict.
    """
    import jax

    from seqjax.data import pipeline
    from seqjax.model import activate
    from seqjax.train.loop import Trainer

    trainer = Trainer(spec)
    with activate(trainer.mesh):
        iterator = pipeline.train_iterator(trainer.meta, trainer.data_dir, global_batch=spec.train.batch_size, seed=spec.seed)
        host = [next(iterator) for _ in range(3)]
        t = time.perf_counter()
        for _ in range(steps):
            host.append(next(iterator))
        input_s = (time.perf_counter() - t) / steps
        t = time.perf_counter()
        for b in host[:steps]:
            jax.block_until_ready(trainer.device_batch(b))
        transfer_s = (time.perf_counter() - t) / steps
        batch = trainer.device_batch(host[0])
        state = trainer.state
        state, metrics = trainer.train_step(state, trainer.rest, batch)  # compile
        jax.block_until_ready(metrics)
        for _ in range(3):
            state, metrics = trainer.train_step(state, trainer.rest, batch)
        jax.block_until_ready(metrics)
        t = time.perf_counter()
        for _ in range(steps):
            state, metrics = trainer.train_step(state, trainer.rest, batch)
        jax.block_until_ready(state)
        step_s = (time.perf_counter() - t) / steps
        t = time.perf_counter()
        for _ in range(steps):
            jax.device_get(metrics)
        metrics_s = (time.perf_counter() - t) / steps
        # the loop as train() runs it: pipeline + transfer + step, metrics read one step late
        t = time.perf_counter()
        pending = None
        for b in host[:steps]:
            state, m = trainer.train_step(state, trainer.rest, trainer.device_batch(b))
            if pending is not None:
                jax.device_get(pending)
            pending = m
        jax.device_get(pending)
        loop_resident_s = (time.perf_counter() - t) / steps
        # the same host->device transfers once the pipeline's reader threads are gone: the difference is
        # what those threads cost the main thread (GIL contention), not the copy itself
        threads = threading.active_count()
        del iterator
        gc.collect()
        time.sleep(0.5)
        t = time.perf_counter()
        for b in host[:steps]:
            jax.block_until_ready(trainer.device_batch(b))
        transfer_quiet_s = (time.perf_counter() - t) / steps
    tokens = spec.train.batch_size * trainer.meta.context
    return {
        "input_s": input_s,
        "transfer_s": transfer_s,
        "transfer_s_without_reader_threads": transfer_quiet_s,
        "threads_while_iterating": threads,
        "step_s": step_s,
        "metrics_s": metrics_s,
        "loop_with_prefetched_batches_s": loop_resident_s,
        "step_only_tokens_per_s": tokens / step_s,
        "tokens_per_step": tokens,
        "steps_timed": steps,
    }


def _op_category(name: str, op_name: str) -> str:
    if op_name.endswith("dot_general") or name.startswith(("dot", "onednn")):
        return "matmul (dot_general)"
    if name.startswith(("ynn_fusion", "xnn_fusion")):
        return "other library fusions (reductions)"
    if "transpose" in name or name.startswith("copy"):
        return "copy / transpose (layout changes)"
    if "scatter" in name or "gather" in name or "dynamic" in name:
        return "gather / scatter (embeddings, labels)"
    if "reduce" in name:
        return "reductions"
    return "elementwise fusions"


def op_profile(spec, steps: int = 10, top: int = 15) -> dict:
    """Where the jitted train step spends its time, by XLA op, from a jax.profiler trace of `steps` steps.

    Each op's time is summed over the threads that ran it; the HLO metadata names the jax operation
    an op came from (e.g. `transpose(jvp(jit(silu)))`: the backward pass of the MLP activation).
    """
    import collections
    import re
    import tempfile

    import jax

    from seqjax.data import pipeline
    from seqjax.model import activate
    from seqjax.train.loop import Trainer

    trainer = Trainer(spec)
    with activate(trainer.mesh):
        iterator = pipeline.train_iterator(trainer.meta, trainer.data_dir, global_batch=spec.train.batch_size, seed=spec.seed)
        batch = trainer.device_batch(next(iterator))
        compiled = trainer.train_step.lower(trainer.state, trainer.rest, batch).compile()
        hlo = compiled.as_text()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        state = trainer.state
        for _ in range(3):
            state, metrics = trainer.train_step(state, trainer.rest, batch)
        jax.block_until_ready(metrics)
        trace_dir = tempfile.mkdtemp(prefix="seqjax-trace-")
        t = time.perf_counter()
        jax.profiler.start_trace(trace_dir)
        for _ in range(steps):
            state, metrics = trainer.train_step(state, trainer.rest, batch)
        jax.block_until_ready(state)
        jax.profiler.stop_trace()
        wall = (time.perf_counter() - t) / steps
    op_names = dict(re.findall(r"%([\w.\-]+) = [^\n]*?op_name=\"([^\"]+)\"", hlo))
    path = sorted(pathlib.Path(trace_dir).rglob("*.xplane.pb"))[-1]
    data = jax.profiler.ProfileData.from_file(str(path))
    per_op, calls = collections.Counter(), collections.Counter()
    skip = ("ThunkExecutor", "SlinkyThreadPool", "Wait", "PjitFunction", "$")
    for plane in data.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                if event.name.startswith(skip) or " " in event.name:
                    continue
                per_op[event.name] += event.duration_ns
                calls[event.name] += 1
    total = sum(per_op.values()) or 1
    categories = collections.Counter()
    for name, ns in per_op.items():
        categories[_op_category(name, op_names.get(name, ""))] += ns
    return {
        "step_s_while_tracing": wall,
        "op_seconds_per_step": total / 1e9 / steps,
        "xla_flops_per_step": cost.get("flops"),
        "xla_bytes_accessed_per_step": cost.get("bytes accessed"),
        "categories": {k: v / total for k, v in categories.most_common()},
        "top_ops": [
            {"op": name, "share": ns / total, "ms_per_step": ns / 1e6 / steps, "from": op_names.get(name, "")}
            for name, ns in per_op.most_common(top)
        ],
    }


def step_time(spec, steps: int = 20) -> dict:
    """Seconds per jitted train step on a device-resident batch (no input pipeline), best of 3 runs of `steps`."""
    import jax

    from seqjax.data import pipeline
    from seqjax.model import activate
    from seqjax.train.loop import Trainer

    trainer = Trainer(spec)
    with activate(trainer.mesh):
        iterator = pipeline.train_iterator(trainer.meta, trainer.data_dir, global_batch=spec.train.batch_size, seed=spec.seed)
        batch = trainer.device_batch(next(iterator))
        state = trainer.state
        t = time.perf_counter()
        state, metrics = trainer.train_step(state, trainer.rest, batch)
        jax.block_until_ready(metrics)
        first = time.perf_counter() - t
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(steps):
                state, metrics = trainer.train_step(state, trainer.rest, batch)
            jax.block_until_ready(state)
            best = min(best, (time.perf_counter() - t) / steps)
    return {"step_s": best, "first_call_s": first, "tokens_per_s": spec.train.batch_size * trainer.meta.context / best}


FLAG_VARIANTS = {
    "default": "",
    "no YNNPACK fusions": "--xla_cpu_experimental_ynn_fusion_type=",
    "XNNPACK on": "--xla_cpu_use_xnnpack=true",
    "oneDNN on": "--xla_cpu_use_onednn=true",
    "fast math": "--xla_cpu_enable_fast_math=true",
    "single-threaded Eigen": "--xla_cpu_multi_thread_eigen=false",
}
"""XLA CPU settings tried by `flag_sweep` (a variant whose flag this jaxlib rejects is reported as such)."""


def flag_sweep(spec_path: pathlib.Path, variants: dict[str, str] = FLAG_VARIANTS) -> dict:
    """Step time of the same spec under each XLA_FLAGS variant, each in a fresh process."""
    import os
    import subprocess

    out = {}
    for name, flags in variants.items():
        env = dict(os.environ)
        env["XLA_FLAGS"] = " ".join(x for x in (os.environ.get("XLA_FLAGS", ""), flags) if x)
        proc = subprocess.run(
            [sys.executable, __file__, "--step-time-spec", str(spec_path), "--json"], capture_output=True, text=True, env=env
        )
        if proc.returncode == 0:
            out[name] = {"flags": flags, **json.loads(proc.stdout.strip().splitlines()[-1])}
        else:
            out[name] = {"flags": flags, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return out


# ----------------------------------------------------------------------------- a dim-N training run


def _generate(sequences: int, seed: int = 0):
    path = ROOT / "tools" / "generate_data.py"
    module_spec = importlib.util.spec_from_file_location("seqjax_generate_data", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.generate(sequences, seed)


def write_spec(workdir: pathlib.Path, data: pathlib.Path, *, dim: int, layers: int, heads: int, context: int, batch: int, steps: int, log_every: int) -> pathlib.Path:
    text = f"""name = "mfu-{dim}"
seed = 0
workdir = "{workdir / 'run'}"

[data]
input = "{data}"
columns = [
  {{ name = "event", kind = "categorical" }},
  {{ name = "channel", kind = "categorical" }},
  {{ name = "amount", kind = "real" }},
  {{ name = "duration", kind = "real" }},
]
context = {context}
stride = {context}
split = {{ by = "sequence", fractions = [0.9, 0.1, 0.0] }}

[model]
dim = {dim}
layers = {layers}
heads = {heads}

[train]
targets = ["event", "channel", "amount", "duration"]
batch_size = {batch}
steps = {steps}
optimizer = {{ lr = 1e-3, weight_decay = 0.01, clip = 1.0 }}
schedule = {{ kind = "constant" }}
eval_every = {steps}
eval_batches = 2
log_every = {log_every}

[checkpoint]
every = {steps}
keep = 1
"""
    path = workdir / "spec.toml"
    path.write_text(text)
    return path


def run(
    dim: int = 256, layers: int = 4, heads: int = 4, context: int = 64, batch: int = 64, steps: int = 200, log_every: int = 20,
    sequences: int = 10000, workdir: pathlib.Path | None = None, breakdown: bool = True,
) -> dict:
    """Train a seqjax model of these sizes on generated data and report tokens/s, FLOPs/token, MFU."""
    import shutil

    from seqjax import experiment
    from seqjax.spec import load_spec

    workdir = pathlib.Path(workdir or ROOT / "benchmarks" / ".work" / f"mfu-{dim}")
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    data = workdir / "events.parquet"
    frame = _generate(sequences)
    frame.write_parquet(data)
    spec = load_spec(write_spec(workdir, data, dim=dim, layers=layers, heads=heads, context=context, batch=batch, steps=steps, log_every=log_every))
    peak = matmul_peak()
    with contextlib.redirect_stdout(sys.stderr):  # seqjax's own progress lines; stdout carries the result
        experiment.preprocess(spec)
        t = time.perf_counter()
        experiment.train(spec, progress_bar=False)
        train_s = time.perf_counter() - t
    meta = spec.paths.metadata()
    flops = spec_flops(spec, meta)
    rate = steady_tokens_per_s(spec.workpath / "metrics.jsonl", spec.train.eval_every, spec.train.log_every)
    result = {
        "model": {"dim": dim, "layers": layers, "heads": heads, "mlp_dim": spec.model.mlp_dim, "context": context, "batch": batch, "steps": steps},
        "rows": frame.height,
        "train_wall_s": train_s,
        **rate,
        **flops,
        "peak": peak,
    }
    if rate["tokens_per_s"]:
        result["achieved_flops_per_s"] = rate["tokens_per_s"] * flops["flops_per_token"]
        result["mfu"] = result["achieved_flops_per_s"] / peak["peak_flops_per_s"]
    if breakdown:
        parts = loop_breakdown(spec)
        parts["step_only_mfu"] = parts["step_only_tokens_per_s"] * flops["flops_per_token"] / peak["peak_flops_per_s"]
        result["breakdown"] = parts
    return result


def describe(result: dict) -> str:
    m, peak = result["model"], result["peak"]
    lines = [
        f"model: dim {m['dim']}, {m['layers']} layers, {m['heads']} heads, mlp {m['mlp_dim']}, context {m['context']}, batch {m['batch']}, {m['steps']} steps",
        f"matmul parameters: {result['matmul_params']:,}; FLOPs/token ({result['formula']}): {result['flops_per_token']:,}",
        f"steady training: {result['tokens_per_s']:,.0f} tokens/s (median of {result['intervals']} log intervals)",
        f"achieved: {result.get('achieved_flops_per_s', 0) / 1e9:.2f} GFLOP/s",
        "measured matmul peak: {:.2f} GFLOP/s ({})".format(
            peak["peak_flops_per_s"] / 1e9, ", ".join(f"n={n}: {v / 1e9:.1f}" for n, v in peak["by_size"].items())
        ),
        f"MFU: {100 * result.get('mfu', 0):.1f}%",
    ]
    if "breakdown" in result:
        b = result["breakdown"]
        lines.append(
            "per step: input pipeline {:.1f} ms, host->device {:.1f} ms, jitted step {:.1f} ms, metrics read {:.2f} ms; "
            "loop with prefetched batches {:.1f} ms; host->device without the pipeline's {} reader threads alive {:.2f} ms".format(
                1e3 * b["input_s"], 1e3 * b["transfer_s"], 1e3 * b["step_s"], 1e3 * b["metrics_s"], 1e3 * b["loop_with_prefetched_batches_s"],
                b["threads_while_iterating"] - 1, 1e3 * b["transfer_s_without_reader_threads"],
            )
        )
        lines.append(f"step alone: {b['step_only_tokens_per_s']:,.0f} tokens/s = {100 * b['step_only_mfu']:.1f}% MFU")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--sequences", type=int, default=10000)
    parser.add_argument("--no-breakdown", action="store_true", help="skip the per-part timing of a step")
    parser.add_argument("--peak-only", action="store_true", help="measure only the matmul peak")
    parser.add_argument("--breakdown-spec", type=pathlib.Path, help="only time the parts of a training step for this (preprocessed) spec")
    parser.add_argument("--ops-spec", type=pathlib.Path, help="only profile the jitted train step of this (preprocessed) spec by XLA op")
    parser.add_argument("--step-time-spec", type=pathlib.Path, help="only time the jitted train step of this (preprocessed) spec")
    parser.add_argument("--flag-sweep-spec", type=pathlib.Path, help="only time that step under several XLA CPU flag settings")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)
    if args.flag_sweep_spec:
        result = flag_sweep(args.flag_sweep_spec)
        print(json.dumps(result) if args.json else "\n".join(
            f"{k:24s} {v.get('step_s', float('nan')) * 1e3:8.1f} ms/step  {v.get('tokens_per_s', 0):9.0f} tokens/s  {v.get('error', '')}" for k, v in result.items()
        ))
        return
    if args.breakdown_spec or args.ops_spec or args.step_time_spec:
        from seqjax.spec import load_spec

        if args.breakdown_spec:
            result = loop_breakdown(load_spec(args.breakdown_spec))
        elif args.ops_spec:
            result = op_profile(load_spec(args.ops_spec))
        else:
            result = step_time(load_spec(args.step_time_spec))
        print(json.dumps(result) if args.json else json.dumps(result, indent=1))
        return
    if args.peak_only:
        result = matmul_peak()
        print(json.dumps(result) if args.json else f"matmul peak: {result['peak_flops_per_s'] / 1e9:.2f} GFLOP/s {result['by_size']}")
        return
    result = run(
        args.dim, args.layers, args.heads, args.context, args.batch, args.steps, args.log_every, args.sequences, breakdown=not args.no_breakdown
    )
    print(json.dumps(result, indent=1) if args.json else describe(result))


if __name__ == "__main__":
    sys.exit(main())
