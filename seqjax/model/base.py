"""What every model shares: the input embedding, an encoder's per-item states, pooling, static features and heads.

    items --Embedder--> x_BLD --encoder--> h_BLD (float32) --Heads--> per-item outputs
                                             \\--Pooling--> z_BD (+ static features) --Heads--> per-sequence outputs

An encoder family is a subclass that builds its layers (`__init__`) and maps embedded items to
states (`encode`); it knows nothing of targets. Inputs follow the metadata's column order:
cat_BLC holds the categorical columns' ids (0 = padding), real_BLR the standardised real
columns, mask_BL is False on padding. Sequences are right-aligned: the last slot holds the last
item. Parameters are float32; outputs are float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.heads import Heads, Readout, target_columns
from seqjax.model.pooling import Pooling
from seqjax.model.statics import StaticFusion
from seqjax.spec import ModelSpec

# Shapes: B batch, L length, C categorical columns, R real columns, D dim, S static features.


class SequenceModel(nnx.Module):
    """The shared part of every encoder family: input checks, positions, pooling, static fusion and heads.

    A family defines `encode(cat_BLC, real_BLR, mask_BL, positions_BL, cache, *, deterministic)`
    -> (float32 h_BLD, its caches or None), or, if it reduces a sequence itself (aggregation),
    `summarize(cat_BLC, real_BLR, mask_BL, *, deterministic)` -> float32 z_BD.
    """

    pooling_kind: str | None = None
    """A family that pools in its own way (decay, positional or attention weighting) names it here."""

    def __init__(self, spec: ModelSpec, meta: Metadata, targets):
        readout = Readout.of(targets)
        self.spec = spec
        self.columns = (len(meta.categorical), len(meta.real))
        self.per_sequence = readout.per_sequence
        self.target_columns = target_columns(meta, readout)
        self.meta_context = meta.context
        self.statics_meta = meta.statics if readout.per_sequence else ()

    def make_heads(self, rngs: nnx.Rngs) -> None:
        """Called by a family's `__init__` after its own layers, so parameters draw their keys in that order."""
        self.pooling = nnx.data(None)
        self.statics = nnx.data(None)
        if self.per_sequence:
            if not hasattr(self, "summarize"):
                self.pooling = Pooling(self.spec, self.meta_context, kind=self.pooling_kind, rngs=rngs)
            if self.statics_meta:
                self.statics = StaticFusion(self.spec, self.statics_meta, rngs=rngs)
        self.heads = Heads(self.spec.dim, self.target_columns, rngs=rngs)

    def __call__(
        self,
        cat_BLC: jax.Array,
        real_BLR: jax.Array,
        mask_BL: jax.Array,
        positions_BL: jax.Array | None = None,
        cache=None,
        *,
        static_cat_BS: jax.Array | None = None,
        static_real_BS: jax.Array | None = None,
        deterministic: bool = True,
    ) -> tuple[dict[str, jax.Array], object]:
        """float32 outputs per target (logits_BLV / value_BL per item, or logits_BV / value_B per sequence) and the caches."""
        if self.per_sequence:
            z_BD = self.sequence_vector(cat_BLC, real_BLR, mask_BL, positions_BL, static_cat_BS, static_real_BS, deterministic=deterministic)
            return self.heads(z_BD), None
        h_BLD, cache = self.hidden(cat_BLC, real_BLR, mask_BL, positions_BL, cache, deterministic=deterministic)
        return self.heads(h_BLD), cache

    def hidden(
        self,
        cat_BLC: jax.Array,
        real_BLR: jax.Array,
        mask_BL: jax.Array,
        positions_BL: jax.Array | None = None,
        cache=None,
        *,
        deterministic: bool = True,
    ) -> tuple[jax.Array, object]:
        """float32 per-item states h_BLD (what the heads read), and the caches."""
        self._check_inputs(cat_BLC, real_BLR, mask_BL)
        positions_BL = self._positions(mask_BL, positions_BL, cache)
        return self.encode(cat_BLC, real_BLR, mask_BL, positions_BL, cache, deterministic=deterministic)

    def last_outputs(self, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array) -> dict[str, jax.Array]:
        """float32 outputs per target for the item after the last slot only (logits_BV / value_B): what next-item
        prediction reads. A family may skip work no other slot needs (`last_state`)."""
        self._check_inputs(cat_BLC, real_BLR, mask_BL)
        return self.heads(self.last_state(cat_BLC, real_BLR, mask_BL, self._positions(mask_BL, None, None)))

    def last_state(self, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array, positions_BL: jax.Array) -> jax.Array:
        """float32 h_BD: the last slot's state (every slot's, then the last)."""
        return self.encode(cat_BLC, real_BLR, mask_BL, positions_BL, None, deterministic=True)[0][:, -1]

    def sequence_vector(
        self, cat_BLC, real_BLR, mask_BL, positions_BL=None, static_cat_BS=None, static_real_BS=None, *, deterministic: bool = True
    ) -> jax.Array:
        """float32 z_BD: the sequence pooled (or summarized) and fused with its static features."""
        if hasattr(self, "summarize"):
            self._check_inputs(cat_BLC, real_BLR, mask_BL)
            z_BD = self.summarize(cat_BLC, real_BLR, mask_BL, deterministic=deterministic)
        else:
            h_BLD, _ = self.hidden(cat_BLC, real_BLR, mask_BL, positions_BL, deterministic=deterministic)
            z_BD = self.pooling(h_BLD, mask_BL)
        if self.statics is not None:
            z_BD = self.statics(z_BD, static_cat_BS, static_real_BS, deterministic=deterministic)
        return z_BD

    @staticmethod
    def _positions(mask_BL: jax.Array, positions_BL: jax.Array | None, cache) -> jax.Array:
        """Default positions: the slot of each item (0..L-1, or continuing after the cached items)."""
        if positions_BL is not None:
            return positions_BL
        start = 0 if cache is None else cache[0].index
        return jnp.broadcast_to(start + jnp.arange(mask_BL.shape[1], dtype=jnp.int32), mask_BL.shape)

    def _check_inputs(self, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array) -> None:
        """Fail early, with the shapes, on inputs that do not fit the model."""
        expected = (*mask_BL.shape, self.columns[0]), (*mask_BL.shape, self.columns[1])
        if (tuple(cat_BLC.shape), tuple(real_BLR.shape)) != expected:
            got = f"cat {tuple(cat_BLC.shape)}, real {tuple(real_BLR.shape)}"
            raise ValueError(f"inputs {got} do not match mask {tuple(mask_BL.shape)}; expected cat {expected[0]} and real {expected[1]}")
