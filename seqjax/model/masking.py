"""Masked-item models: a bidirectional encoder family that reads sequences with some items hidden.

    items --hide (rate, spans)--> encoder (per-item states) --Heads--> logits_BLV / value_BL at every item

A hidden item's categorical values become the MASK id of their column, one past its vocabulary (the
embedding tables have one more row; padding and unknown keep ids 0 and 1), and its real values a learned
vector. Which items are hidden is drawn with the dropout stream during training (so it depends on
(seed, step) only) and with a fixed key in evaluation, so every evaluation scores the same items; the
outputs carry the choice under `HIDDEN`. Embeddings read the clean sequence.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.heads import Readout
from seqjax.model.pooling import pool
from seqjax.spec import ModelSpec

# Shapes: B batch, L length, C categorical columns, R real columns, D dim, V vocab.

HIDDEN = ":hidden"
"""Key of the outputs holding bool [B, L]: the items that were hidden (no column is named so: it starts with a colon)."""

MASK_VALUE = "\x00mask"
"""The vocabulary entry appended to each categorical column of the encoder: its id is the column's MASK id."""

EVAL_KEY = 0
"""Seed of the hidden items in evaluation."""


def mask_id(vocab_size: int) -> int:
    """The MASK id of a column with `vocab_size` ids (reserved ones included): one past the last."""
    return vocab_size


def with_mask_ids(meta: Metadata) -> Metadata:
    """`meta` with one more vocabulary entry per categorical item column (the encoder's tables get a MASK row)."""
    columns = tuple(dataclasses.replace(c, vocab=(*c.vocab, MASK_VALUE)) if c.categorical else c for c in meta.columns)
    return dataclasses.replace(meta, columns=columns)


@dataclasses.dataclass(frozen=True)
class MaskedItems(Readout):
    """A masked-item model's readout: every item of these columns, from sequences with a share `rate` hidden in runs of `span`."""

    rate: float = 0.15
    span: int = 1

    def build(self, spec: ModelSpec, meta: Metadata, *, rngs: nnx.Rngs) -> "MaskedModel":
        return MaskedModel(spec, meta, self, rngs=rngs)


def choose(key: jax.Array, mask_BL: jax.Array, rate: float, span: int) -> jax.Array:
    """bool [B, L]: runs of `span` items starting at each real item with probability rate / span; a sequence
    where none was drawn hides its real item with the smallest draw."""
    u_BL = jax.random.uniform(key, mask_BL.shape)
    starts_BL = (u_BL < rate / span) & mask_BL
    hidden_BL = starts_BL
    for s in range(1, span):  # item j is hidden when a run starts at j - s
        hidden_BL = hidden_BL | jnp.pad(starts_BL, ((0, 0), (s, 0)))[:, : mask_BL.shape[1]]
    hidden_BL = hidden_BL & mask_BL
    first_B = jnp.argmin(jnp.where(mask_BL, u_BL, 2.0), axis=1)
    none_B1 = ~jnp.any(hidden_BL, axis=1, keepdims=True)
    return hidden_BL | (none_B1 & (jnp.arange(mask_BL.shape[1]) == first_B[:, None]) & mask_BL)


class MaskedModel(nnx.Module):
    """The encoder `model.encoder` names over tables with a MASK row, a learned vector for hidden reals, and item heads."""

    def __init__(self, spec: ModelSpec, meta: Metadata, readout: MaskedItems, *, rngs: nnx.Rngs):
        self.spec, self.rate, self.span = spec, readout.rate, readout.span
        self.columns = (len(meta.categorical), len(meta.real))
        self.mask_ids = tuple(mask_id(c.vocab_size) for c in meta.categorical)
        self.vocab = {c.name: c.vocab_size for c in meta.columns if c.categorical}
        self.encoder = spec.encoder.build(spec, with_mask_ids(meta), Readout(readout.targets), rngs=rngs)
        init = nnx.with_partitioning(nnx.initializers.zeros_init(), ("real",))
        self.hidden_real = nnx.Param(init(rngs.params(), (len(meta.real),)))
        self.rngs = rngs["dropout"].fork()
        self.pooling = spec.pooling.kind if spec.pooling.kind in ("last", "mean", "max", "sum") else "mean"

    def hide(self, cat_BLC: jax.Array, real_BLR: jax.Array, hidden_BL: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The inputs with the `hidden_BL` items replaced by MASK ids and the learned vector."""
        ids_C = jnp.asarray(self.mask_ids, cat_BLC.dtype)
        cat_BLC = jnp.where(hidden_BL[..., None], ids_C, cat_BLC)
        real_BLR = jnp.where(hidden_BL[..., None], self.hidden_real[...].astype(real_BLR.dtype), real_BLR)
        return cat_BLC, real_BLR

    def __call__(
        self, cat_BLC, real_BLR, mask_BL, positions_BL=None, cache=None, *, static_cat_BS=None, static_real_BS=None, deterministic: bool = True
    ) -> tuple[dict[str, jax.Array], Any]:
        """float32 per-item outputs of every target with some items hidden, and which (`HIDDEN`)."""
        key = jax.random.key(EVAL_KEY) if deterministic else self.rngs()
        hidden_BL = choose(key, mask_BL, self.rate, self.span)
        cat_BLC, real_BLR = self.hide(cat_BLC, real_BLR, hidden_BL)
        outputs, _ = self.encoder(cat_BLC, real_BLR, mask_BL, positions_BL, deterministic=deterministic)
        outputs = {name: value[..., : self.vocab[name]] if name in self.vocab else value for name, value in outputs.items()}
        return {**outputs, HIDDEN: hidden_BL}, None

    def item_states(self, cat_BLC, real_BLR, mask_BL, positions_BL=None) -> jax.Array:
        """float32 h_BLD of the clean sequence (nothing hidden)."""
        return self.encoder.hidden(cat_BLC, real_BLR, mask_BL, positions_BL)[0]

    def sequence_vector(self, cat_BLC, real_BLR, mask_BL, positions_BL=None, static_cat_BS=None, static_real_BS=None, *, deterministic: bool = True):
        """float32 z_BD: the clean sequence's item states pooled by `model.pooling` (last, mean, max or sum; else mean)."""
        return pool(self.pooling, self.item_states(cat_BLC, real_BLR, mask_BL, positions_BL), mask_BL)
