"""A tiny real experiment shared by the training, inference and CLI tests."""

from __future__ import annotations

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]

SPEC = """
name = "tiny"
seed = 0
workdir = "run"

[data]
input = "table.parquet"
columns = [
  {{ name = "event", kind = "categorical" }},
  {{ name = "channel", kind = "categorical" }},
  {{ name = "amount", kind = "real" }},
  {{ name = "duration", kind = "real" }},
]
context = 8
stride = 4

[model]
dim = 16
layers = 2
heads = 4
kv_heads = 2
dropout = {dropout}

[train]
targets = ["event", "channel", "amount", "duration"]
batch_size = 16
steps = {steps}
optimizer = {{ lr = 3e-3 }}
schedule = {{ kind = "cosine", warmup = 2 }}
eval_every = {eval_every}
eval_batches = 2
log_every = 2

[checkpoint]
every = {every}
keep = 2
"""


def generator():
    spec = importlib.util.spec_from_file_location("generate_data", ROOT / "tools" / "generate_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_experiment(folder: pathlib.Path, *, steps: int = 8, every: int = 4, eval_every: int = 4, dropout: float = 0.1, sequences: int = 40) -> pathlib.Path:
    """A generated table and a spec beside it; returns the spec path."""
    folder.mkdir(parents=True, exist_ok=True)
    generator().generate(sequences, 0, 4, 30).write_parquet(folder / "table.parquet")
    path = folder / "spec.toml"
    path.write_text(SPEC.format(steps=steps, every=every, eval_every=eval_every, dropout=dropout))
    return path


def final_params(run_dir: pathlib.Path) -> list:
    """Leaves of the latest checkpoint's parameters, restored as plain host arrays."""
    import jax
    import numpy as np
    import orbax.checkpoint as ocp

    mngr = ocp.CheckpointManager(run_dir / "checkpoints", options=ocp.CheckpointManagerOptions(read_only=True))
    step = mngr.latest_step()
    state = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
    mngr.close()
    return [np.asarray(x) for x in jax.tree.leaves(state["params"])]


def train_losses(run_dir: pathlib.Path) -> list[float]:
    from seqjax.train.metrics import read

    return [r["loss"] for r in read(run_dir / "metrics.jsonl") if r["split"] == "train"]


def temporaries(root: pathlib.Path) -> list[str]:
    """Temporary files and folders left under `root` (seqjax's and Orbax's)."""
    return [str(p) for p in root.rglob("*") if ".tmp-" in p.name or ".old-" in p.name or "orbax-checkpoint-tmp" in p.name]


SEQUENCE_SPEC = """
name = "tiny-sequences"
seed = 0
workdir = "run"

[data]
input = "items.parquet"
columns = [
  {{ name = "event", kind = "categorical" }},
  {{ name = "amount", kind = "real" }},
]
labels = "labels.parquet"
static = [{{ name = "segment", kind = "categorical" }}]
max_length = 24
buckets = {buckets}

[model]
dim = 16
layers = 1
heads = 2
encoder = {encoder}
pooling = {pooling}

[train]
objective = {{ kind = "sequence" }}
targets = ["label"]
batch_size = 8
steps = {steps}
optimizer = {{ lr = 3e-3 }}
schedule = {{ kind = "constant" }}
eval_every = {every}
log_every = 2

[checkpoint]
every = {every}
keep = 2

[infer]
batch_size = 8
"""


def write_sequence_experiment(
    folder: pathlib.Path, *, steps: int = 6, every: int = 3, sequences: int = 60, encoder: str = '{ kind = "transformer" }',
    pooling: str = '{ kind = "mean" }', buckets: str = "[8, 16]",
) -> pathlib.Path:
    """A generated labelled table (items, labels with a static segment) and a sequence-objective spec beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    items, labels = generator().generate_labelled(sequences, 0, 4, 30)
    items.write_parquet(folder / "items.parquet")
    labels.write_parquet(folder / "labels.parquet")
    path = folder / "spec.toml"
    path.write_text(SEQUENCE_SPEC.format(steps=steps, every=every, encoder=encoder, pooling=pooling, buckets=buckets))
    return path
