"""Vocabularies of categorical columns and statistics of real columns, learned on the train split."""

from __future__ import annotations

import numpy as np
import polars as pl

from seqjax.data.metadata import RESERVED, UNKNOWN, ColumnMeta
from seqjax.spec import ColumnKind, DataSpec


def _vocab(values: pl.Series) -> tuple:
    """Distinct values, ascending, as plain JSON-ready Python values."""
    return tuple(values.unique().sort().to_list())


def _stats(values: np.ndarray) -> tuple[float, float]:
    """Mean and population std; a constant (or empty) column keeps std 1 so it stays finite."""
    if values.size == 0:
        return 0.0, 1.0
    mean, std = float(values.mean()), float(values.std())
    return mean, (std if std > 0 and np.isfinite(std) else 1.0)


def learn(spec: DataSpec, frame: pl.DataFrame, train: np.ndarray, dtypes: dict[str, str]) -> tuple[ColumnMeta, ...]:
    """A ColumnMeta per feature column, from the rows marked in `train` only."""
    rows = frame.filter(pl.Series(train))
    metas = []
    for column in spec.columns:
        dtype = dtypes[column.name]
        if column.kind == ColumnKind.CATEGORICAL:
            metas.append(ColumnMeta(name=column.name, kind=column.kind.value, dtype=dtype, vocab=_vocab(rows[column.name])))
        else:
            mean, std = _stats(rows[column.name].to_numpy())
            metas.append(ColumnMeta(name=column.name, kind=column.kind.value, dtype=dtype, mean=mean, std=std))
    return tuple(metas)


def encode_categorical(values: pl.Series, meta: ColumnMeta) -> np.ndarray:
    """int32 ids: vocab entry i -> i + RESERVED; values outside the vocab -> UNKNOWN."""
    if not meta.vocab:
        return np.full(len(values), UNKNOWN, np.int32)
    ids = pl.Series(range(RESERVED, RESERVED + len(meta.vocab)), dtype=pl.Int32)
    old = pl.Series(meta.vocab, dtype=values.dtype)
    return values.replace_strict(old, ids, default=UNKNOWN, return_dtype=pl.Int32).to_numpy()


def encode(frame: pl.DataFrame, metas: tuple[ColumnMeta, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Stacked model inputs: cat int32 [rows, C] and standardised real float32 [rows, R]."""
    cats = [encode_categorical(frame[m.name], m) for m in metas if m.kind == ColumnKind.CATEGORICAL]
    reals = [((frame[m.name].to_numpy() - m.mean) / m.std).astype(np.float32) for m in metas if m.kind == ColumnKind.REAL]
    cat = np.stack(cats, axis=1) if cats else np.zeros((frame.height, 0), np.int32)
    real = np.stack(reals, axis=1) if reals else np.zeros((frame.height, 0), np.float32)
    return np.ascontiguousarray(cat, np.int32), np.ascontiguousarray(real, np.float32)
