"""From model ids and standardised values back to the user's categories and units."""

from __future__ import annotations

import numpy as np
import polars as pl

from seqjax.data.metadata import RESERVED, ColumnMeta


def polars_dtype(name: str) -> pl.DataType:
    """`Int64`, `String`, `Boolean`, ... (as stored in metadata) -> the polars dtype."""
    dtype = getattr(pl, name.split("(")[0], None)
    return dtype if dtype is not None else pl.String


def decode_categorical(column: ColumnMeta, ids: np.ndarray) -> pl.Series:
    """Ids -> original values; reserved ids (padding, unknown) become null."""
    vocab = pl.Series(column.name, list(column.vocab), dtype=polars_dtype(column.dtype), strict=False)
    index = ids.astype(np.int64) - RESERVED
    values = vocab.gather(np.clip(index, 0, None))
    frame = pl.DataFrame({"value": values, "known": index >= 0})
    return frame.select(pl.when("known").then("value").alias(column.name)).to_series()


def decode_real(column: ColumnMeta, values: np.ndarray) -> pl.Series:
    return pl.Series(column.name, values.astype(np.float64) * column.std + column.mean)
