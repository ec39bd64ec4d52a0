"""What every model shares: the input embedding, an encoder's per-item states, and the heads.

    items --Embedder--> x_BLD --encoder--> h_BLD (float32) --Heads--> per-item outputs

An encoder family is a subclass that builds its layers (`__init__`) and maps embedded items to
states (`encode`); it knows nothing of targets. Inputs follow the metadata's column order:
cat_BLC holds the categorical columns' ids (0 = padding), real_BLR the standardised real
columns, mask_BL is False on padding. Parameters are float32; outputs are float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.heads import Heads, target_columns
from seqjax.spec import ModelSpec

# Shapes: B batch, L length, C categorical columns, R real columns, D dim.


class SequenceModel(nnx.Module):
    """The shared part of every encoder family: input checks, positions and heads.

    A family defines `encode(cat_BLC, real_BLR, mask_BL, positions_BL, cache, *, deterministic)`
    -> (float32 h_BLD, its caches or None).
    """

    def __init__(self, spec: ModelSpec, meta: Metadata, targets: tuple[str, ...]):
        self.spec = spec
        self.columns = (len(meta.categorical), len(meta.real))
        self.target_columns = target_columns(meta, tuple(targets))

    def make_heads(self, rngs: nnx.Rngs) -> None:
        """Called by a family's `__init__` after its own layers, so parameters draw their keys in that order."""
        self.heads = Heads(self.spec.dim, self.target_columns, rngs=rngs)

    def __call__(
        self,
        cat_BLC: jax.Array,
        real_BLR: jax.Array,
        mask_BL: jax.Array,
        positions_BL: jax.Array | None = None,
        cache=None,
        *,
        deterministic: bool = True,
    ) -> tuple[dict[str, jax.Array], object]:
        """float32 logits_BLV / value_BL per target, and the updated caches (None without)."""
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
