"""Batches of whole sequences: length buckets, a seeded shuffle that covers every sequence once per epoch,
an iterator that resumes exactly, and processes that read only their rows of each global batch."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from tiny import write_sequence_experiment

from seqjax import experiment
from seqjax.data import pipeline, sequences
from seqjax.data.metadata import Metadata
from seqjax.spec import load_spec


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Metadata, pathlib.Path]:
    spec = load_spec(write_sequence_experiment(tmp_path_factory.mktemp("sequences"), sequences=90))
    experiment.preprocess(spec)
    return spec.paths.metadata(), spec.paths.data


def test_each_batch_holds_one_bucket_padded_to_its_length(data):
    meta, folder = data
    lengths = sequences.lengths(meta, folder, "train")
    assert meta.buckets == (8, 16, 24) and lengths.max() <= 24
    assert list(sequences.bucket_of(np.array([1, 8, 9, 16, 17, 24]), meta.buckets)) == [0, 0, 1, 1, 2, 2]
    iterator = pipeline.train_iterator(meta, folder, global_batch=8, seed=3)
    for _ in range(6):
        batch = next(iterator)
        L = batch["mask"].shape[1]
        assert L in meta.buckets
        real = batch["mask"][batch["valid"]].sum(1)
        assert np.all(real <= L) and np.all(real > (0 if L == 8 else meta.buckets[meta.buckets.index(L) - 1]))
        assert np.all(batch["mask"][:, -1] == batch["valid"])  # right-aligned: the last slot is the last item
        assert np.all(batch["order"][batch["mask"]] >= 0)


def test_an_epoch_covers_every_sequence_once_and_the_seed_decides_the_order(data):
    meta, folder = data
    count = meta.splits["train"].windows
    per_epoch = sequences._EpochBatches(pipeline.split_source(meta, folder, "train"), meta, sequences.lengths(meta, folder, "train"), 8, 0, range(8)).per_epoch
    seen = []
    iterator = pipeline.train_iterator(meta, folder, global_batch=8, seed=1)
    for _ in range(per_epoch):
        batch = next(iterator)
        seen += batch["sequence"][batch["valid"]].tolist()
    assert sorted(seen) == list(range(count))
    again = pipeline.train_iterator(meta, folder, global_batch=8, seed=1)
    other = pipeline.train_iterator(meta, folder, global_batch=8, seed=2)
    first, second = next(again), next(other)
    np.testing.assert_array_equal(first["sequence"], next(pipeline.train_iterator(meta, folder, global_batch=8, seed=1))["sequence"])
    assert not np.array_equal(first["sequence"], second["sequence"]) or first["mask"].shape != second["mask"].shape


def test_the_iterator_state_resumes_the_exact_next_batch(data):
    meta, folder = data
    iterator = pipeline.train_iterator(meta, folder, global_batch=8, seed=0)
    for _ in range(5):
        next(iterator)
    state = iterator.get_state()
    expected = [next(iterator) for _ in range(4)]
    resumed = pipeline.train_iterator(meta, folder, global_batch=8, seed=0)
    resumed.set_state(state)
    for want in expected:
        got = next(resumed)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_processes_read_their_rows_of_the_same_global_batches(data):
    meta, folder = data
    whole = pipeline.train_iterator(meta, folder, global_batch=8, seed=0)
    halves = [pipeline.train_iterator(meta, folder, global_batch=8, seed=0, rows=range(4 * p, 4 * p + 4)) for p in (0, 1)]
    for _ in range(4):
        batch, parts = next(whole), [next(h) for h in halves]
        for key in batch:
            np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), batch[key])


def test_evaluation_batches_cover_each_record_once(data):
    meta, folder = data
    for split in ("train", "valid"):
        indices = np.concatenate([b["index"] for b in pipeline.eval_batches(meta, folder, split, global_batch=8)])
        assert sorted(indices[indices >= 0].tolist()) == list(range(meta.splits[split].windows))
