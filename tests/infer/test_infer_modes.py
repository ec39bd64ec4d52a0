"""Predictions, probabilities and embeddings through `seqjax.load`, and `seqjax infer --input` end to end."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from seqjax import cli
from seqjax.infer.inputs import UnseenCategoryWarning, input_name
from seqjax.infer.writers import class_names


@pytest.fixture(scope="module")
def unseen_data(new_data) -> pl.DataFrame:
    """New data where two rows of one sequence have an event never seen in training."""
    first = new_data["sequenceId"][0]
    marked = (pl.col("sequenceId") == first) & (pl.int_range(pl.len()).over("sequenceId") < 2)
    return new_data.with_columns(event=pl.when(marked).then(pl.lit("teleport")).otherwise(pl.col("event")))


def test_predict_gives_the_item_after_each_sequence(predictor, new_data):
    predicted = predictor.predict(new_data)
    last = new_data.group_by("sequenceId").agg(pl.col("itemPosition").max() + 1).sort("sequenceId")
    assert predicted.select("sequenceId", "itemPosition").equals(last)
    assert predicted.columns == ["sequenceId", "itemPosition", "event", "channel", "amount", "duration"]
    assert predicted["event"].null_count() == 0 and predicted["amount"].is_finite().all()


def test_a_smaller_batch_reuses_a_compiled_size_and_gives_the_same_rows(predictor, new_data):
    whole = predictor.predict(new_data)
    fn = predictor.function("next")
    compiled = fn._cache_size()
    first = pl.col("sequenceId") == new_data["sequenceId"][0]
    alone = predictor.predict(new_data.filter(first))
    assert fn._cache_size() == compiled  # one row padded to a size already compiled, not a new compilation
    assert alone.equals(whole.filter(first))


def test_probabilities_sum_to_one_and_agree_with_predict(predictor, new_data):
    probs = predictor.probabilities(new_data)
    predicted = predictor.predict(new_data)
    assert probs.select("sequenceId", "itemPosition").equals(predicted.select("sequenceId", "itemPosition"))
    for target in ("event", "channel"):
        names = class_names(predictor.meta, target)
        assert names[0] == f"{target}={predictor.meta.column(target).vocab[0]}"
        values = probs.select(names).to_numpy()
        np.testing.assert_allclose(values.sum(axis=1), 1.0, rtol=1e-5)
        best = [names[i].split("=", 1)[1] for i in values.argmax(axis=1)]
        assert best == [str(v) for v in predicted[target]]


def test_embeddings_shape_determinism_layers_and_pooling(predictor, new_data):
    sequences = new_data["sequenceId"].n_unique()
    last = predictor.embed(new_data)
    assert last.columns == ["sequenceId"] + [f"embedding_{d}" for d in range(16)]
    assert last.height == sequences and set(last.schema.values()) >= {pl.Float32}
    assert last.equals(predictor.embed(new_data))
    first_block = predictor.embed(new_data, layer=0, pooling="mean")
    assert first_block.shape == last.shape
    assert not np.allclose(first_block.drop("sequenceId").to_numpy(), last.drop("sequenceId").to_numpy())
    windows = predictor.embed(new_data, per="window")
    assert windows.columns[:2] == ["sequenceId", "itemPosition"] and windows.height > sequences
    # the last window of each sequence is the per-sequence embedding
    ends = windows.group_by("sequenceId", maintain_order=True).tail(1).drop("itemPosition")
    np.testing.assert_allclose(ends.drop("sequenceId").to_numpy(), last.drop("sequenceId").to_numpy(), rtol=1e-5, atol=1e-6)


def test_pandas_frames_give_what_polars_frames_give(predictor, new_data):
    pytest.importorskip("pandas")
    frame = new_data.to_pandas()
    assert predictor.predict(frame).equals(predictor.predict(new_data))
    assert predictor.probabilities(frame).equals(predictor.probabilities(new_data))
    assert predictor.generate(frame, temperature=1.0, seed=3).equals(predictor.generate(new_data, temperature=1.0, seed=3))
    assert predictor.embed(frame).equals(predictor.embed(new_data))
    # what pandas users often have: the id as the index, categories, an unrelated column of mixed objects
    indexed = frame.astype({"event": "category"}).set_index("sequenceId").assign(note=[{"a": 1}, "b"] + [None] * (len(frame) - 2))
    assert predictor.predict(indexed).equals(predictor.predict(new_data))


def test_unseen_categories_warn_once_and_use_the_unknown_id(predictor, unseen_data):
    with pytest.warns(UnseenCategoryWarning, match=r"event: 2 rows \(1 distinct values\)") as caught:
        predicted = predictor.predict(unseen_data)
    assert len([w for w in caught if w.category is UnseenCategoryWarning]) == 1
    assert predicted.height == unseen_data["sequenceId"].n_unique()


def test_cli_infer_input_writes_what_load_predict_returns(predictor, spec_path, unseen_data, tmp_path, capsys):
    data = tmp_path / "new.csv"
    unseen_data.write_csv(data)
    assert cli.main(["infer", str(spec_path), "--input", str(data), "--no-progress"]) == 0
    out = spec_path.parent / "run" / "predictions" / f"{input_name(str(data))}.parquet"
    assert out.name.startswith("input-new-")  # never a split's name
    captured = capsys.readouterr()
    assert f"predictions: {out}" in captured.out
    assert captured.err.count("seqjax: warning: categories not seen in training were mapped to the unknown id: event: 2 rows") == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        expected = predictor.predict(pl.read_csv(data))
    written = pl.read_parquet(out)
    assert written.drop("amount", "duration").equals(expected.drop("amount", "duration"))
    np.testing.assert_allclose(written.select("amount", "duration").to_numpy(), expected.select("amount", "duration").to_numpy(), rtol=1e-5)


def test_cli_infer_bad_input_is_one_line_exit_2(spec_path, new_data, tmp_path, capsys):
    data = tmp_path / "bad.parquet"
    new_data.drop("channel").write_parquet(data)
    assert cli.main(["infer", str(spec_path), "--input", str(data), "--mode", "generate", "--no-progress"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"seqjax: error: {data}: column 'channel' not found")
    assert not (spec_path.parent / "run" / "predictions" / "generate-bad.parquet").exists()
