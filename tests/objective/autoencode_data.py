"""Whole-sequence specs without labels for the autoencode and masked tests."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl

SPEC = """
name = "tiny-unlabelled"
seed = 0
workdir = "run"

[data]
input = "items.parquet"
columns = [{{ name = "event", kind = "categorical" }}, {{ name = "amount", kind = "real" }}]
max_length = {max_length}
buckets = [{max_length}]

[model]
dim = 16
layers = 1
heads = 2
encoder = {encoder}
pooling = {pooling}

[train]
objective = {objective}
targets = ["event", "amount"]
batch_size = 8
steps = {steps}
optimizer = {{ lr = {lr}, weight_decay = 0.0 }}
schedule = {{ kind = "constant" }}
eval_every = {steps}
log_every = {steps}

[checkpoint]
every = {steps}
keep = 1

[infer]
mode = "{mode}"
batch_size = 8
"""


def constant_sequences(count: int = 40, length: int = 6, classes: int = 4) -> pl.DataFrame:
    """Trivially compressible: sequence s repeats class s % classes, and its amount is that class number."""
    s = np.repeat(np.arange(count), length)
    c = s % classes
    return pl.DataFrame({"sequenceId": s, "itemPosition": np.tile(np.arange(length), count), "event": [f"e{k}" for k in c], "amount": c.astype(np.float64)})


def write(folder: pathlib.Path, *, frame: pl.DataFrame | None = None, objective: str = '{ kind = "autoencode", code_dim = 4 }',
          encoder: str = '{ kind = "rnn" }', pooling: str = '{ kind = "last" }', steps: int = 200, lr: float = 2e-2,
          max_length: int = 6, mode: str = "embed") -> pathlib.Path:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (constant_sequences() if frame is None else frame).write_parquet(folder / "items.parquet")
    path = folder / "spec.toml"
    path.write_text(SPEC.format(objective=objective, encoder=encoder, pooling=pooling, steps=steps, lr=lr, max_length=max_length, mode=mode))
    return path
