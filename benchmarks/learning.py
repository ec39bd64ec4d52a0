"""Validation loss of seqjax and sequifier at equal steps, per target, on generated data of different structure.

    .venv/bin/python benchmarks/learning.py --data markov [--data hidden ...] [--set model.dim=64 ...] [--label NAME]

For each `--data` generator (benchmarks/generators.py) one dataset is generated (seeded), then both tools
train the same model with the same settings for the same number of steps (by default one sequifier epoch)
and report the validation loss of every target on the same validation sequences. Timing is not measured.

Comparability:
- One split: seqjax preprocesses first; its assignment of sequences to train/valid/test (its
  `sequences-<split>.parquet`) is written into a `split` column that sequifier reads with
  `split_method: value_cutoff`, so both tools train and validate on the same sequences.
- The same items: every sequence holds `k * context + 1` items, so windows of `context + 1` items with
  stride `context` tile it exactly and no window is padded; both tools count every item of a validation
  sequence but its first, once (the window counts of both tools are checked to be equal).
- The same units: cross-entropy (nats) for categorical targets; MSE of reals standardised with the
  train split's mean and standard deviation (each tool's own statistics, compared in the output).
- The same loss: both sum each target's per-item loss over valid items, divide by their count, and add
  the targets with weight 1.

sequifier runs with one torch thread (OMP_NUM_THREADS=1 unless set): on a busy 2-core machine two threads
made it about 10x slower, and the thread count does not change what it learns. Its side is cached under
benchmarks/.work/learning/ by its data and config, so a seqjax change re-runs only seqjax. Results are
added to benchmarks/learning.json under `<data>/<label>`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
if pathlib.Path(sys.executable) != PROJECT_PYTHON and PROJECT_PYTHON.exists():
    os.execv(str(PROJECT_PYTHON), [str(PROJECT_PYTHON), *sys.argv])
sys.path.insert(0, str(HERE))

import generators  # noqa: E402
import peer  # noqa: E402

TARGETS = list(peer.COLUMNS)
WORK = HERE / ".work" / "learning"
RESULTS = HERE / "learning.json"


def settings(args) -> dict:
    """The task both tools get (defaults: dim 64, 2 layers, 4 heads, learned positions, dropout 0.1, no clipping)."""
    return {
        "sequences": args.sequences, "seed": args.seed, "context": args.context, "dim": args.dim, "layers": args.layers, "heads": args.heads,
        "mlp_dim": max(8, int(round(4.0 * args.dim * (2 / 3) / 8)) * 8), "batch": args.batch, "lr": args.lr, "weight_decay": 0.01,
        "dropout": args.dropout, "position": args.position, "clip": 0.0, "epochs": 1,
    }


def say(text: str) -> None:
    print(text, flush=True)


def run(argv: list, log: pathlib.Path, cwd: pathlib.Path, env: dict | None = None) -> float:
    start = time.time()
    with log.open("w") as out:
        code = subprocess.run([str(a) for a in argv], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if code:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({code}); see {log}\n" + log.read_text()[-3000:])
    return time.time() - start


def seqjax_spec(path: pathlib.Path, *, data: pathlib.Path, workdir: pathlib.Path, s: dict, steps: int) -> None:
    columns = ",\n".join(f'  {{ name = "{c}", kind = "{k}" }}' for c, k in peer.COLUMNS.items())
    path.write_text(
        f"""name = "learning"
seed = {s['seed']}
workdir = "{workdir}"

[data]
input = "{data}"
columns = [
{columns},
]
context = {s['context']}
stride = {s['context']}
split = {{ by = "sequence", fractions = [0.8, 0.1, 0.1] }}

[model]
dim = {s['dim']}
layers = {s['layers']}
heads = {s['heads']}
position = "{s['position']}"
norm = "rmsnorm"
mlp = "swiglu"
dropout = {s['dropout']}

[train]
targets = {json.dumps(TARGETS)}
batch_size = {s['batch']}
steps = {steps}
optimizer = {{ lr = {s['lr']}, weight_decay = {s['weight_decay']}, b1 = 0.9, b2 = 0.95, clip = {s['clip']} }}
schedule = {{ kind = "constant" }}
eval_every = {steps}
log_every = {max(1, steps // 10)}

[checkpoint]
every = {steps}
keep = 1
"""
    )


def prepare(name: str, s: dict) -> dict:
    """Data, seqjax's preprocessing and split, sequifier's preprocessing on the same split (each once per dataset)."""
    import polars as pl

    key = hashlib.sha256(json.dumps({"data": name, "sequences": s["sequences"], "seed": s["seed"], "context": s["context"]}).encode()).hexdigest()[:10]
    work = WORK / f"{name}-{key}"
    done = work / "prepared.json"
    if done.exists():
        return json.loads(done.read_text())
    if work.exists():
        import shutil

        shutil.rmtree(work)
    (work / "sequifier" / "data").mkdir(parents=True)
    (work / "sequifier" / "configs").mkdir(parents=True)
    (work / "logs").mkdir()
    say(f"[{name}] generating {s['sequences']:,} sequences (seed {s['seed']}) ...")
    frame = generators.GENERATORS[name](s["sequences"], s["seed"], s["context"])
    data = work / "data.parquet"
    frame.write_parquet(data)

    say(f"[{name}] seqjax preprocess ...")
    spec = work / "preprocess.toml"
    seqjax_spec(spec, data=data, workdir=work / "seqjax-data", s=s, steps=1)
    run([ROOT / ".venv" / "bin" / "seqjax", "preprocess", spec], work / "logs" / "preprocess-seqjax.log", work)
    folder = work / "seqjax-data" / "data"
    split_of = pl.concat(
        [pl.read_parquet(folder / f"sequences-{split}.parquet").select(pl.col("sequenceId"), pl.lit(k, pl.Int64).alias("split"))
         for k, split in enumerate(("train", "valid", "test"))]
    )
    frame.join(split_of, on="sequenceId", how="left").write_parquet(work / "sequifier" / "data" / "events.parquet")

    say(f"[{name}] sequifier preprocess ...")
    (work / "sequifier" / "configs" / "preprocess.yaml").write_text(
        peer.preprocess_yaml(data="data/events.parquet", context=s["context"], stride=s["context"], split_column="split")
    )
    run([peer.bin_path("sequifier"), "preprocess", "--config-path", "configs/preprocess.yaml"], work / "logs" / "preprocess-sequifier.log", work / "sequifier")
    meta = json.loads((folder / "metadata.json").read_text())
    sq_meta = json.loads((work / "sequifier" / "configs" / "metadata_configs" / "events.json").read_text())
    sq_windows = {split: pl.scan_parquet(work / "sequifier" / "data" / f"events-split{k}.parquet").select(pl.len()).collect().item() // len(TARGETS)
                  for k, split in enumerate(("train", "valid", "test"))}
    sj_windows = {k: v["windows"] for k, v in meta["splits"].items()}
    if sq_windows != sj_windows:
        raise SystemExit(f"window counts differ: sequifier {sq_windows}, seqjax {sj_windows}")
    info = {
        "work": str(work), "data": str(data), "rows": frame.height, "windows": sj_windows,
        "statistics": {
            "seqjax": {c["name"]: [c["mean"], c["std"]] for c in meta["columns"] if c["kind"] == "real"},
            "sequifier": {c: [sq_meta["selected_columns_statistics"][c]["mean"], sq_meta["selected_columns_statistics"][c]["std"]] for c in TARGETS if peer.COLUMNS[c] == "real"},
        },
    }
    done.write_text(json.dumps(info, indent=1))
    return info


def sequifier_run(name: str, s: dict, prep: dict) -> dict:
    """Train sequifier for one epoch (cached by its config); its validation losses and step count."""
    work = pathlib.Path(prep["work"])
    project = work / "sequifier"
    config = peer.train_yaml(
        name="learn", metadata="configs/metadata_configs/events.json", context=s["context"], batch=s["batch"], dim=s["dim"], layers=s["layers"],
        heads=s["heads"], mlp_dim=s["mlp_dim"], lr=s["lr"], epochs=s["epochs"], prediction_length=s["context"], log_interval=100, seed=s["seed"],
        position=s["position"], dropout=s["dropout"], clip=s["clip"], weight_decay=s["weight_decay"], export=False,
    )
    key = hashlib.sha256(config.encode()).hexdigest()[:10]
    cached = work / f"sequifier-{key}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    say(f"[{name}] sequifier train ({s['epochs']} epoch) ...")
    (project / "configs" / "train.yaml").write_text(config)
    for old in (project / "logs" / "learn",):
        if old.exists():
            import shutil

            shutil.rmtree(old)
    wall = run([peer.bin_path("sequifier"), "train", "--config-path", "configs/train.yaml"], work / "logs" / "train-sequifier.log", project,
               env={**os.environ, "SEQUIFIER_PREVENT_EXPORT": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    valid = peer.validation_losses(project, "learn")
    rows = peer.training_rows(project, "learn")
    result = {"steps": rows[-1]["global_step"] if rows else None, "valid": valid[-1], "wall_s": wall, "config_key": key}
    cached.write_text(json.dumps(result, indent=1))
    return result


def seqjax_run(name: str, s: dict, prep: dict, steps: int, overrides: list[str], label: str) -> dict:
    work = pathlib.Path(prep["work"])
    run_dir = work / "seqjax" / label
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    spec = run_dir / "spec.toml"
    seqjax_spec(spec, data=pathlib.Path(prep["data"]), workdir=run_dir / "run", s=s, steps=steps)
    # reuse the preprocessed shards: same inputs and settings, so seqjax's own fingerprint accepts them
    import shutil

    shutil.copytree(work / "seqjax-data" / "data", run_dir / "run" / "data")
    say(f"[{name}] seqjax train {steps} steps ({label}{': ' + ' '.join(overrides) if overrides else ''}) ...")
    argv = [ROOT / ".venv" / "bin" / "seqjax", "train", spec, "--no-progress"]
    for o in overrides:
        argv += ["--set", o]
    wall = run(argv, run_dir / "train.log", run_dir)
    lines = [json.loads(x) for x in (run_dir / "run" / "metrics.jsonl").read_text().splitlines() if x.strip()]
    valid = [x for x in lines if x.get("split") == "valid"][-1]
    return {
        "steps": valid["step"], "wall_s": wall,
        "valid": {"total": valid["loss"], "targets": {k: v["loss"] for k, v in valid["targets"].items()}},
        "items": {k: v.get("targets") for k, v in valid["targets"].items()},
    }


def table(name: str, sj: dict, sq: dict) -> str:
    lines = [f"{name}: seqjax step {sj['steps']}, sequifier step {sq['steps']}", "| target | seqjax | sequifier | seqjax/sequifier |", "|---|---:|---:|---:|"]
    for t in TARGETS + ["total"]:
        a = sj["valid"]["total"] if t == "total" else sj["valid"]["targets"][t]
        b = sq["valid"]["total"] if t == "total" else sq["valid"]["targets"][t]
        lines.append(f"| {t} | {a:.4f} | {b:.4f} | {a / b:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", choices=sorted(generators.GENERATORS), help="generator(s); default all")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="seqjax spec override (key=value), e.g. model.dim=64")
    parser.add_argument("--label", default="default", help="name of this seqjax variant in benchmarks/learning.json")
    parser.add_argument("--steps", type=int, default=0, help="seqjax steps; 0 = sequifier's (one epoch)")
    parser.add_argument("--sequences", type=int, default=53600, help="sequences per dataset (53,600: one epoch is about 1,676 steps of 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context", type=int, default=32)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--position", default="learned", choices=["learned", "rope"])
    parser.add_argument("--no-record", action="store_true", help="print only; leave benchmarks/learning.json alone")
    args = parser.parse_args(argv)
    peer.ensure_venv(say)
    s = settings(args)
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(WORK / "jax-cache"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "seqjax"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
    command = "benchmarks/learning.py " + " ".join(a if " " not in a else repr(a) for a in (argv if argv is not None else sys.argv[1:]))
    for name in args.data or sorted(generators.GENERATORS):
        prep = prepare(name, s)
        sq = sequifier_run(name, s, prep)
        sj = seqjax_run(name, s, prep, args.steps or sq["steps"], args.overrides, args.label)
        say(table(name, sj, sq))
        say(f"  validation items per target (seqjax; sequifier's are the same windows): {sj['items']}; real statistics {prep['statistics']}")
        if not args.no_record:
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
            results[f"{name}/{args.label}"] = {
                "command": command, "overrides": args.overrides, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "seqjax_commit": commit + ("+modified" if dirty else ""), "settings": s, "windows": prep["windows"], "statistics": prep["statistics"],
                "seqjax": sj, "sequifier": sq,
            }
            tmp = RESULTS.with_name(RESULTS.name + ".tmp")
            tmp.write_text(json.dumps(dict(sorted(results.items())), indent=1))
            os.replace(tmp, RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
