"""Fixtures for the preprocessing tests."""

from __future__ import annotations

import pathlib

import pytest
from preprocess_tables import two_sequences


@pytest.fixture
def table_file(tmp_path) -> pathlib.Path:
    path = tmp_path / "table.parquet"
    two_sequences().write_parquet(path)
    return path
