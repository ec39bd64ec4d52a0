"""Random sub-sequences (views) of whole sequences, drawn inside the step: the contrastive objective's data.

A sequence of n items gives `views` contiguous slices. Their lengths are drawn uniformly from
[low, high] and their starts uniformly from [0, n - length], with (pytorch-lifestream's SampleSlices):
    n <= min_length (crop rate 1):          every view is the whole sequence
    floor(n * crop_rate) <= min_length (crop rate < 1): low = max(floor(n * crop_rate), 1)
    otherwise                               low = min_length
    high = min(max_length, n)
The draws of a sequence depend only on the key (seed and step) and the sequence's row in its split's
sequence table, never on the batch, bucket or device it lands on: a resumed run sees the same views.

Batches are right-aligned (padding on the left), and so are views: a view of length l fills the last
l of its M = min(L, max_length) slots, and its items are numbered 0..l-1 from its own start.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

# Shapes: B batch, V views, L length of the batch, M length of a view, C categorical, R real columns.


@dataclasses.dataclass(frozen=True)
class Slicing:
    """How views are cut (the contrastive objective's spec fields)."""

    views: int
    min_length: int
    max_length: int
    crop_rate: float = 1.0

    def bounds(self, n: jax.Array) -> tuple[jax.Array, jax.Array]:
        """int32 (low, high) view lengths for sequences of n items (both n for a short sequence kept whole)."""
        n = n.astype(jnp.int32)
        if self.crop_rate >= 1.0:
            whole = n <= self.min_length
            low = jnp.where(whole, n, self.min_length)
        else:
            cropped = jnp.floor(n.astype(jnp.float32) * self.crop_rate).astype(jnp.int32)
            low = jnp.where(cropped <= self.min_length, jnp.maximum(cropped, 1), self.min_length)
        high = jnp.minimum(self.max_length, n)
        return jnp.minimum(low, high), high

    def draw(self, key: jax.Array, sequence_B: jax.Array, n_B: jax.Array) -> tuple[jax.Array, jax.Array]:
        """int32 (start_BV, length_BV) of each sequence's views, keyed by (key, sequence)."""
        low_B, high_B = self.bounds(n_B)

        def one(sequence, n, low, high):
            k_length, k_start = jax.random.split(jax.random.fold_in(key, sequence.astype(jnp.uint32)))
            length_V = jax.random.randint(k_length, (self.views,), low, high + 1)
            start_V = jax.random.randint(k_start, (self.views,), 0, n.astype(jnp.int32) - length_V + 1)
            return start_V, length_V

        return jax.vmap(one)(sequence_B, n_B.astype(jnp.int32), low_B, high_B)

    def width(self, length: int) -> int:
        """M: slots of a view taken from a batch of `length` slots."""
        return min(length, self.max_length)


def gather(slicing: Slicing, start_BV: jax.Array, length_BV: jax.Array, mask_BL: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(slot_BVM, mask_BVM, order_BVM): which batch slot each view slot reads, whether it holds an item, its index in the view."""
    L = mask_BL.shape[1]
    M = slicing.width(L)
    n_B11 = jnp.sum(mask_BL, axis=1).astype(jnp.int32)[:, None, None]
    offset_BVM = jnp.arange(M, dtype=jnp.int32) - (M - length_BV[..., None])  # index within the view; < 0 is padding
    mask_BVM = offset_BVM >= 0
    slot_BVM = jnp.clip(L - n_B11 + start_BV[..., None] + offset_BVM, 0, L - 1)
    return slot_BVM, mask_BVM, jnp.where(mask_BVM, offset_BVM, 0)


def take(x_BL: jax.Array, slot_BVM: jax.Array) -> jax.Array:
    """x at the view slots: [B, L, ...] -> [B, V, M, ...]."""
    B, V, M = slot_BVM.shape
    flat = slot_BVM.reshape(B, V * M)
    index = flat.reshape(flat.shape + (1,) * (x_BL.ndim - 2))
    return jnp.take_along_axis(x_BL, index, axis=1).reshape(B, V, M, *x_BL.shape[2:])


def cut(slicing: Slicing, key: jax.Array, cat_BLC, real_BLR, mask_BL, sequence_B) -> dict[str, jax.Array]:
    """The views of a batch as [B, V, M, ...] inputs (cat, real, mask, order) with their (start, length) [B, V]."""
    n_B = jnp.sum(mask_BL, axis=1)
    start_BV, length_BV = slicing.draw(key, sequence_B, n_B)
    slot_BVM, mask_BVM, order_BVM = gather(slicing, start_BV, length_BV, mask_BL)
    mask_BVM = mask_BVM & take(mask_BL, slot_BVM)
    cat = jnp.where(mask_BVM[..., None], take(cat_BLC, slot_BVM), 0)
    real = jnp.where(mask_BVM[..., None], take(real_BLR, slot_BVM), 0.0)
    return {"cat": cat, "real": real, "mask": mask_BVM, "order": order_BVM, "start": start_BV, "length": length_BV}
