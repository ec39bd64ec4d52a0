"""Autoregressive generation over every column, with a KV cache (or by recomputation, for reference).

The window: the model was trained on windows of `context` items at positions 0..context-1,
so generation never attends over more than `context` items. A cache of `context` slots is
prefilled with the last `context` items of each sequence (right-aligned, as in training);
each new item is then one decode step that appends to the cache. When the cache is full,
the oldest quarter of the window is dropped: the remaining items move to slots 0.. and are
prefilled again (amortised: one prefill of 3/4 context per context/4 new items). With
context 8: prefill 8 items -> item 1; re-prefill the last 6 -> item 2; decode -> items 3, 4;
re-prefill the last 6 -> item 5; ...

The uncached reference recomputes the whole window for every new item and sees exactly the
same windows, so greedy generation gives the same items either way.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from seqjax.data.metadata import Metadata
from seqjax.infer.forward import Network
from seqjax.infer.sample import SamplingArgs, choose, step_keys
from seqjax.objective import NextItem
from seqjax.spec import InferMode

# Shapes: B batch, L window length (context), T generated items, C categorical columns, R real columns.


def check_generate(meta: Metadata, targets: tuple[str, ...]) -> None:
    """Every column is an input, so generating needs a prediction of every column."""
    NextItem(meta, tuple(targets), {}).check_mode(InferMode.GENERATE)


def refresh(context: int) -> int:
    """Items dropped from the window when the cache is full."""
    return max(1, context // 4)


def kept(context: int) -> int:
    """Items re-prefilled when the cache is full."""
    return max(1, context - refresh(context))


class Window(NamedTuple):
    """The items the model currently sees, in slots 0..L-1."""

    cat_BLC: jax.Array
    real_BLR: jax.Array
    mask_BL: jax.Array


class Item(NamedTuple):
    cat_BC: jax.Array
    real_BR: jax.Array


def put(window: Window, slot: jax.Array, item: Item) -> Window:
    """The window with `item` written at `slot`."""
    B = item.cat_BC.shape[0]
    return Window(
        jax.lax.dynamic_update_slice_in_dim(window.cat_BLC, item.cat_BC[:, None], slot, axis=1),
        jax.lax.dynamic_update_slice_in_dim(window.real_BLR, item.real_BR[:, None], slot, axis=1),
        jax.lax.dynamic_update_slice_in_dim(window.mask_BL, jnp.ones((B, 1), bool), slot, axis=1),
    )


def slide(window: Window, item: Item) -> Window:
    """A full window -> its last `kept - 1` items and `item` in slots 0..kept-1, later slots empty."""
    L = window.mask_BL.shape[1]
    drop = L - kept(L) + 1

    def shift(x, new):
        tail = jnp.concatenate([x[:, drop:], new[:, None]], axis=1)
        return jnp.concatenate([tail, jnp.zeros_like(x[:, : L - tail.shape[1]])], axis=1)

    B = item.cat_BC.shape[0]
    return Window(shift(window.cat_BLC, item.cat_BC), shift(window.real_BLR, item.real_BR), shift(window.mask_BL, jnp.ones((B,), bool)))


def pick(net: Network, outputs: dict[str, jax.Array], keys_B2: jax.Array, step, args: SamplingArgs) -> Item:
    """The next item from per-target outputs at one slot ([B, V] logits, [B] values)."""
    cats = [choose(step_keys(keys_B2, step, c), outputs[col.name], args) for c, col in enumerate(net.meta.categorical)]
    reals = [outputs[col.name].astype(jnp.float32) for col in net.meta.real]
    B = keys_B2.shape[0]
    cat_BC = jnp.stack(cats, axis=-1) if cats else jnp.zeros((B, 0), jnp.int32)
    real_BR = jnp.stack(reals, axis=-1) if reals else jnp.zeros((B, 0), jnp.float32)
    return Item(cat_BC, real_BR)


def _last(outputs: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return {k: v[:, -1] for k, v in outputs.items()}


def generate(
    net: Network, params, window: Window, keys_B2: jax.Array, args: SamplingArgs, *, steps: int, cached: bool = True
) -> tuple[jax.Array, jax.Array]:
    """(cat_BTC ids, real_BTR standardised values): `steps` new items after each right-aligned window."""
    run = _cached if cached else _uncached
    items = run(net, params, window, keys_B2, args, steps)
    return jnp.moveaxis(items.cat_BC, 0, 1), jnp.moveaxis(items.real_BR, 0, 1)


def _cached(net: Network, params, window: Window, keys_B2, args: SamplingArgs, steps: int) -> Item:
    model = net.model(params)
    B, L = window.mask_BL.shape
    outputs, cache = model(*window, cache=model.init_cache(B, L))
    first = pick(net, _last(outputs), keys_B2, 0, args)

    def advance(carry, step):
        cache, window, item = carry

        def decode():
            outputs, new_cache = model(item.cat_BC[:, None], item.real_BR[:, None], jnp.ones((B, 1), bool), cache=cache)
            return _last(outputs), new_cache, put(window, cache[0].index, item)

        def prefill():
            moved = slide(window, item)
            keep = kept(L)
            head = Window(moved.cat_BLC[:, :keep], moved.real_BLR[:, :keep], moved.mask_BL[:, :keep])
            outputs, new_cache = model(*head, cache=model.init_cache(B, L))
            return _last(outputs), new_cache, moved

        outputs, cache, window = jax.lax.cond(cache[0].index >= L, prefill, decode)
        item = pick(net, outputs, keys_B2, step, args)
        return (cache, window, item), item

    _, rest = jax.lax.scan(advance, (cache, window, first), jnp.arange(1, steps))
    return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)


def _uncached(net: Network, params, window: Window, keys_B2, args: SamplingArgs, steps: int) -> Item:
    model = net.model(params)
    L = window.mask_BL.shape[1]

    def at_slot(outputs, slot):
        return {k: jax.lax.dynamic_index_in_dim(v, slot, axis=1, keepdims=False) for k, v in outputs.items()}

    first = pick(net, at_slot(model(*window)[0], L - 1), keys_B2, 0, args)

    def advance(carry, step):
        window, count, item = carry
        full = count >= L
        window = jax.tree.map(lambda a, b: jnp.where(full, a, b), slide(window, item), put(window, count, item))
        count = jnp.where(full, kept(L), count + 1)
        item = pick(net, at_slot(model(*window)[0], count - 1), keys_B2, step, args)
        return (window, count, item), item

    _, rest = jax.lax.scan(advance, (window, jnp.int32(L), first), jnp.arange(1, steps))
    return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)
