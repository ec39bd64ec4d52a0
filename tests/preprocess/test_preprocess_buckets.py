"""Bucketed preprocessing: the output does not depend on buckets or workers; errors name the smallest sequence."""

from __future__ import annotations

import fractions

import numpy as np
import polars as pl
import pytest
from preprocess_tables import AMOUNT, EVENT, data_spec, load

from seqjax.data.metadata import SPLITS, Metadata, sequences_file
from seqjax.preprocess import PreprocessError, bucket, preprocess
from seqjax.preprocess.vocab import Moments
from seqjax.spec import ColumnKind, ColumnSpec, PreprocessSpec, SplitBy, SplitSpec

CHANNEL = ColumnSpec(name="channel", kind=ColumnKind.CATEGORICAL)


def mixed_table(count: int = 40, seed: int = 0) -> pl.DataFrame:
    """String ids of mixed lengths, 1-30 items with gaps in the positions, a rare event, reals of very different sizes; rows shuffled."""
    rng = np.random.default_rng(seed)
    ids = [f"{rng.choice(['a', 'b', 'Z', 'a-'])}{k}" for k in range(count)]
    lengths = rng.integers(1, 31, count)
    rows = int(lengths.sum())
    positions = np.concatenate([rng.integers(-5, 5) + np.cumsum(rng.integers(1, 4, n)) for n in lengths])
    events = rng.choice(list("abcdefg"), rows, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.09, 0.01])
    return pl.DataFrame(
        {
            "sequenceId": np.repeat(ids, lengths),
            "itemPosition": positions,
            "event": events,
            "channel": rng.integers(0, 6, rows),
            "amount": rng.normal(0, 1, rows) * 10.0 ** rng.uniform(-3, 3, rows),
        }
    ).sample(fraction=1.0, shuffle=True, seed=seed)


def snapshot(data) -> dict:
    """Everything a consumer can read: metadata less the shard names, sequence tables, windows in shard order."""
    meta = Metadata.read(data)
    splits = {s: (m.windows, m.sequences, m.targets) for s, m in meta.splits.items()}
    tables = {s: pl.read_parquet(data / sequences_file(s))["sequenceId"].to_list() for s in SPLITS}
    return {"columns": meta.columns, "rows": meta.rows, "splits": splits, "tables": tables, "windows": {s: load(data, s) for s in SPLITS}}


def assert_same(left: dict, right: dict) -> None:
    assert left["columns"] == right["columns"]  # vocabularies, means and stds exactly equal
    assert left["rows"] == right["rows"] and left["splits"] == right["splits"] and left["tables"] == right["tables"]
    for split in SPLITS:
        a, b = left["windows"][split], right["windows"][split]
        assert a.keys() == b.keys()
        for field in a:
            assert a[field].dtype == b[field].dtype and np.array_equal(a[field], b[field]), (split, field)


SPLIT_MODES = [SplitSpec(fractions=(0.6, 0.2, 0.2)), SplitSpec(by=SplitBy.TIME, fractions=(0.7, 0.15, 0.15))]


@pytest.mark.parametrize("split", SPLIT_MODES, ids=["sequence", "time"])
def test_output_does_not_depend_on_buckets_or_workers(tmp_path, split):
    path = tmp_path / "t.parquet"
    mixed_table().write_parquet(path)
    spec = data_spec(path, columns=(EVENT, CHANNEL, AMOUNT), context=4, stride=3, split=split, shard_windows=5)
    runs = {}
    for workers, buckets in ((1, 1), (1, 3), (2, 4)):
        data = preprocess(spec, tmp_path / f"w{workers}b{buckets}", seed=0, options=PreprocessSpec(workers=workers, buckets=buckets))
        runs[buckets] = snapshot(data)
        files = Metadata.read(data).splits["train"].files
        tags = sorted({f.split("-")[1] for f in files if "-b" in f})  # train-b0002-00000.array_record
        assert tags == [f"b{k:04d}" for k in range(buckets) if buckets > 1], files
    assert all(runs[1]["splits"][s][0] > 0 for s in SPLITS)
    assert_same(runs[1], runs[3])
    assert_same(runs[1], runs[4])


def test_bucketed_output_matches_with_csv_input(tmp_path):
    frame = mixed_table(25, seed=1)
    frame.write_csv(tmp_path / "t.csv")
    frame.write_parquet(tmp_path / "t.parquet")
    snapshots = []
    for name in ("t.csv", "t.parquet"):
        spec = data_spec(tmp_path / name, columns=(EVENT, AMOUNT))
        for buckets in (1, 2):
            snapshots.append(snapshot(preprocess(spec, tmp_path / f"{name}-{buckets}", seed=2, options=PreprocessSpec(buckets=buckets))))
    for other in snapshots[1:]:
        assert_same(snapshots[0], other)
    assert not list(tmp_path.glob("*/data/.scratch"))


def bad(frame: pl.DataFrame, tmp_path, buckets: int) -> str:
    path = tmp_path / "bad.parquet"
    frame.write_parquet(path)
    with pytest.raises(PreprocessError) as error:
        preprocess(data_spec(path), tmp_path / f"run{buckets}", seed=0, options=PreprocessSpec(buckets=buckets))
    message = str(error.value)
    assert "\n" not in message and not list(tmp_path.glob(f"run{buckets}/*"))
    return message


def numbered(count: int = 30) -> pl.DataFrame:
    """Sequences 100..100+count-1, four items each, rows shuffled."""
    return pl.DataFrame(
        {
            "sequenceId": np.repeat(np.arange(100, 100 + count), 4),
            "itemPosition": np.tile(np.arange(4), count),
            "event": ["x", "y", "z", "y"] * count,
            "amount": np.arange(4.0 * count),
        }
    ).sample(fraction=1.0, shuffle=True, seed=5)


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda f: pl.concat([f, f.filter(pl.col("sequenceId").is_in([125, 111]) & (pl.col("itemPosition") == 2))]),
            "sequence 111 has position 2 more than once",
        ),
        (
            lambda f: f.with_columns(
                pl.when(pl.col("sequenceId").is_in([127, 113, 120]) & (pl.col("itemPosition") == 1)).then(None).otherwise(pl.col("event")).alias("event")
            ),
            "column 'event' has 3 null values, first in sequence 113",
        ),
        (
            lambda f: f.with_columns(
                pl.when(pl.col("sequenceId").is_in([126, 112]) & (pl.col("itemPosition") >= 2))
                .then(pl.when(pl.col("itemPosition") == 2).then(float("-inf")).otherwise(float("nan")))
                .otherwise(pl.col("amount"))
                .alias("amount")
            ),
            "real column 'amount' has value -inf in sequence 112",  # the first bad item of the smallest sequence
        ),
    ],
    ids=["duplicate", "null", "non-finite"],
)
def test_errors_name_the_smallest_sequence_whatever_the_buckets(tmp_path, change, expected):
    frame = change(numbered())
    messages = {bad(frame, tmp_path, buckets) for buckets in (1, 3)}
    assert len(messages) == 1 and expected in messages.pop()


def test_bucket_count_and_bounds():
    assert bucket.count(5, 2, 100, 2) == 5
    assert bucket.count(0, 1, 1000, 2) == 1
    assert bucket.count(0, 1, 50_000_000, 4) == 13  # 50 M rows of 6 columns at 24 M cells per bucket
    assert bucket.count(0, 2, 50_000_000, 4) == 14  # a multiple of the workers
    assert bucket.count(0, 2, 1_200_000, 4) == 2 and bucket.count(0, 2, 900_000, 4) == 1
    lengths = np.array([5, 1, 1, 10, 3, 3, 1])
    # first rows 0, 5, 6, 7 | 17, 20, 23 of 24: bucket floor(3 * row / 24); the long sequence 3 leaves bucket 1 empty
    assert bucket.bounds(lengths, 3) == [(0, 4), (4, 7)]
    assert bucket.bounds(lengths, 24) == [(k, k + 1) for k in range(7)]  # never more buckets than sequences
    assert bucket.bounds(lengths, 1) == [(0, 7)]


def test_moments_are_exact_and_merge_in_any_order():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 500) * 10.0 ** rng.integers(-300, 300, 500), [0.0, -0.0, 5e-324, -2.5e-310, 1.5]])
    whole = Moments.of(values)
    assert fractions.Fraction(whole.total, 2**1126) == sum(map(fractions.Fraction, values))
    assert fractions.Fraction(whole.squares, 2**2252) == sum(fractions.Fraction(v) ** 2 for v in values)
    parts = [Moments.of(values[k::4]) for k in range(4)]
    assert parts[3] + parts[0] + parts[2] + parts[1] == whole
    plain = np.array([1.25, 2.5, -3.0, 7.75])
    assert Moments.of(plain).mean_std() == (float(plain.mean()), float(plain.std()))
    assert Moments.of(np.full(9, 0.1)).mean_std() == (0.1, 1.0) and Moments().mean_std() == (0.0, 1.0)
