"""One test per bad-input message; a failing run leaves no data folder behind."""

from __future__ import annotations

import polars as pl
import pytest
from preprocess_tables import AMOUNT, EVENT, data_spec, two_sequences

from seqjax.preprocess import PreprocessError, preprocess, write
from seqjax.spec import ColumnKind, ColumnSpec


def fails(tmp_path, frame: pl.DataFrame | None, columns=(EVENT, AMOUNT), name: str = "t.parquet") -> str:
    """Preprocess `frame` and return the PreprocessError message (checked to be one line)."""
    path = tmp_path / name
    if frame is not None:
        frame.write_parquet(path)
    with pytest.raises(PreprocessError) as error:
        preprocess(data_spec(path, columns=columns), tmp_path / "run", seed=0)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert not (tmp_path / "run" / "data").exists()
    assert not list(tmp_path.glob("run/.data*"))
    return message


def test_missing_column_suggests_a_close_name(tmp_path):
    message = fails(tmp_path, two_sequences(), columns=(ColumnSpec(name="evnt", kind=ColumnKind.CATEGORICAL),))
    assert "column 'evnt' not found (did you mean 'event'?)" in message
    assert "available columns: ['sequenceId', 'itemPosition', 'event', 'amount']" in message


def test_missing_id_column(tmp_path):
    message = fails(tmp_path, two_sequences().rename({"sequenceId": "seq"}))
    assert "column 'sequenceId' not found" in message


def test_null_id(tmp_path):
    frame = two_sequences().with_columns(pl.when(pl.col("amount") == 4.0).then(None).otherwise(pl.col("sequenceId")).alias("sequenceId"))
    message = fails(tmp_path, frame)
    assert "id column 'sequenceId' has 1 null values" in message


def test_null_feature_names_the_sequence(tmp_path):
    frame = two_sequences().with_columns(pl.when(pl.col("amount") == 11.0).then(None).otherwise(pl.col("event")).alias("event"))
    message = fails(tmp_path, frame)
    assert "column 'event' has 1 null values, first in sequence 3" in message


def test_nan_real_value_names_the_sequence(tmp_path):
    frame = two_sequences().with_columns(pl.when(pl.col("amount") == 4.0).then(float("nan")).otherwise(pl.col("amount")).alias("amount"))
    message = fails(tmp_path, frame)
    assert "real column 'amount' has value nan in sequence 7" in message


def test_duplicate_pair_names_sequence_and_position(tmp_path):
    frame = pl.concat([two_sequences(), two_sequences().filter(pl.col("itemPosition") == 103)])
    message = fails(tmp_path, frame)
    assert "sequence 7 has position 103 more than once" in message


def test_float_declared_categorical(tmp_path):
    message = fails(tmp_path, two_sequences(), columns=(ColumnSpec(name="amount", kind=ColumnKind.CATEGORICAL),))
    assert "categorical column 'amount' has dtype Float64; allowed: string, integer or boolean" in message


def test_string_declared_real(tmp_path):
    message = fails(tmp_path, two_sequences(), columns=(ColumnSpec(name="event", kind=ColumnKind.REAL),))
    assert "real column 'event' has dtype String; allowed: integer or float" in message


def test_float_position(tmp_path):
    message = fails(tmp_path, two_sequences().with_columns(pl.col("itemPosition").cast(pl.Float64)))
    assert "position column 'itemPosition' has dtype Float64; allowed: integer" in message


def test_missing_file(tmp_path):
    message = fails(tmp_path, None, name="nowhere.parquet")
    assert message.endswith("nowhere.parquet: no such file or folder")


def test_empty_input(tmp_path):
    message = fails(tmp_path, two_sequences().clear())
    assert "no rows" in message


def test_unreadable_file(tmp_path):
    (tmp_path / "t.parquet").write_text("not parquet")
    message = fails(tmp_path, None)
    assert "cannot read input" in message


def test_crash_leaves_no_data_folder(table_file, tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(write, "write_split", explode)
    with pytest.raises(RuntimeError):
        preprocess(data_spec(table_file), tmp_path / "run", seed=0)
    assert list((tmp_path / "run").iterdir()) == []


def test_failed_rebuild_keeps_the_previous_complete_data(table_file, tmp_path):
    data = preprocess(data_spec(table_file), tmp_path / "run", seed=0)
    before = (data / "metadata.json").read_text()
    with pytest.raises(PreprocessError):
        preprocess(data_spec(table_file, columns=(ColumnSpec(name="evnt", kind=ColumnKind.CATEGORICAL),)), tmp_path / "run", seed=0)
    assert (data / "metadata.json").read_text() == before
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["data"]
