"""Whole sequences (objectives that read whole sequences): labels, static features, split and length buckets.

Everything per sequence is small (one row each), so it is read, learned and encoded here in one
piece, before the buckets of items are written; each bucket gets its slice of the encoded arrays.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import polars as pl

from seqjax.data.metadata import SPLITS, ColumnMeta
from seqjax.preprocess import labels, split, vocab
from seqjax.preprocess.write import PerSequenceArrays
from seqjax.spec import DataSpec


@dataclasses.dataclass(frozen=True)
class Whole:
    ranges: split.Ranges
    """Every item of a sequence belongs to its split: rows [0, length)."""
    arrays: PerSequenceArrays
    labels: tuple[ColumnMeta, ...]
    statics: tuple[ColumnMeta, ...]
    label_counts: dict[str, list[int]]
    buckets: tuple[int, ...]
    max_length: int

    def metadata(self, lengths: np.ndarray) -> dict:
        """The Metadata fields of whole sequences."""
        return {
            "view": "sequences",
            "labels": self.labels,
            "statics": self.statics,
            "label_counts": self.label_counts,
            "buckets": self.buckets,
            "truncated": int(np.sum(lengths > self.max_length)),
        }


def boundaries(spec: DataSpec, train_lengths: np.ndarray) -> tuple[int, ...]:
    """Upper lengths of the buckets: `data.buckets` (capped by the longest kept sequence), else the train
    lengths' quantiles at 1/k, 2/k, ... 1 for k = `data.bucket_count` (duplicates merged)."""
    longest = int(min(max(train_lengths.max(initial=1), 1), spec.max_length))
    if spec.buckets:
        inside = [b for b in spec.buckets if b < longest]
        return (*inside, longest)
    kept = np.minimum(train_lengths, spec.max_length)
    quantiles = np.quantile(kept, np.arange(1, spec.bucket_count + 1) / spec.bucket_count, method="higher") if len(kept) else [longest]
    return tuple(sorted(set(int(q) for q in quantiles) | {longest}))


def _dtypes(frame: pl.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.schema.items()}


def prepare(spec: DataSpec, ids: pl.Series, lengths: np.ndarray, files: list[pathlib.Path], seed: int) -> Whole:
    """Read the labels and static features, split the sequences, learn and encode the per-sequence columns."""
    per = labels.read_per_sequence(spec, ids, files)
    codes = per.split if per.split is not None else split.sequence_codes(ids, spec.split.fractions, seed)
    train = codes == SPLITS.index("train")
    label_metas = vocab.learn(per.label_columns, per.labels, train, _dtypes(per.labels)) if per.label_columns else ()
    static_metas = vocab.learn(spec.static, per.statics, train, _dtypes(per.statics)) if spec.static else ()
    label_cat, label_real = labels.encoded(per.labels, label_metas, len(ids))
    static_cat, static_real = labels.encoded(per.statics, static_metas, len(ids))
    counts = {}
    categorical = [m for m in label_metas if m.categorical]
    for k, meta in enumerate(categorical):
        counts[meta.name] = np.bincount(label_cat[train, k], minlength=meta.vocab_size).tolist()
    return Whole(
        ranges=split.members(codes, lengths, first=0),
        arrays=PerSequenceArrays(label_cat=label_cat, label_real=label_real, static_cat=static_cat, static_real=static_real),
        labels=label_metas,
        statics=static_metas,
        label_counts=counts,
        buckets=boundaries(spec, lengths[train]),
        max_length=spec.max_length,
    )
