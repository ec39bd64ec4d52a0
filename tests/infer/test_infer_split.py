"""Modes over a preprocessed split: files under workdir/predictions, joinable with the input table."""

from __future__ import annotations

import polars as pl

from seqjax.infer.run import infer
from seqjax.spec import load_spec


def test_probabilities_of_a_split_join_the_predictions_and_the_table(spec_path, predictor):
    table = pl.read_parquet(spec_path.parent / "table.parquet")
    predicted = infer(load_spec(spec_path), progress_bar=False, predictor=predictor)  # experiment.infer: see test_infer_modes' cli tests
    result = infer(load_spec(spec_path, ["infer.mode='probabilities'"]), progress_bar=False, predictor=predictor)
    assert result.path == spec_path.parent / "run" / "predictions" / "probabilities-test.parquet" and not result.quality
    probs = pl.read_parquet(result.path)
    assert predicted.quality and probs.height == predicted.rows > 0
    keys = ["sequenceId", "itemPosition"]
    assert probs.join(pl.read_parquet(predicted.path), on=keys, how="anti").height == 0
    assert probs.join(table, on=keys, how="anti").height == 0
    total = probs.select(pl.sum_horizontal(pl.col("^event=.*$"))).to_series()
    assert ((total - 1.0).abs() < 1e-5).all()


def test_generate_and_embed_continue_each_split_sequence_from_its_end(spec_path, predictor):
    table = pl.read_parquet(spec_path.parent / "table.parquet")
    spec = load_spec(spec_path, ["infer.mode='generate'", "infer.format='csv'"])
    result = infer(spec, progress_bar=False, predictor=predictor)  # the loaded model's compiled functions are reused
    assert result.path.name == "generate-test.csv"
    generated = pl.read_csv(result.path)
    sequences = generated["sequenceId"].unique().to_list()
    ends = table.filter(pl.col("sequenceId").is_in(sequences)).group_by("sequenceId").agg(pl.col("itemPosition").max().alias("end"))
    first = generated.group_by("sequenceId").agg(pl.col("itemPosition").min().alias("first")).join(ends, on="sequenceId")
    assert (first["first"] == first["end"] + 1).all() and generated.height == spec.infer.steps * len(sequences)
    embedded = pl.read_parquet(infer(load_spec(spec_path, ["infer.mode='embed'"]), progress_bar=False, predictor=predictor).path)
    assert sorted(embedded["sequenceId"]) == sorted(sequences) and embedded.width == 1 + 16
