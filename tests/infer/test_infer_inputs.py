"""New data: encoding with stored vocabularies, errors, windows, batch sizes and part files (no model needed)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqjax.data.metadata import UNKNOWN, ColumnMeta, Metadata
from seqjax.infer.api import bucket_sizes
from seqjax.infer.inputs import InputError, UnseenCategoryWarning, encode, warn_unseen
from seqjax.infer.modes import model_inputs
from seqjax.infer.sources import encoded_source, last_per_sequence, rechunk
from seqjax.infer.writers import PartWriter

META = Metadata(
    fingerprint="test", id_column="sequenceId", position_column="itemPosition", id_dtype="String", context=4, stride=2,
    format="arrayrecord", rows=0, splits={},
    columns=(
        ColumnMeta(name="event", kind="categorical", dtype="String", vocab=("a", "b", "c")),
        ColumnMeta(name="amount", kind="real", dtype="Float64", mean=10.0, std=2.0),
        ColumnMeta(name="channel", kind="categorical", dtype="Int64", vocab=(10, 20)),
    ),
)


def table(**changes) -> pl.DataFrame:
    """Sequence "x" with 6 items and "y" with 2, rows out of order."""
    frame = pl.DataFrame(
        {
            "sequenceId": ["y", "x", "x", "x", "y", "x", "x", "x"],
            "itemPosition": [5, 3, 1, 2, 4, 4, 6, 5],
            "event": ["a", "c", "a", "b", "zzz", "a", "b", "zzz"],
            "amount": [10.0, 12.0, 8.0, 10.0, 14.0, 10.0, 10.0, 10.0],
            "channel": [10, 20, 10, 99, 20, 10, 10, 10],
        }
    )
    return frame.with_columns(**changes) if changes else frame


def test_encoding_sorts_and_uses_the_stored_vocabularies_and_statistics():
    encoded = encode(META, table())
    assert encoded.ids.to_list() == ["x", "y"] and encoded.rows.starts.tolist() == [0, 6, 8]
    assert encoded.rows.position.tolist() == [1, 2, 3, 4, 5, 6, 4, 5]
    # event: a -> 2, b -> 3, c -> 4, unseen -> 1; channel 10 -> 2, 20 -> 3
    assert encoded.rows.cat[:, 0].tolist() == [2, 3, 4, 2, UNKNOWN, 3, UNKNOWN, 2]
    assert encoded.rows.cat[:, 1].tolist() == [2, UNKNOWN, 3, 2, 2, 2, 3, 2]
    np.testing.assert_allclose(encoded.rows.real[:, 0], [-1, 0, 1, 0, 0, 0, 2, 0])
    assert encoded.unseen == {"event": (2, 1), "channel": (1, 1)}
    with pytest.warns(UnseenCategoryWarning, match=r"event: 2 rows \(1 distinct values\), channel: 1 rows \(1 distinct values\)"):
        warn_unseen(encoded.unseen)


def test_csv_style_dtypes_are_cast_to_the_training_ones():
    encoded = encode(META, table(channel=pl.col("channel").cast(pl.Int32)))
    assert encoded.rows.cat[:, 1].tolist()[:3] == [2, UNKNOWN, 3]
    with pytest.raises(InputError, match=r"categorical column 'channel' has dtype String; the model was trained on Int64"):
        encode(META, table(channel=pl.lit("ten")))


@pytest.mark.parametrize(
    "frame, message",
    [
        (table().drop("amount"), r"input: column 'amount' not found; available columns"),
        (table().rename({"event": "events"}), r"column 'event' not found \(did you mean 'events'\?\)"),
        (table(amount=pl.when(pl.col("itemPosition") == 2).then(None).otherwise(pl.col("amount"))), r"column 'amount' has 1 null values, first in sequence 'x'"),
        (table(sequenceId=pl.when(pl.col("itemPosition") == 2).then(None).otherwise(pl.col("sequenceId"))), r"id column 'sequenceId' has 1 null values \(first at row 3\)"),
        (table(amount=pl.when(pl.col("itemPosition") == 2).then(float("nan")).otherwise(pl.col("amount"))), r"real column 'amount' has value nan in sequence 'x'; allowed: finite numbers"),
        (table(itemPosition=pl.col("itemPosition").cast(pl.Float64)), r"position column 'itemPosition' has dtype Float64; allowed: integer"),
        (table(itemPosition=pl.lit(1)), r"sequence 'x' has position 1 more than once"),
        (table().head(0), r"input: no rows"),
    ],
)
def test_bad_input_is_one_clear_line(frame, message):
    with pytest.raises(InputError, match=message):
        encode(META, frame)


def test_pandas_input_errors_are_one_clear_line_too():
    pytest.importorskip("pandas")
    frame = table().to_pandas()
    with pytest.raises(InputError, match=r"frame: pandas column 'event' \(dtype object\) cannot be converted to polars: "):
        encode(META, frame.astype({"event": object}).assign(event=["a", 1, "b", "c", "a", "b", "c", "a"]), "frame")
    with pytest.raises(InputError, match=r"frame: expected a polars or pandas DataFrame, got Series"):
        encode(META, frame["event"], "frame")
    with pytest.raises(InputError, match=r"frame: column 'amount' not found \(did you mean 'amounts'\?\)"):
        encode(META, frame.rename(columns={"amount": "amounts"}), "frame")
    with pytest.raises(InputError, match=r"frame: column 'amount' has 1 null values"):  # pandas' NaN is a missing value
        encode(META, frame.assign(amount=[float("nan")] + [1.0] * 7), "frame")


def test_windows_of_new_data_end_at_each_sequence_or_every_stride():
    source = encoded_source(META, encode(META, table()))
    last = next(source.chunks(16, True))
    assert last["sequence"].tolist() == [0, 1]
    cat, real, mask = model_inputs(last, known_last=False)
    assert cat.shape == (2, 4, 2) and real.shape == (2, 4, 1)
    assert mask.tolist() == [[True] * 4, [False, False, True, True]]  # y has two items: left-padded
    assert last["position"][:, -1].tolist() == [6, 5]
    every = np.concatenate([c["position"][:, -1] for c in source.chunks(2, False)])
    assert every.tolist() == [4, 6, 5]  # x: items 1..4 then 3..6 (stride 2); y: one window
    assert source.counts == (3, 2)


def test_last_window_per_sequence_across_chunk_borders():
    chunks = [{"sequence": np.array(s), "end": np.array(e)} for s, e in [([0, 0, 1], [1, 2, 1]), ([1], [2]), ([2, 3, 3], [1, 1, 2])]]
    picked = list(rechunk(last_per_sequence(iter(chunks)), 2))
    assert [c["sequence"].tolist() for c in picked] == [[0, 1], [2, 3]]
    assert np.concatenate([c["end"] for c in picked]).tolist() == [2, 2, 1, 2]


def test_batch_sizes_are_a_few_powers_of_two_of_the_batch_axes():
    assert bucket_sizes(256, 8) == (8, 16, 32, 64, 128, 256)
    assert bucket_sizes(100, 8) == (8, 16, 32, 64, 104)
    assert bucket_sizes(3, 1) == (1, 2, 3)


def test_large_results_become_a_folder_of_parts_small_ones_one_file(tmp_path):
    frame = pl.DataFrame({"a": np.arange(10)})
    small = PartWriter(tmp_path / "small.csv", part_rows=100)
    small.add(frame)
    assert small.close(frame.head(0)).is_file() and pl.read_csv(tmp_path / "small.csv").equals(frame)
    large = PartWriter(tmp_path / "large.csv", part_rows=4)
    for _ in range(3):
        large.add(frame)
    assert not (tmp_path / "large.csv").exists()  # nothing under the final name before close
    path = large.close(frame.head(0))
    assert sorted(p.name for p in path.iterdir()) == [".seqjax"] + [f"part-{i:05d}.csv" for i in range(8)]  # marked as seqjax's
    assert pl.read_csv(path / "*.csv")["a"].to_list() == list(range(10)) * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.csv", "small.csv"]
