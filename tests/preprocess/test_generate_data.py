"""The synthetic data generator in tools/: deterministic, typed, with varied lengths."""

from __future__ import annotations

import importlib.util
import pathlib

import polars as pl

ROOT = pathlib.Path(__file__).resolve().parents[2]


def generator():
    spec = importlib.util.spec_from_file_location("generate_data", ROOT / "tools" / "generate_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_is_deterministic_and_typed(tmp_path):
    gen = generator()
    frame = gen.generate(50, 1, 5, 40)
    assert frame.equals(gen.generate(50, 1, 5, 40))
    assert not frame.equals(gen.generate(50, 2, 5, 40))
    assert frame.schema == pl.Schema(
        {"sequenceId": pl.Int64, "itemPosition": pl.Int64, "event": pl.String, "channel": pl.Int64, "amount": pl.Float64, "duration": pl.Float64}
    )
    lengths = frame.group_by("sequenceId").len()["len"]
    assert lengths.len() == 50 and lengths.min() >= 5 and lengths.max() <= 40
    steps = frame.select(pl.col("itemPosition").diff().over("sequenceId").drop_nulls())
    assert (steps["itemPosition"] == 1).all()
    assert set(frame["event"].unique()) <= set(gen.EVENTS)


def test_generator_command_writes_parquet_and_csv(tmp_path):
    gen = generator()
    gen.main([str(tmp_path / "out.parquet"), "--sequences", "10", "--seed", "3", "--max-length", "30"])
    gen.main([str(tmp_path / "out.csv"), "--sequences", "10", "--seed", "3", "--max-length", "30"])
    parquet = pl.read_parquet(tmp_path / "out.parquet")
    assert parquet.equals(gen.generate(10, 3, 20, 30))
    assert pl.read_csv(tmp_path / "out.csv").height == parquet.height
