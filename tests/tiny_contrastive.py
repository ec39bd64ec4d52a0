"""A tiny contrastive experiment on generated sequences (their labels kept aside), shared by several test folders."""

from __future__ import annotations

import pathlib

from tiny import generator

SPEC = """
name = "tiny-contrastive"
seed = 0
workdir = "run"

[data]
input = "items.parquet"
columns = [
  {{ name = "event", kind = "categorical" }},
  {{ name = "amount", kind = "real" }},
]
max_length = 24
buckets = [24]
split = {{ by = "sequence", fractions = [0.6, 0.2, 0.2] }}

[model]
dim = 16
layers = 1
heads = 2
dropout = {dropout}
encoder = {encoder}
pooling = {{ kind = "mean" }}

[train]
objective = {{ kind = "contrastive", views = 2, min_length = 3, max_length = 10 }}
targets = []
batch_size = 8
steps = {steps}
optimizer = {{ lr = 3e-3 }}
schedule = {{ kind = "constant" }}
eval_every = {every}
eval_batches = 1
log_every = 2

[checkpoint]
every = {every}
keep = 2

[infer]
mode = "embed"
batch_size = 8
"""


def write_contrastive_experiment(
    folder: pathlib.Path, *, steps: int = 6, every: int = 2, sequences: int = 60, dropout: float = 0.1, encoder: str = '{ kind = "transformer", causal = false }'
) -> pathlib.Path:
    """Generated items (labels written beside them, not named by the spec) and a contrastive spec; returns the spec path."""
    folder.mkdir(parents=True, exist_ok=True)
    items, labels = generator().generate_labelled(sequences, 0, 4, 30)
    items.write_parquet(folder / "items.parquet")
    labels.write_parquet(folder / "labels.parquet")
    path = folder / "spec.toml"
    path.write_text(SPEC.format(steps=steps, every=every, dropout=dropout, encoder=encoder))
    return path
