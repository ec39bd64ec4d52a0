"""Generation throughput (new items per second) with the KV cache and by recomputing every window.

    python benchmarks/generation_cache.py --context 256 --batch 32 --steps 64 --repeats 3

A random-init model (dim 128, 4 layers, 4 heads, 2 kv heads) over two categorical and two
real columns, on one CPU device. Both paths run seqjax.infer.generate over the same windows
(greedy): `cached` prefills once and decodes one item per step; `recompute` runs the whole
context for every new item, as tools without a cache do. Compilation is excluded (one warm-up
call each); the best of `repeats` timed calls counts. Writes benchmarks/generation_cache.json
and the "Generation: KV cache vs recomputation" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from seqjax.data.metadata import ColumnMeta, Metadata  # noqa: E402
from seqjax.infer.forward import Network  # noqa: E402
from seqjax.infer.generate import Window, generate, kept  # noqa: E402
from seqjax.infer.sample import SamplingArgs, row_keys  # noqa: E402
from seqjax.model import Model  # noqa: E402
from seqjax.spec import ModelSpec  # noqa: E402

SECTION = "## Generation: KV cache vs recomputation"
VOCAB = 48


def metadata(context: int) -> Metadata:
    columns = (
        ColumnMeta(name="event", kind="categorical", dtype="Int64", vocab=tuple(range(VOCAB))),
        ColumnMeta(name="channel", kind="categorical", dtype="Int64", vocab=tuple(range(8))),
        ColumnMeta(name="amount", kind="real", dtype="Float64"),
        ColumnMeta(name="duration", kind="real", dtype="Float64"),
    )
    return Metadata(
        fingerprint="bench", id_column="sequenceId", position_column="itemPosition", id_dtype="Int64",
        columns=columns, context=context, stride=context, format="arrayrecord", rows=0, splits={},
    )


def network(spec: ModelSpec, meta: Metadata) -> tuple[Network, nnx.State]:
    targets = tuple(c.name for c in meta.columns)
    with nnx.use_eager_sharding(False):
        model = Model(spec, meta, targets, rngs=nnx.Rngs(params=0, dropout=1))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), rest)
    return Network(graphdef, shapes, meta, targets, spec.dim), params


def windows(batch: int, context: int, seed: int = 0) -> Window:
    rng = np.random.default_rng(seed)
    cat = np.stack([rng.integers(2, VOCAB + 2, (batch, context)), rng.integers(2, 10, (batch, context))], axis=-1)
    return Window(jnp.asarray(cat, jnp.int32), jnp.asarray(rng.normal(size=(batch, context, 2)), jnp.float32), jnp.ones((batch, context), bool))


def timed(fn, repeats: int) -> tuple[float, float, tuple]:
    """(compile + first call seconds, best call seconds, output)."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return first, best, out


def measure(args) -> dict:
    spec = ModelSpec(dim=args.dim, layers=args.layers, heads=4, kv_heads=2)
    meta = metadata(args.context)
    net, params = network(spec, meta)
    window, keys, sampling = windows(args.batch, args.context), row_keys(0, np.arange(args.batch)), SamplingArgs.of()
    results, outputs = {}, {}
    for name, cached in (("cached", True), ("recompute", False)):
        fn = jax.jit(lambda p, w, k, s, cached=cached: generate(net, p, w, k, s, steps=args.steps, cached=cached))
        first, best, out = timed(lambda fn=fn: fn(params, window, keys, sampling), args.repeats)
        outputs[name] = out
        results[name] = {"seconds": round(best, 4), "items_per_s": round(args.batch * args.steps / best, 1), "first_call_s": round(first, 2)}
    same = bool(np.array_equal(np.asarray(outputs["cached"][0]), np.asarray(outputs["recompute"][0])))
    return {
        "model": {"dim": args.dim, "layers": args.layers, "heads": 4, "kv_heads": 2, "columns": "2 categorical + 2 real"},
        "context": args.context, "batch": args.batch, "new_items": args.steps, "kept_on_refresh": kept(args.context),
        "device": f"{jax.devices()[0].device_kind} ({jax.device_count()} device), {os.cpu_count()} cores, {platform.machine()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "speedup": round(results["recompute"]["seconds"] / results["cached"]["seconds"], 2),
        "same_greedy_items": same,
    }


def section(report: dict) -> str:
    r, m = report["results"], report["model"]
    lines = [
        SECTION,
        "",
        f"`python benchmarks/generation_cache.py` (defaults): model dim {m['dim']}, {m['layers']} layers, {m['heads']} heads / {m['kv_heads']} kv heads, "
        f"{m['columns']} columns; context {report['context']}, batch {report['batch']}, {report['new_items']} new items per sequence, greedy; "
        f"{report['device']}; load average {report['load_average']} (shared machine).",
        "",
        "| path | seconds (best) | new items / s |",
        "|---|---|---|",
        f"| KV cache (prefill + one decode step per item; re-prefill {report['kept_on_refresh']} items when full) | {r['cached']['seconds']} | {r['cached']['items_per_s']:,} |",
        f"| recompute the whole window per item | {r['recompute']['seconds']} | {r['recompute']['items_per_s']:,} |",
        "",
        f"Ratio: **{report['speedup']}x** more items per second with the cache; greedy items identical: {report['same_greedy_items']}.",
        "",
    ]
    return "\n".join(lines)


def update_results(path: pathlib.Path, text: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it), leaving other sections alone."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _: text + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    report = measure(args)
    print(json.dumps(report, indent=1))
    if not args.no_write:
        here = pathlib.Path(__file__).resolve().parent
        (here / "generation_cache.json").write_text(json.dumps(report, indent=1) + "\n")
        update_results(here / "RESULTS.md", section(report))


if __name__ == "__main__":
    main()
