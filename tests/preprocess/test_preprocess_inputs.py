"""Input forms (csv, parquet, folder, glob), shard formats, and reuse by fingerprint."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest
from preprocess_tables import data_spec, load, two_sequences

from seqjax.data.metadata import Metadata
from seqjax.preprocess import preprocess
from seqjax.spec import SpecError, load_spec


def load_spec_text(text: str, folder):
    path = folder / "spec.toml"
    path.write_text(text)
    return load_spec(path)


def windows_of(data) -> dict[str, dict[str, np.ndarray]]:
    return {s: load(data, s) for s in ("train", "valid", "test")}


def same_windows(left, right) -> bool:
    a, b = windows_of(left), windows_of(right)
    return a.keys() == b.keys() and all(a[s].keys() == b[s].keys() and all(np.array_equal(a[s][k], b[s][k]) for k in a[s]) for s in a)


def test_csv_folder_and_glob_inputs_match_parquet(table_file, tmp_path):
    reference = preprocess(data_spec(table_file), tmp_path / "parquet", seed=0)
    csv = tmp_path / "table.csv"
    two_sequences().write_csv(csv)
    folder = tmp_path / "parts"
    folder.mkdir()
    frame = two_sequences()
    frame.filter(pl.col("sequenceId") == 7).write_parquet(folder / "a.parquet")
    frame.filter(pl.col("sequenceId") == 3).write_csv(folder / "b.csv")
    for name, source in (("csv", csv), ("folder", folder), ("glob", folder / "*.parquet")):
        data = preprocess(data_spec(source), tmp_path / name, seed=0)
        if name == "glob":  # only sequence 7
            assert Metadata.read(data).rows == 9
        else:
            assert same_windows(reference, data), name


def test_shards_are_array_record_files_listed_with_their_sizes(table_file, tmp_path):
    data = preprocess(data_spec(table_file, shard_windows=2), tmp_path / "ar", seed=0)
    meta = Metadata.read(data)
    assert all(len(meta.splits[s].files) == -(-meta.splits[s].windows // 2) for s in meta.splits)
    assert meta.splits["train"].files[0] == "train-00000.array_record"
    assert [(data / f).stat().st_size for f in meta.splits["train"].files] == list(meta.splits["train"].sizes)
    with pytest.raises(SpecError, match=r"data.format = 'parquet': must be one of 'arrayrecord'"):
        load_spec_text(f'[data]\ninput = "{table_file}"\ncolumns = [{{ name = "event", kind = "categorical" }}]\nformat = "parquet"\n[train]\ntargets = ["event"]\n', tmp_path)

def test_unchanged_input_and_settings_reuse_the_data(table_file, tmp_path, capsys):
    spec = data_spec(table_file)
    data = preprocess(spec, tmp_path / "run", seed=0)
    written = (data / "metadata.json").stat().st_mtime_ns
    assert preprocess(spec, tmp_path / "run", seed=0) == data
    assert (data / "metadata.json").stat().st_mtime_ns == written
    assert "reusing" in capsys.readouterr().out
    preprocess(data_spec(table_file, stride=1), tmp_path / "run", seed=0)
    assert Metadata.read(data).stride == 1
    rebuilt = Metadata.read(data).fingerprint
    preprocess(data_spec(table_file, stride=1), tmp_path / "run", seed=1)
    assert Metadata.read(data).fingerprint != rebuilt


def test_touched_input_is_rebuilt(table_file, tmp_path, capsys):
    spec = data_spec(table_file)
    data = preprocess(spec, tmp_path / "run", seed=0)
    before = Metadata.read(data).fingerprint
    stat = table_file.stat()
    os.utime(table_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    capsys.readouterr()
    preprocess(spec, tmp_path / "run", seed=0)
    assert "reusing" not in capsys.readouterr().out
    assert Metadata.read(data).fingerprint != before
