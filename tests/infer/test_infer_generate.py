"""Generation: the KV cache gives the recomputed items, sampling is seeded, positions continue."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqjax.infer.generate import check_generate, kept, refresh
from seqjax.spec import SpecError

STEPS = 12  # context 8: prefill, then re-prefills of the last 6 items at steps 2, 5, 8 and 11 (also the run's infer.steps)


def assert_same_items(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    for name in ("sequenceId", "itemPosition", "event", "channel"):
        assert a[name].to_list() == b[name].to_list(), name
    for name in ("amount", "duration"):
        np.testing.assert_allclose(a[name].to_numpy(), b[name].to_numpy(), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def greedy(predictor, new_data) -> pl.DataFrame:
    return predictor.generate(new_data, STEPS)


def test_the_window_scheme_for_context_8():
    assert (refresh(8), kept(8)) == (2, 6)
    assert (refresh(1), kept(1)) == (1, 1)
    assert (refresh(256), kept(256)) == (64, 192)


def test_cached_generation_equals_recomputation_item_for_item(predictor, new_data, greedy):
    uncached = predictor.generate(new_data, STEPS, cached=False)
    assert greedy.height == len(new_data["sequenceId"].unique()) * STEPS
    assert_same_items(greedy, uncached)


def test_first_generated_item_is_the_prediction_and_positions_continue(predictor, new_data, greedy):
    first = greedy.group_by("sequenceId", maintain_order=True).head(1)
    assert_same_items(first, predictor.predict(new_data))
    last = new_data.group_by("sequenceId").agg(pl.col("itemPosition").max().alias("last"))
    steps = greedy.join(last, on="sequenceId").with_columns(offset=pl.col("itemPosition") - pl.col("last"))
    assert steps.group_by("sequenceId").agg(pl.col("offset"))["offset"].to_list() == [list(range(1, STEPS + 1))] * last.height


def test_sampling_is_reproducible_under_a_seed(predictor, new_data, greedy):
    a = predictor.generate(new_data, STEPS, temperature=1.5, top_k=3, seed=7)
    b = predictor.generate(new_data, STEPS, temperature=1.5, top_k=3, seed=7)
    c = predictor.generate(new_data, STEPS, temperature=1.5, top_k=3, seed=8)
    assert a.equals(b)
    assert a["event"].to_list() != c["event"].to_list()
    assert a["event"].to_list() != greedy["event"].to_list()
    # top-k = 1 leaves only the most likely class: the same items as greedy generation
    assert_same_items(predictor.generate(new_data, STEPS, temperature=1.5, top_k=1, seed=7), greedy)


def test_generated_categories_are_the_users_own(predictor, new_data):
    sampled = predictor.generate(new_data, STEPS, temperature=2.0, seed=1)
    assert sampled["event"].null_count() == 0 and sampled["channel"].null_count() == 0
    assert set(sampled["event"]) <= set(predictor.meta.column("event").vocab)


def test_generating_needs_every_column_as_a_target(predictor):
    with pytest.raises(SpecError, match=r"train.targets = \['event', 'amount'\].*missing \['channel', 'duration'\]"):
        check_generate(predictor.meta, ("event", "amount"))


@pytest.mark.parametrize("steps", [0, -2, 1.5])
def test_generate_refuses_a_step_count_that_is_not_a_positive_whole_number(predictor, new_data, steps):
    with pytest.raises(ValueError, match=rf"steps = {steps}: must be a whole number of items, at least 1"):
        predictor.generate(new_data, steps)
