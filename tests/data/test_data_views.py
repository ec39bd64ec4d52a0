"""Views of whole sequences: lengths within the bounds (SampleSlices semantics, short sequences included),
contiguous slices of their own sequence, keyed by (key, sequence) alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.data.views import Slicing, cut

L = 24


def batch(lengths: list[int], sequences: list[int] | None = None, width: int = L):
    """Right-aligned sequences whose real column holds 1000 * row + item index (so a view shows where it came from)."""
    B = len(lengths)
    mask = np.zeros((B, width), bool)
    real = np.zeros((B, width, 1), np.float32)
    cat = np.zeros((B, width, 1), np.int32)
    for b, n in enumerate(lengths):
        mask[b, width - n :] = True
        real[b, width - n :, 0] = 1000 * b + np.arange(n)
        cat[b, width - n :, 0] = 2 + np.arange(n)
    sequence = np.arange(B) if sequences is None else np.asarray(sequences)
    return jnp.asarray(cat), jnp.asarray(real), jnp.asarray(mask), jnp.asarray(sequence)


def views_of(slicing: Slicing, lengths, key=0, sequences=None, width: int = L):
    return jax.tree.map(np.asarray, cut(slicing, jax.random.key(key), *batch(lengths, sequences, width)))


@pytest.mark.parametrize("crop_rate", [1.0, 0.5])
def test_views_are_contiguous_slices_of_their_own_sequence_within_the_bounds(crop_rate):
    slicing = Slicing(views=4, min_length=5, max_length=12, crop_rate=crop_rate)
    lengths = [0, 1, 3, 5, 6, 9, 12, 13, 20, 24]
    out = views_of(slicing, lengths)
    M = slicing.width(L)
    assert out["mask"].shape == (len(lengths), 4, M)
    for b, n in enumerate(lengths):
        cropped = int(np.floor(n * crop_rate))
        if crop_rate >= 1 and n <= 5:
            low = high = n  # a short sequence is every view
        else:
            low, high = (max(cropped, 1) if crop_rate < 1 and cropped <= 5 else 5), min(12, n)
        for v in range(4):
            length, start = out["length"][b, v], out["start"][b, v]
            assert min(low, high) <= length <= high, (n, length)
            assert 0 <= start <= n - length
            mask = out["mask"][b, v]
            assert mask.sum() == length and not mask[: M - length].any()  # right-aligned
            np.testing.assert_array_equal(out["real"][b, v, M - length :, 0], 1000 * b + start + np.arange(length))
            np.testing.assert_array_equal(out["order"][b, v, M - length :], np.arange(length))
            assert not out["real"][b, v, : M - length].any() and not out["cat"][b, v, : M - length].any()


def test_short_sequences_with_a_crop_rate_draw_shorter_views():
    slicing = Slicing(views=64, min_length=8, max_length=16, crop_rate=0.5)
    out = views_of(slicing, [6, 10])
    assert set(out["length"][0]) <= set(range(3, 7)) and len(set(out["length"][0])) > 1  # floor(6 * 0.5) = 3 .. 6
    assert set(out["length"][1]) <= set(range(5, 11))  # floor(10 * 0.5) = 5 <= 8: from 5 up to its length
    whole = views_of(Slicing(views=8, min_length=8, max_length=16), [6, 8])
    np.testing.assert_array_equal(whole["length"], [[6] * 8, [8] * 8])
    np.testing.assert_array_equal(whole["start"], 0)


def test_views_depend_on_the_key_and_the_sequence_only():
    slicing = Slicing(views=3, min_length=2, max_length=10)
    lengths, ids = [20, 15, 9, 18], [7, 3, 11, 5]
    first, again = views_of(slicing, lengths, 1, ids), views_of(slicing, lengths, 1, ids)
    for name in ("start", "length"):
        np.testing.assert_array_equal(first[name], again[name])
    other_step = views_of(slicing, lengths, 2, ids)
    assert not np.array_equal(first["start"], other_step["start"]) or not np.array_equal(first["length"], other_step["length"])
    # the same sequences in another order and in a longer bucket: each sequence gets the same views
    order = [2, 0, 3, 1]
    moved = views_of(slicing, [lengths[i] for i in order], 1, [ids[i] for i in order], width=32)
    for name in ("start", "length"):
        np.testing.assert_array_equal(moved[name], first[name][order])
