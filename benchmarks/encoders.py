"""Every encoder family on one answer per sequence: the bundled labelled task and three UCR datasets.

    .venv/bin/python benchmarks/encoders.py                          # all datasets, all families
    .venv/bin/python benchmarks/encoders.py --datasets ArrowHead --families transformer,aggregate --steps 200

Data: tools/generate_data.py's labelled variant, and ArrowHead, OSULeaf (fixed length) and
PickupGestureWiimoteZ (variable length) as shipped in the aeon 1.6.0 wheel (`aeon/datasets/data/`),
with their official train/test splits (a fifth of each train split, by a seeded hash, validates).
The published 1-NN DTW accuracies (full warping window) come from the tsml-eval 0.6.0 wheel
(`tsml_eval/publications/2023/tsc_bakeoff/results/distance/1NN-DTW_accuracy.csv`, resample 0); both
wheels are downloaded with `pip download --no-deps` into benchmarks/.work/wheels, not installed. 1-NN
Euclidean and DTW are also computed here (benchmarks/ucr.py), which checks the published numbers and
gives the ones no shipped file has. Each run is `seqjax run` on a generated spec; figures go to
benchmarks/encoders.json and the "Encoders" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time
import zipfile

import numpy as np
import polars as pl

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "encoders"
WHEELS = HERE / ".work" / "wheels"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tools"))

import ucr  # noqa: E402

UCR = ("ArrowHead", "OSULeaf", "PickupGestureWiimoteZ")
AEON, TSML = "aeon==1.6.0", "tsml-eval==0.6.0"
PUBLISHED = "tsml_eval/publications/2023/tsc_bakeoff/results/distance/1NN-DTW_accuracy.csv"

FAMILIES = {
    "aggregate": ('{ kind = "aggregate" }', '{ kind = "last" }'),
    "decay": ('{ kind = "decay", rate = 0.05 }', '{ kind = "last" }'),
    "positional": ('{ kind = "positional" }', '{ kind = "last" }'),
    "attention": ('{ kind = "attention" }', '{ kind = "last" }'),
    "cnn": ('{ kind = "cnn", kernel = 7 }', '{ kind = "mean" }'),
    "rnn": ('{ kind = "rnn", cell = "gru", bidirectional = true }', '{ kind = "mean" }'),
    "transformer": ('{ kind = "transformer", causal = false }', '{ kind = "attention" }'),
}
"""family -> (model.encoder, model.pooling): each with its natural pooling."""

SPEC = """
name = "{name}"
seed = 0
workdir = "run-{family}"

[data]
input = "items.parquet"
columns = [{columns}]
labels = "labels.parquet"
label_columns = [{{ name = "label", kind = "categorical" }}]
{static}
max_length = {max_length}
split = {{ by = "sequence", fractions = [0.8, 0.2, 0.0] }}

[model]
dim = {dim}
layers = {layers}
heads = 4
kv_heads = 4
dropout = {dropout}
encoder = {encoder}
pooling = {pooling}

[train]
objective = {{ kind = "sequence" }}
targets = ["label"]
batch_size = {batch}
steps = {steps}
optimizer = {{ lr = {lr}, weight_decay = 0.05, clip = 1.0 }}
schedule = {{ kind = "cosine", warmup = {warmup} }}
eval_every = {eval_every}
select = "valid.loss"
early_stopping = {{ patience = {patience} }}

[checkpoint]
every = {eval_every}
keep = 1

[infer]
split = "test"
batch_size = 64
"""


def say(text: str) -> None:
    print(text, flush=True)


def wheel(requirement: str) -> pathlib.Path:
    """The wheel of `requirement` in benchmarks/.work/wheels, downloaded (without dependencies) if missing."""
    name = requirement.split("==")[0].replace("-", "_")
    found = sorted(WHEELS.glob(f"{name}-*.whl"))
    if not found:
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(WHEELS), requirement], check=True)
        found = sorted(WHEELS.glob(f"{name}-*.whl"))
    return found[-1]


def ucr_folder(name: str) -> pathlib.Path:
    """The dataset's .ts files, extracted from the aeon wheel."""
    folder = WORK / "ucr" / name
    if not folder.exists():
        with zipfile.ZipFile(wheel(AEON)) as archive:
            for member in archive.namelist():
                if member.startswith(f"aeon/datasets/data/{name}/{name}_"):
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / pathlib.Path(member).name).write_bytes(archive.read(member))
    return folder


def published_dtw() -> dict[str, float]:
    with zipfile.ZipFile(wheel(TSML)) as archive:
        text = archive.read(PUBLISHED).decode()
    rows = list(csv.reader(io.StringIO(text)))
    return {r[0]: float(r[1]) for r in rows[1:] if r and r[0] in UCR}


def prepare(name: str, folder: pathlib.Path) -> dict:
    """Write items.parquet and labels.parquet (with the official split) into `folder`; the 1-NN figures."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "bundled":
        import generate_data

        items, labels = generate_data.generate_labelled(2000, 0)
        order = np.random.default_rng(0).permutation(labels.height)
        split = np.empty(labels.height, object)
        split[order[:1280]], split[order[1280:1600]], split[order[1600:]] = "train", "valid", "test"
        labels = labels.with_columns(split=pl.Series(split.tolist(), dtype=pl.String))
        items.write_parquet(folder / "items.parquet")
        labels.write_parquet(folder / "labels.parquet")
        return {"sequences": labels.height, "train": 1600, "test": 400, "classes": labels["label"].n_unique(), "static": True}
    data = ucr.load(name, ucr_folder(name))
    items = pl.concat([data["train_items"], data["test_items"]])
    train = data["train_labels"].with_columns(split=pl.lit("train"))
    valid = _valid(train)
    labels = pl.concat([train.with_columns(split=pl.when(pl.col("sequenceId").is_in(valid)).then(pl.lit("valid")).otherwise(pl.lit("train"))),
                        data["test_labels"].with_columns(split=pl.lit("test"))])  # fmt: skip
    items.write_parquet(folder / "items.parquet")
    labels.write_parquet(folder / "labels.parquet")
    lengths = items.group_by("sequenceId").len()["len"]
    started = time.perf_counter()
    equal = lengths.n_unique() == 1
    figures = {
        "sequences": labels.height, "train": data["train_labels"].height, "test": data["test_labels"].height, "classes": labels["label"].n_unique(),
        "length_min": int(lengths.min()), "length_max": int(lengths.max()), "static": False,
        "ed_1nn": ucr.euclidean_1nn(data) if equal else None,
    }  # fmt: skip
    figures["dtw_1nn_full"] = ucr.dtw_1nn(data)
    figures["baseline_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _valid(train: pl.DataFrame) -> list[int]:
    """A fifth of the official train split, by a seeded hash of the id, validates (early stopping, best checkpoint)."""
    rng = np.random.default_rng(0)
    ids = train["sequenceId"].to_numpy()
    return ids[rng.permutation(len(ids))[: max(1, len(ids) // 5)]].tolist()


def settings(name: str, figures: dict, steps: int) -> dict:
    if name == "bundled":
        return dict(columns='{ name = "event", kind = "categorical" }, { name = "amount", kind = "real" }',
                    static='static = [{ name = "segment", kind = "categorical" }]', max_length=128, dim=64, layers=2, dropout=0.0,
                    batch=32, steps=steps or 600, lr=3e-3, warmup=50, eval_every=100, patience=3)  # fmt: skip
    return dict(columns='{ name = "value", kind = "real" }', static="", max_length=max(figures["length_max"], 8), dim=64, layers=2, dropout=0.1,
                batch=16, steps=steps or 800, lr=1e-3, warmup=50, eval_every=50, patience=6)  # fmt: skip


def run_family(folder: pathlib.Path, name: str, family: str, config: dict) -> dict:
    encoder, pooling = FAMILIES[family]
    (folder / f"{family}.toml").write_text(SPEC.format(name=name, family=family, encoder=encoder, pooling=pooling, **config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_")}
    started = time.perf_counter()
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "seqjax"), "run", str(folder / f"{family}.toml"), "--no-progress", "--restart"],
                            capture_output=True, text=True, env=env)  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}", "seconds": round(seconds, 1)}
    run = folder / f"run-{family}"
    quality = json.loads((run / "predictions" / "test-quality.json").read_text())["targets"]["label"]
    with np.load(run / "export" / "weights.npz") as weights:
        parameters = int(sum(v.size for v in weights.values()))
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    best = [m for m in metrics if m.get("split") == "valid"]
    return {
        "accuracy": quality["accuracy"], "balanced_accuracy": quality["balanced_accuracy"], "log_loss": quality["log_loss"],
        "baseline_accuracy": quality["baseline_accuracy"], "parameters": parameters, "seconds": round(seconds, 1),
        "steps": max((m["step"] for m in metrics), default=None), "evaluations": len(best),
    }  # fmt: skip


def table(results: dict, published: dict) -> str:
    families = list(FAMILIES)
    lines = ["| dataset | " + " | ".join(families) + " | 1-NN ED | 1-NN DTW (ours) | 1-NN DTW (published) | most frequent class |",
             "|---|" + "---:|" * (len(families) + 4)]  # fmt: skip
    for name, entry in results.items():
        cells = []
        for f in families:
            r = entry["families"].get(f, {})
            cells.append(f"{r['accuracy']:.3f}" if "accuracy" in r else ("error" if "error" in r else ""))
        base = next((r["baseline_accuracy"] for r in entry["families"].values() if "baseline_accuracy" in r), None)
        fig = entry["data"]
        cells += [f"{fig['ed_1nn']:.3f}" if fig.get("ed_1nn") is not None else "n/a", f"{fig['dtw_1nn_full']:.3f}" if fig.get("dtw_1nn_full") is not None else "n/a",
                  f"{published[name]:.3f}" if name in published else "not published", f"{base:.3f}" if base is not None else ""]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Training time (whole `seqjax run`, s) and parameters per family:", "",
              "| dataset | " + " | ".join(families) + " |", "|---|" + "---:|" * len(families)]  # fmt: skip
    for name, entry in results.items():
        cells = [f"{r['seconds']} s / {r['parameters']:,}" if "parameters" in r else "" for r in (entry["families"].get(f, {}) for f in families)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def record(results: dict, published: dict, command: str, load: tuple) -> None:
    """Write this invocation's runs over those of earlier invocations (per dataset and family) and the table of all."""
    path = HERE / "encoders.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    merged = earlier.get("results", {})
    for name, entry in results.items():
        merged.setdefault(name, {"families": {}})["data"] = entry["data"]
        merged[name]["families"].update(entry["families"])
    commands = [c for c in earlier.get("commands", []) if c != command] + [command]
    path.write_text(json.dumps({"results": merged, "published_dtw": published, "commands": commands}, indent=1))
    results, command = merged, "`; `".join(commands)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    text = (HERE / "RESULTS.md").read_text()
    body = (f"<!-- encoders:begin -->\n## Encoders: one answer per sequence\n\nCommands: `{command}`. Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}. "
            f"Commit {commit}. Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only. Load average at start {load[0]}, at end {load[1]}.\n\n"
            "Test accuracy per encoder family (each with its natural pooling), next to the 1-NN baselines and the most frequent class:\n\n"
            + table(results, published) + "\n<!-- encoders:end -->")  # fmt: skip
    if "<!-- encoders:begin -->" in text:
        text = re.sub(r"<!-- encoders:begin -->.*<!-- encoders:end -->", lambda _: body, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    (HERE / "RESULTS.md").write_text(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="bundled," + ",".join(UCR))
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--steps", type=int, default=0, help="training steps (0: each dataset's default)")
    args = parser.parse_args(argv)
    command = "benchmarks/encoders.py " + " ".join(argv if argv is not None else sys.argv[1:])
    start_load = os.getloadavg()
    published = published_dtw()
    results = {}
    for name in args.datasets.split(","):
        folder = WORK / name
        figures = prepare(name, folder)
        say(f"{name}: {json.dumps(figures)}")
        results[name] = {"data": figures, "families": {}}
        for family in args.families.split(","):
            results[name]["families"][family] = run_family(folder, name, family, settings(name, figures, args.steps))
            say(f"  {family}: {results[name]['families'][family]}")
            # recorded after every run, so that a stopped benchmark keeps what it measured
            record(results, published, command.strip(), (tuple(round(x, 2) for x in start_load), tuple(round(x, 2) for x in os.getloadavg())))
    say(table(results, published))


if __name__ == "__main__":
    main()
