"""Exact windows, padding, masks and targets; both split modes; vocabularies and statistics."""

from __future__ import annotations

import numpy as np
import polars as pl
from preprocess_tables import AMOUNT, EVENT, all_train, data_spec, load

from seqjax.data.metadata import PAD, RESERVED, UNKNOWN, Metadata, sequences_file
from seqjax.preprocess import preprocess
from seqjax.spec import ColumnKind, ColumnSpec, SplitBy, SplitSpec

F, T = False, True


def test_exact_windows_short_and_long_sequence(table_file, tmp_path):
    data = preprocess(data_spec(table_file, split=all_train()), tmp_path / "run", seed=0)
    w = load(data, "train")
    # sequence 3 (3 items) sorts first: one window, two padding items; sequence 7 (9 items): ends 4, 6, 8
    assert w["sequence"].tolist() == [0, 1, 1, 1]
    assert w["position"].tolist() == [
        [-1, -1, 5, 6, 7],
        [100, 101, 102, 103, 104],
        [102, 103, 104, 105, 106],
        [104, 105, 106, 107, 108],
    ]
    assert w["mask"].tolist() == [[F, F, T, T, T]] + [[T] * 5] * 3
    assert w["target"].tolist() == [[F, F, F, T, T]] + [[F, T, T, T, T]] * 3
    x, y, z = RESERVED, RESERVED + 1, RESERVED + 2
    assert w["cat"][..., 0].tolist() == [[PAD, PAD, z, z, y], [x, y, x, z, y], [x, z, y, x, x], [y, x, x, y, z]]
    meta = Metadata.read(data)
    amount = meta.column("amount")
    raw = np.array([*range(9), 10.0, 11.0, 12.0])
    assert np.isclose(amount.mean, raw.mean()) and np.isclose(amount.std, raw.std())
    assert np.allclose(w["real"][0, :, 0], [0, 0, *((np.array([10.0, 11.0, 12.0]) - raw.mean()) / raw.std())], atol=1e-6)
    assert meta.splits["train"].targets == 2 + 3 * 4 == int(w["target"].sum())
    assert pl.read_parquet(data / sequences_file("train"))["sequenceId"].to_list() == [3, 7]
    assert load(data, "valid") == {} and meta.splits["valid"].files == ()


def test_a_start_slot_precedes_each_first_item_which_becomes_a_target(table_file, tmp_path):
    data = preprocess(data_spec(table_file, split=all_train(), start=True), tmp_path / "run", seed=0)
    w = load(data, "train")
    # targets start at row 0: sequence 7's first window ends at 0 + 4 - 1 = 3, its slot 0 the start slot (offset -1)
    assert w["sequence"].tolist() == [0, 1, 1, 1, 1]
    assert w["position"].tolist() == [
        [-1, -1, 5, 6, 7],
        [-1, 100, 101, 102, 103],
        [101, 102, 103, 104, 105],
        [103, 104, 105, 106, 107],
        [104, 105, 106, 107, 108],
    ]
    # the start slot is an input item (mask true, ids 0, reals 0), never a target; the first item is one
    assert w["mask"].tolist() == [[F, T, T, T, T]] + [[T] * 5] * 4
    assert w["target"].tolist() == [[F, F, T, T, T], [F, T, T, T, T], [F, T, T, T, T], [F, T, T, T, T], [F, T, T, T, T]]
    assert w["cat"][0, 1].tolist() == [PAD] and w["cat"][1, 0].tolist() == [PAD] and w["real"][1, 0].tolist() == [0.0]
    meta = Metadata.read(data)
    assert meta.start and meta.splits["train"].targets == int(w["target"].sum())
    # off (the default): the same table has no start slot and no first item as a target
    plain = Metadata.read(preprocess(data_spec(table_file, split=all_train()), tmp_path / "plain", seed=0))
    assert not plain.start and plain.splits["train"].targets == 2 + 3 * 4


def test_a_start_slot_in_a_time_split_makes_row_0_a_train_target(tmp_path):
    path = tmp_path / "t.parquet"
    pl.DataFrame({"sequenceId": ["s"] * 10, "itemPosition": range(10), "event": ["a", "b"] * 5, "amount": [float(v) for v in range(10)]}).write_parquet(path)
    split = SplitSpec(by=SplitBy.TIME, fractions=(0.6, 0.2, 0.2))
    data = preprocess(data_spec(path, split=split, context=4, stride=4, start=True), tmp_path / "run", seed=0)
    # train rows [0, 6): windows end at 3 (a start slot, then rows 0..3) and at 5 (train windows overlap)
    train = load(data, "train")
    assert train["position"].tolist() == [[-1, 0, 1, 2, 3], [1, 2, 3, 4, 5]]
    assert train["target"].tolist() == [[F, T, T, T, T]] * 2
    assert [Metadata.read(data).splits[s].targets for s in ("train", "valid", "test")] == [8, 2, 2]


def test_stride_defaults_to_context_and_last_item_always_covered(table_file, tmp_path):
    data = preprocess(data_spec(table_file, split=all_train(), context=3, stride=0), tmp_path / "run", seed=0)
    w = load(data, "train")
    # sequence 7: first end min(1 + 3 - 1, 8) = 3, then 6, then 8 (the last item)
    assert w["position"][1:, -1].tolist() == [103, 106, 108]
    assert Metadata.read(data).stride == 3


def test_single_item_sequences_give_nothing(tmp_path):
    path = tmp_path / "t.parquet"
    pl.DataFrame({"sequenceId": [1, 2, 2], "itemPosition": [0, 0, 1], "event": ["a", "a", "b"], "amount": [1.0, 2.0, 3.0]}).write_parquet(path)
    data = preprocess(data_spec(path, split=all_train()), tmp_path / "run", seed=0)
    w = load(data, "train")
    assert w["sequence"].tolist() == [0]
    assert pl.read_parquet(data / sequences_file("train"))["sequenceId"].to_list() == [2]


def test_time_split_target_ranges(tmp_path):
    path = tmp_path / "t.parquet"
    events = ["a", "b"] * 4 + ["a", "rare"]
    frame = pl.DataFrame({"sequenceId": ["s"] * 10, "itemPosition": range(10), "event": events, "amount": [float(v) for v in range(10)]})
    frame.sample(fraction=1.0, shuffle=True, seed=1).write_parquet(path)  # statistics must follow the sorted rows
    split = SplitSpec(by=SplitBy.TIME, fractions=(0.6, 0.2, 0.2))
    data = preprocess(data_spec(path, split=split, context=4, stride=4), tmp_path / "run", seed=0)
    # train targets are rows [1, 6), valid [6, 8), test [8, 10); earlier rows are context only
    train, valid, test = (load(data, s) for s in ("train", "valid", "test"))
    assert train["position"].tolist() == [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]
    assert train["target"].tolist() == [[F, T, T, T, T]] * 2
    assert valid["position"].tolist() == [[3, 4, 5, 6, 7]] and valid["target"].tolist() == [[F, F, F, T, T]]
    assert test["position"].tolist() == [[5, 6, 7, 8, 9]] and test["target"].tolist() == [[F, F, F, T, T]]
    meta = Metadata.read(data)
    assert [meta.splits[s].targets for s in ("train", "valid", "test")] == [8, 2, 2]
    # vocabulary and statistics come from the train rows 0..5 only; "rare" (test only) maps to unknown
    assert meta.column("event").vocab == ("a", "b")
    assert test["cat"][0, :, 0].tolist() == [RESERVED + 1, RESERVED, RESERVED + 1, RESERVED, UNKNOWN]
    amount = meta.column("amount")
    assert np.isclose(amount.mean, 2.5) and np.isclose(amount.std, np.std(np.arange(6.0)))
    assert np.allclose(test["real"][0, :, 0], (np.arange(5.0, 10.0) - 2.5) / np.std(np.arange(6.0)))


def many_sequences(count: int = 50) -> pl.DataFrame:
    ids = [f"user-{i:03d}" for i in range(count) for _ in range(5)]
    events = [f"e{(i * 7 + j) % 11}" for i in range(count) for j in range(5)]
    return pl.DataFrame({"sequenceId": ids, "itemPosition": [j for _ in range(count) for j in range(5)], "event": events, "amount": [1.0] * (5 * count)})


def split_ids(data) -> dict[str, list[str]]:
    return {s: pl.read_parquet(data / sequences_file(s))["sequenceId"].to_list() for s in ("train", "valid", "test")}


def test_sequence_split_is_deterministic_and_disjoint(tmp_path):
    path = tmp_path / "t.parquet"
    many_sequences().write_parquet(path)
    spec = data_spec(path, split=SplitSpec(fractions=(0.6, 0.2, 0.2)))
    first = split_ids(preprocess(spec, tmp_path / "a", seed=0))
    again = split_ids(preprocess(spec, tmp_path / "b", seed=0))
    other = split_ids(preprocess(spec, tmp_path / "c", seed=1))
    assert first == again and first != other
    assert [len(v) for v in first.values()] == [30, 10, 10]
    together = sorted(first["train"] + first["valid"] + first["test"])
    assert together == sorted(set(many_sequences()["sequenceId"]))
    # each split's sequences come in ascending id order, and whole sequences are targets
    assert all(v == sorted(v) for v in first.values())
    meta = Metadata.read(tmp_path / "a" / "data")
    assert meta.splits["valid"].targets == 10 * 4 and meta.id_dtype == "String"


def test_vocab_values_are_json_friendly(tmp_path):
    path = tmp_path / "t.parquet"
    pl.DataFrame(
        {"sequenceId": [1, 1, 1], "itemPosition": [0, 1, 2], "channel": [4, 2, 4], "flag": [True, False, True], "amount": [1, 2, 3]}
    ).write_parquet(path)
    columns = (ColumnSpec(name="channel", kind=ColumnKind.CATEGORICAL), ColumnSpec(name="flag", kind=ColumnKind.CATEGORICAL), AMOUNT)
    data = preprocess(data_spec(path, columns=columns, split=all_train()), tmp_path / "run", seed=0)
    meta = Metadata.read(data)
    assert meta.column("channel").vocab == (2, 4) and meta.column("channel").dtype == "Int64"
    assert meta.column("flag").vocab == (False, True) and meta.column("flag").dtype == "Boolean"
    assert meta.column("amount").dtype == "Int64" and meta.column("channel").vocab_size == 4
    w = load(data, "train")
    assert w["cat"][0, -3:].tolist() == [[RESERVED + 1, RESERVED + 1], [RESERVED, RESERVED], [RESERVED + 1, RESERVED + 1]]


def test_constant_real_column_keeps_unit_std(table_file, tmp_path):
    frame = pl.read_parquet(table_file).with_columns(pl.lit(5.0).alias("amount"))
    frame.write_parquet(table_file)
    meta = Metadata.read(preprocess(data_spec(table_file, columns=(EVENT, AMOUNT), split=all_train()), tmp_path / "run", seed=0))
    assert meta.column("amount").mean == 5.0 and meta.column("amount").std == 1.0
