"""Inference of the sequence objective: one row per sequence, for a preprocessed split or new data.

Sequences go through the model in length buckets, as in training (each bucket compiles once); rows
come out in ascending id order. New data is encoded with the training run's vocabularies and
statistics, cut to `max_length` like the training data, and its static features are read from a
table of one row per sequence (`infer.static`) or from constant columns of the item table.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Iterator, Sequence

import numpy as np
import polars as pl

from seqjax.data import sequences as batching
from seqjax.data.metadata import Metadata, sequences_file
from seqjax.data.pipeline import split_source as records_of
from seqjax.infer import inputs, writers
from seqjax.infer.decode import decode_categorical, decode_real
from seqjax.preprocess import labels
from seqjax.preprocess.write import kept_rows
from seqjax.spec import InferMode


@dataclasses.dataclass(frozen=True)
class SequenceSource:
    """Whole-sequence records to infer on and the ids their `sequence` field indexes."""

    ids: pl.Series
    records: Sequence[dict]
    """Random access to records (seqjax.data.records layout)."""
    lengths: np.ndarray
    """int64 [records] items each record holds."""
    known: bool
    """The records carry true labels (a split): a quality summary can be made."""

    @property
    def counts(self) -> tuple[int, int]:
        return len(self.lengths), len(self.lengths)

    @property
    def known_last(self) -> bool:
        """As for windows: whether a quality summary can be made (here: the labels are known)."""
        return self.known


def split_source(meta: Metadata, data_dir: pathlib.Path, split: str) -> SequenceSource:
    ids = pl.read_parquet(pathlib.Path(data_dir) / sequences_file(split)).to_series() if meta.splits[split].windows else pl.Series([], dtype=pl.Int64)
    return SequenceSource(ids=ids, records=records_of(meta, data_dir, split), lengths=batching.lengths(meta, data_dir, split), known=True)


def statics_of(meta: Metadata, frame, static, source: str) -> pl.DataFrame:
    """The static features of new data, one row per sequence in ascending id order: from `static` (a table or its
    path) when given, else from constant columns of the item frame."""
    if not meta.statics:
        return pl.DataFrame()
    frame = inputs.as_polars(frame, source)
    ids = frame[meta.id_column].unique().sort()
    with inputs.input_errors():
        if static is not None:
            where = str(static) if isinstance(static, (str, pathlib.Path)) else "static"
            table = inputs.read_table(where) if isinstance(static, (str, pathlib.Path)) else inputs.as_polars(static, where)
            out = labels.align(table, meta.id_column, ids, where, "static features")
            missing = [c.name for c in meta.statics if c.name not in out.columns]
            if missing:
                raise inputs.InputError(f"{where}: has no static feature {missing[0]!r}; the model was trained with {[c.name for c in meta.statics]}")
        else:
            missing = [c.name for c in meta.statics if c.name not in frame.columns]
            if missing:
                raise inputs.InputError(f"{source}: static feature {missing[0]!r} is not a column; give the static features as a table (--static PATH)")
            out = pl.DataFrame({c.name: labels.constant(frame.lazy(), meta.id_column, c.name, ids, source) for c in meta.statics})
    casts = [pl.col(c.name).cast(pl.Float64) for c in meta.statics if not c.categorical]
    return out.select([c.name for c in meta.statics]).with_columns(casts)


def encoded_source(meta: Metadata, encoded: inputs.Encoded, statics: pl.DataFrame) -> SequenceSource:
    """New data as in-memory records, each cut to `max_length` items as in training (the last ones, unless the
    run kept the first)."""
    truncate = meta.settings.get("data", {}).get("truncate", "last")
    count = len(encoded.ids)
    static_cat, static_real = np.zeros((count, 0), np.int32), np.zeros((count, 0), np.float32)
    if meta.statics:
        with inputs.input_errors():
            static_cat, static_real = labels.encoded(statics, meta.statics, count)
    rows, records, kept = encoded.rows, [], []
    Lc, Lr = sum(c.categorical for c in meta.labels), sum(not c.categorical for c in meta.labels)
    for s in range(len(encoded.ids)):
        a, b = kept_rows(int(rows.starts[s]), int(rows.starts[s + 1]), meta.context, truncate)
        records.append({
            "cat": rows.cat[a:b], "real": rows.real[a:b], "position": rows.position[a:b], "sequence": np.int64(s),
            "label_cat": np.zeros(Lc, np.int32), "label_real": np.zeros(Lr, np.float32),
            "static_cat": static_cat[s], "static_real": static_real[s],
        })  # fmt: skip
        kept.append(b - a)
    return SequenceSource(ids=encoded.ids, records=records, lengths=np.asarray(kept, np.int64), known=False)


def batches(source: SequenceSource, meta: Metadata, size: int) -> Iterator[tuple[np.ndarray, dict]]:
    """(record indices, padded batch) of at most `size` records of one length bucket, bucket by bucket."""
    buckets = batching.bucket_of(source.lengths, meta.buckets)
    for b, length in enumerate(meta.buckets):
        members = np.flatnonzero(buckets == b)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            yield chunk, batching.padded([source.records[int(i)] for i in chunk], length, meta)


def model_inputs(batch: dict) -> tuple[np.ndarray, ...]:
    """What the per-sequence functions take: (cat, real, mask, order, static_cat, static_real)."""
    return tuple(batch[k] for k in ("cat", "real", "mask", "order", "static_cat", "static_real"))


def frames(functions, objective, source: SequenceSource, job, *, quality=None, bar=None) -> Iterator[pl.DataFrame]:
    """One frame of every sequence's result, rows in ascending id order."""
    meta, parts, order = objective.meta, [], []
    for chunk, batch in batches(source, meta, functions.buckets[-1]):
        if job.mode == InferMode.EMBED:
            vectors = functions.run("sequence_embed", model_inputs(batch))
            parts.append(writers.embed_frame(meta, source.ids, batch["sequence"], None, vectors))
        else:
            out = functions.run("sequence", model_inputs(batch))
            if quality is not None and source.known:
                quality.add(out, batch)
            parts.append(_frame(meta, objective, job, source.ids, batch["sequence"], out))
        order.append(chunk)
        if bar is not None:
            bar.update(len(chunk))
    if not parts:
        return
    rows = np.argsort(np.concatenate(order), kind="stable")
    yield pl.concat(parts)[rows]


def _frame(meta: Metadata, objective, job, ids: pl.Series, sequence: np.ndarray, out: dict) -> pl.DataFrame:
    keys = [ids.gather(sequence).alias(meta.id_column)]
    if job.mode == InferMode.PROBABILITIES:
        series = keys
        for t in objective.targets:
            if t.categorical:
                probs_NV = out["probabilities"][t.name][:, 2:].astype(np.float32)
                series += [pl.Series(name, probs_NV[:, v]) for v, name in enumerate(writers.class_names(meta, t.name))]
        return pl.DataFrame(series)
    values = []
    for t in objective.targets:
        column = meta.column(t.name)
        predicted = out["predicted"][t.name]
        values.append(decode_categorical(column, predicted) if column.categorical else decode_real(column, predicted))
    return pl.DataFrame(keys + values)


def empty(meta: Metadata, objective, job, dim: int) -> pl.DataFrame:
    """The columns a job writes, without rows."""
    ids = pl.Series(meta.id_column, [], dtype=pl.Int64)
    if job.mode == InferMode.EMBED:
        return writers.embed_frame(meta, ids, np.zeros(0, np.int64), None, np.zeros((0, dim), np.float32))
    out = {
        "predicted": {t.name: np.zeros(0, np.int32 if t.categorical else np.float32) for t in objective.targets},
        "probabilities": {t.name: np.zeros((0, t.vocab_size), np.float32) for t in objective.targets if t.categorical},
    }
    return _frame(meta, objective, job, ids, np.zeros(0, np.int64), out)


class Quality:
    """The objective's metrics of the predictions on a split, beside the naive baselines."""

    def __init__(self, objective):
        self.objective, self.parts = objective, []

    def add(self, out: dict, batch: dict) -> None:
        self.parts.append((out, batch))

    def summary(self) -> dict:
        report = {}
        for t in self.objective.targets:
            if t.categorical:
                predicted = np.concatenate([o["probabilities"][t.name] for o, _ in self.parts])
                labels_ = np.concatenate([b["label_cat"][:, t.index] for _, b in self.parts])
            else:
                predicted = np.concatenate([o["predicted"][t.name] for o, _ in self.parts])
                labels_ = np.concatenate([b["label_real"][:, t.index] for _, b in self.parts])
            if len(labels_):
                report[t.name] = self.objective.metrics(t, predicted, labels_)
        return report

