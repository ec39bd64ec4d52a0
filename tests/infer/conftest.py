"""One tiny run, preprocessed and trained once for all inference tests, and a Predictor over it."""

from __future__ import annotations

import pathlib

import polars as pl
import pytest
from tiny import write_experiment

import seqjax
from seqjax import experiment
from seqjax.spec import load_spec

NEW_SEQUENCES = (1003, 1011, 1020, 1027, 1033, 1038)
"""Sequences used as "new data": a few of the table's, short and long."""


INFER = """
[infer]
batch_size = 8
steps = 12
"""
"""Batches of 8 rows (one per fake device): every function compiles for that one size, and a split's windows
come in several chunks. 12 generated items, the test_infer_generate scheme, so the exported and in-process
generate functions compile once."""


@pytest.fixture(scope="session")
def spec_path(tmp_path_factory) -> pathlib.Path:
    """The tiny spec, with its run trained for a few steps (resolved spec saved as run/spec.json)."""
    path = write_experiment(tmp_path_factory.mktemp("infer"), steps=4, every=4, eval_every=4, dropout=0.0)
    path.write_text(path.read_text() + INFER)
    spec = load_spec(path)
    experiment.preprocess(spec)
    experiment.train(spec, progress_bar=False)
    return path


@pytest.fixture(scope="session")
def predictor(spec_path):
    return seqjax.load(spec_path.parent / "run")


@pytest.fixture(scope="session")
def new_data(spec_path) -> pl.DataFrame:
    """Some sequences of the table, rows shuffled (inference sorts them), one of them truncated to 3 items."""
    table = pl.read_parquet(spec_path.parent / "table.parquet").filter(pl.col("sequenceId").is_in(NEW_SEQUENCES))
    short = table.filter(pl.col("sequenceId") == NEW_SEQUENCES[0]).head(3)
    table = pl.concat([short, table.filter(pl.col("sequenceId") != NEW_SEQUENCES[0])])
    return table.sample(fraction=1.0, shuffle=True, seed=0)
