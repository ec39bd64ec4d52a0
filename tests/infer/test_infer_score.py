"""`infer.mode = "score"`: every item scored once, equal to the prefix-per-position method; the start slot; unknown classes."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import polars as pl
import pytest
from tiny import write_experiment

import seqjax
from seqjax import cli, experiment
from seqjax.data.metadata import Metadata
from seqjax.infer.inputs import encode
from seqjax.infer.modes import model_inputs
from seqjax.infer.sources import encoded_source
from seqjax.spec import SpecError, load_spec

ID, POS = "sequenceId", "itemPosition"


def prefixes(frame: pl.DataFrame, first: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The prefix-per-position method's input: for item k >= `first` of each sequence, a new sequence of items 0..k-1
    (id = sequence * 1000 + k); and the truths (id, k, the item's own values and position)."""
    parts, truths = [], []
    for (sid,), rows in frame.sort(ID, POS).group_by(ID, maintain_order=True):
        for k in range(max(first, 1), rows.height):
            parts.append(rows.head(k).with_columns(pl.lit(sid * 1000 + k).alias(ID)))
            truths.append(rows.slice(k, 1).with_columns(pl.lit(sid * 1000 + k).alias("prefix")))
    return pl.concat(parts), pl.concat(truths)


def prefix_logp(predictor, frame: pl.DataFrame, target: str) -> dict[int, np.ndarray]:
    """Prefix id -> log-probabilities of every id of `target` for the item after it: the model over each prefix's last
    window (right-aligned, as predict reads new data), one forward pass per prefix."""
    net, meta = predictor.functions.net, predictor.meta
    fn = jax.jit(lambda params, cat, real, mask: jax.nn.log_softmax(net.model(params)(cat, real, mask)[0][target][:, -1], axis=-1))
    encoded = encode(meta, frame)
    out = {}
    for chunk in encoded_source(meta, encoded).chunks(predictor.functions.buckets[-1], True):
        logp = predictor.call(fn, model_inputs(chunk, known_last=False))
        out.update(zip(encoded.ids.gather(chunk["sequence"]).to_list(), logp))
    return out


def check_equals_prefix_method(predictor, frame: pl.DataFrame, scores, *, first: int, within: int | None = None) -> int:
    """Score rows equal the prefix method (log-probabilities and argmax of `event`, error of `amount`); returns rows compared.
    `within`: only items at offsets below it (whose scoring window holds their whole history)."""
    inputs, truths = prefixes(frame, first)
    if within is not None:
        offsets = truths["prefix"] % 1000
        truths = truths.filter(offsets < within)
        inputs = inputs.filter(pl.col(ID).is_in(truths["prefix"].implode()))
    logp = prefix_logp(predictor, inputs, "event")
    predicted = predictor.predict(inputs).rename({"event": "predicted_event", "amount": "predicted_amount"})
    joined = truths.join(scores.items, on=[ID, POS], how="left").join(predicted.drop(POS), left_on="prefix", right_on=ID)
    assert joined["event_logp"].null_count() == 0  # every item the prefix method predicts is scored
    vocab = {v: i + 2 for i, v in enumerate(predictor.meta.column("event").vocab)}
    expected = np.array([logp[p][vocab[e]] for p, e in zip(joined["prefix"], joined["event"])])
    np.testing.assert_allclose(joined["event_logp"].to_numpy(), expected, rtol=1e-4, atol=1e-4)
    assert (joined["event_correct"] == (joined["predicted_event"] == joined["event"])).all()
    np.testing.assert_allclose(joined["amount_error"].to_numpy(), (joined["predicted_amount"] - joined["amount"]).to_numpy(), rtol=1e-3, atol=1e-3)
    return joined.height


def test_score_counts_every_item_once_and_its_totals_add_up(predictor, new_data):
    scores = predictor.score(new_data)
    items = scores.items
    # without a start slot every item but each sequence's first, each exactly once
    expected = new_data.sort(ID, POS).filter(pl.int_range(pl.len()).over(ID) > 0).select(ID, POS)
    assert items.select(ID, POS).sort(ID, POS).equals(expected)
    assert items.columns == [ID, POS, "event_logp", "event_correct", "channel_logp", "channel_correct", "amount_error", "duration_error"]
    assert (items["event_logp"] < 0).all() and items["amount_error"].is_finite().all()
    totals = items.group_by(ID).agg(pl.len().alias("items"), pl.col("event_logp").sum(), pl.col("amount_error").abs().sum().alias("abs"))
    per_sequence = scores.sequences.join(totals, on=ID, suffix="_rows")
    assert (per_sequence["items"] == per_sequence["items_rows"]).all()
    np.testing.assert_allclose(per_sequence["event_logp"], per_sequence["event_logp_rows"], rtol=1e-5)
    np.testing.assert_allclose(per_sequence["amount_abs_error"], per_sequence["abs"], rtol=1e-5)
    summary = scores.summary["targets"]
    nll = -float(items["event_logp"].cast(pl.Float64).mean())
    assert summary["event"]["items"] == items.height == scores.summary["items"]
    assert summary["event"]["mean_nll"] == pytest.approx(nll, rel=1e-6)
    assert summary["event"]["perplexity"] == pytest.approx(math.exp(nll), rel=1e-6)
    assert summary["event"]["bits_per_item"] == pytest.approx(nll / math.log(2), rel=1e-6)
    assert summary["event"]["accuracy"] == pytest.approx(float(items["event_correct"].mean()))
    assert summary["amount"]["rmse"] == pytest.approx(math.sqrt(float((items["amount_error"].cast(pl.Float64) ** 2).mean())), rel=1e-5)
    assert scores.summary["start"] is False


def test_score_equals_the_prefix_method_where_the_window_holds_the_whole_history(predictor, new_data):
    # context 8, stride 4: items 1..8 are scored in the first window, with every item before them in view
    compared = check_equals_prefix_method(predictor, new_data, predictor.score(new_data), first=1, within=predictor.meta.context + 1)
    assert compared > 20


def test_unseen_categories_get_finite_scores_and_are_counted(predictor, new_data):
    # items 1 and 2 of every sequence (scored items: item 0 is not) get an event never seen in training
    offset = pl.int_range(pl.len()).over(ID)
    marked = new_data.sort(ID, POS).with_columns(event=pl.when(offset.is_in([1, 2])).then(pl.lit("teleport")).otherwise(pl.col("event")))
    with pytest.warns(UserWarning, match="teleport|unknown id"):
        scores = predictor.score(marked)
    items = scores.items.join(marked.select(ID, POS, "event"), on=[ID, POS])
    unknown = items.filter(pl.col("event") == "teleport")
    assert unknown.height == 2 * new_data[ID].n_unique()
    assert items["event_logp"].is_finite().all() and not unknown["event_correct"].any()
    assert scores.summary["targets"]["event"]["unknown"] == unknown.height
    assert math.isfinite(scores.summary["targets"]["event"]["mean_nll"])


def test_cli_scores_a_split_like_new_data_of_the_same_sequences(spec_path, predictor, capsys):
    assert cli.main(["infer", str(spec_path), "--mode", "score", "--no-progress"]) == 0
    folder = spec_path.parent / "run" / "predictions"
    items = pl.read_parquet(folder / "score-test.parquet")
    summary = json.loads((folder / "score-test-summary.json").read_text())
    sequences = pl.read_parquet(folder / "score-test-sequences.parquet")
    out = capsys.readouterr().out
    assert f"score: {folder / 'score-test.parquet'} ({items.height:,} rows)" in out and "bits per item" in out
    meta = Metadata.read(spec_path.parent / "run" / "data")
    assert items.height == summary["items"] == meta.splits["test"].targets == int(sequences["items"].sum())
    # the same sequences as new data: cut into windows the same way, so the same rows and scores
    table = pl.read_parquet(spec_path.parent / "table.parquet").filter(pl.col(ID).is_in(sequences[ID].implode()))
    again = predictor.score(table)
    assert again.items.sort(ID, POS).select(ID, POS).equals(items.sort(ID, POS).select(ID, POS))
    np.testing.assert_allclose(again.items.sort(ID, POS)["event_logp"], items.sort(ID, POS)["event_logp"], rtol=1e-5, atol=1e-6)
    assert again.summary["targets"]["event"]["mean_nll"] == pytest.approx(summary["targets"]["event"]["mean_nll"], rel=1e-5)


def test_scoring_the_train_split_is_refused_at_load(spec_path):
    with pytest.raises(SpecError, match=r"spec.toml: infer.split = 'train': infer.mode 'score' scores each item once: use 'valid' or 'test'") as error:
        load_spec(spec_path, overrides=["infer.mode='score'", "infer.split='train'"])
    assert "\n" not in str(error.value)


def test_a_sequence_objective_refuses_score():
    from seqjax.spec import InferMode
    from seqjax.spec.objectives import SEQUENCE_MODES

    assert InferMode.SCORE not in SEQUENCE_MODES


# ---------------------------------------------------------------------------- the start slot


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """A tiny run with a start slot and stride 1 (every item scored with a full window of context)."""
    path = write_experiment(tmp_path_factory.mktemp("start"), steps=4, every=4, eval_every=4, dropout=0.0)
    path.write_text(path.read_text().replace("stride = 4", "stride = 1\nstart = true") + "\n[infer]\nbatch_size = 8\n")
    spec = load_spec(path)
    experiment.preprocess(spec)
    experiment.train(spec, progress_bar=False)
    return path, seqjax.load(path.parent / "run")


def test_the_start_slot_makes_every_first_item_a_target(started):
    path, predictor = started
    meta = predictor.meta
    table = pl.read_parquet(path.parent / "table.parquet")
    lengths = table.group_by(ID).len()
    train = pl.read_parquet(path.parent / "run" / "data" / "sequences-train.parquet")[ID]
    assert meta.start
    # every item of a test sequence counts once, its first included
    test = pl.read_parquet(path.parent / "run" / "data" / "sequences-test.parquet")[ID]
    assert meta.splits["test"].targets == int(lengths.filter(pl.col(ID).is_in(test.implode()))["len"].sum())
    assert meta.splits["train"].sequences == train.len()


def test_with_a_start_slot_score_covers_position_0_and_equals_the_prefix_method(started, new_data):
    _, predictor = started
    scores = predictor.score(new_data)
    assert scores.items.select(ID, POS).sort(ID, POS).equals(new_data.select(ID, POS).sort(ID, POS))
    assert scores.summary["items"] == new_data.height and scores.summary["start"] is True
    compared = check_equals_prefix_method(predictor, new_data, scores, first=1)  # stride 1: every item has a full window
    assert compared == new_data.height - new_data[ID].n_unique()
    # position 0 from an empty history: the start slot alone, right-aligned
    meta, net = predictor.meta, predictor.functions.net
    L = meta.context
    mask = np.zeros((1, L), bool)
    mask[0, -1] = True
    cat, real = np.zeros((1, L, len(meta.categorical)), np.int32), np.zeros((1, L, len(meta.real)), np.float32)
    fn = jax.jit(lambda params, c, r, m: jax.nn.log_softmax(net.model(params)(c, r, m)[0]["event"][:, -1], axis=-1))
    empty_history = predictor.call(fn, (cat, real, mask))[0]
    firsts = scores.items.join(new_data.sort(ID, POS).group_by(ID).first(), on=[ID, POS])
    vocab = {v: i + 2 for i, v in enumerate(meta.column("event").vocab)}
    np.testing.assert_allclose(firsts["event_logp"], [empty_history[vocab[e]] for e in firsts["event"]], rtol=1e-4, atol=1e-4)


def test_start_is_refused_by_the_sequence_objective(tmp_path):
    from tiny import write_sequence_experiment

    path = write_sequence_experiment(tmp_path)
    with pytest.raises(SpecError, match=r"spec.toml: data.start = true: the start slot predicts a sequence's first item"):
        load_spec(path, overrides=["data.start=true"])
