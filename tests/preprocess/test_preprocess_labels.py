"""Labels, static features and the official split of whole-sequence preprocessing: what is written, and
every bad input as one line with nothing written."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl
import pytest
from tiny import write_sequence_experiment

from seqjax import cli
from seqjax.data import records
from seqjax.data.metadata import Metadata
from seqjax.preprocess.labels import UnusedLabelsWarning
from seqjax.spec import SpecError, load_spec


@pytest.fixture
def spec(tmp_path) -> pathlib.Path:
    return write_sequence_experiment(tmp_path, sequences=40)


def fails(capsys, spec: pathlib.Path, *overrides: str) -> str:
    argv = ["preprocess", str(spec)] + [x for o in overrides for x in ("--set", o)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("seqjax: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not (spec.parent / "run" / "data").exists()
    return lines[0]


def edit_labels(spec: pathlib.Path, change) -> None:
    path = spec.parent / "labels.parquet"
    change(pl.read_parquet(path)).write_parquet(path)


def test_records_hold_the_sequence_its_labels_and_static_features(spec):
    run = load_spec(spec)
    assert cli.main(["preprocess", str(spec)]) == 0
    meta = Metadata.read(run.paths.data)
    assert meta.view == "sequences" and [c.name for c in meta.labels] == ["label"] and meta.labels[0].vocab == ("a", "b", "c", "d")
    assert [c.name for c in meta.statics] == ["segment"] and meta.context == 24
    items, labels = pl.read_parquet(spec.parent / "items.parquet"), pl.read_parquet(spec.parent / "labels.parquet")
    ids = pl.read_parquet(run.paths.data / "sequences-train.parquet")
    for record in list(records.iterate([run.paths.data / f for f in meta.splits["train"].files]))[:10]:
        sid = ids["sequenceId"][int(record["sequence"])]
        rows = items.filter(pl.col("sequenceId") == sid).sort("itemPosition")
        kept = rows.tail(24)  # max_length 24 keeps the last items
        assert record["position"].tolist() == kept["itemPosition"].to_list()
        assert len(record["position"]) == ids["length"][int(record["sequence"])]
        label = labels.filter(pl.col("sequenceId") == sid)
        assert meta.labels[0].vocab[int(record["label_cat"][0]) - 2] == label["label"][0]
        assert meta.statics[0].vocab[int(record["static_cat"][0]) - 2] == label["segment"][0]
    assert sum(meta.splits[s].windows for s in meta.splits) == 40 and meta.truncated == int((items.group_by("sequenceId").len()["len"] > 24).sum())


def test_first_items_kept_and_kinds_inferred_and_an_official_split(spec):
    edit_labels(spec, lambda t: t.with_columns(score=pl.int_range(pl.len()).cast(pl.Float64), split=pl.Series(["train"] * 30 + ["valid"] * 5 + ["test"] * 5)))
    assert cli.main(["preprocess", str(spec), "--set", "data.truncate='first'"]) == 0
    meta = Metadata.read(spec.parent / "run" / "data")
    assert {c.name: c.kind for c in meta.labels} == {"label": "categorical", "score": "real"}  # split and segment are not labels
    assert [meta.splits[s].windows for s in ("train", "valid", "test")] == [30, 5, 5]
    ids = pl.read_parquet(spec.parent / "run" / "data" / "sequences-train.parquet")["sequenceId"].to_list()
    assert ids == list(range(1000, 1030))
    record = next(records.iterate([spec.parent / "run" / "data" / meta.splits["train"].files[0]]))
    assert record["position"][0] == 0  # the first items


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.filter(pl.col("sequenceId") != 1007), "1 sequences with items have no row (no label), first 1007"),
        (lambda t: pl.concat([t, t.head(1)]), "sequence 1000 has more than one row; each sequence has one row (its label)"),
        (lambda t: t.with_columns(label=pl.when(pl.col("sequenceId") == 1003).then(None).otherwise(pl.col("label"))), "label 'label' has 1 null values, first in sequence 1003"),
        (lambda t: t.with_columns(split=pl.lit("training")), "split column 'split' has value 'training'; allowed: ['train', 'valid', 'test']"),
        (lambda t: t.drop("segment"), "data.static: 'segment' is in none of"),
        (lambda t: t.rename({"sequenceId": "id"}), "has no id column 'sequenceId'"),
    ],
    ids=["missing", "repeated", "null", "bad-split", "no-static", "no-id"],
)
def test_bad_labels_are_one_line(spec, capsys, change, message):
    edit_labels(spec, change)
    assert message in fails(capsys, spec)


def test_a_static_feature_that_varies_within_a_sequence(spec, capsys):
    edit_labels(spec, lambda t: t.drop("segment"))
    items = pl.read_parquet(spec.parent / "items.parquet")
    items.with_columns(segment=pl.when(pl.col("itemPosition") == 2).then(pl.lit("x")).otherwise(pl.lit("y"))).write_parquet(spec.parent / "items.parquet")
    assert "static feature 'segment' varies within sequence 1000" in fails(capsys, spec)


def test_static_features_of_missing_sequences_in_a_static_table(spec, capsys):
    edit_labels(spec, lambda t: t.drop("segment"))
    pl.DataFrame({"sequenceId": list(range(1000, 1039)), "segment": ["a"] * 39}).write_parquet(spec.parent / "static.parquet")
    line = fails(capsys, spec, f"data.static_input='{spec.parent / 'static.parquet'}'")
    assert "1 sequences with items have no row (no static features), first 1039" in line


def test_labels_of_sequences_without_items_are_counted_in_a_warning(spec, capsys):
    edit_labels(spec, lambda t: pl.concat([t, t.head(2).with_columns(pl.col("sequenceId") + 100_000)]))
    with pytest.warns(UnusedLabelsWarning, match="2 rows are for sequences without items"):
        from seqjax import experiment

        experiment.preprocess(load_spec(spec))


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.label_columns=[{name='event', kind='categorical'}]", "data.label_columns = 'event': is also an item column"),
        ("data.max_length=0", "data.max_length = 0: must be at least 1"),
        ("data.labels=''", "train.objective 'sequence' needs a labels table"),
        ("train.targets=['event']", "'event' is an item column; the 'sequence' objective predicts label columns"),
        ("infer.mode='generate'", "infer.mode = 'generate': the 'sequence' objective offers"),
        ("data.split={by='time'}", "the 'sequence' objective splits whole sequences"),
        ("data.buckets=[16, 8]", "data.buckets = [16, 8]: must be increasing positive lengths"),
        ("model.encoder={kind='aggregate'}", None),
        ("train.select='valid.targets.labl.accuracy'", "'labl' is not a target"),
    ],
)
def test_spec_errors_of_the_sequence_objective(spec, override, message):
    if message is None:
        load_spec(spec, [override])
        return
    with pytest.raises(SpecError) as error:
        load_spec(spec, [override])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_next_item_prediction_refuses_encoders_without_causal_per_item_states(tmp_path):
    from tiny import write_experiment

    path = write_experiment(tmp_path)
    for encoder, message in [("{kind='aggregate'}", "next-item prediction needs per-item states"), ("{kind='rnn', bidirectional=true}", "needs a causal encoder")]:
        with pytest.raises(SpecError, match=message):
            load_spec(path, [f"model.encoder={encoder}"])
    assert np.isfinite(load_spec(path, ["model.encoder={kind='cnn', causal=true}"]).model.dim)
