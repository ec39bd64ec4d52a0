"""Pooling: per-item states h_BLD and the mask -> one vector per sequence z_BD.

Windows and sequences are right-aligned (the last slot holds the last item, padding is on
the left), so `last` is the last slot whatever the length.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqjax.spec import Pooling

# Shapes: B batch, L length, D dim.


def pool(kind: Pooling | str, h_BLD: jax.Array, mask_BL: jax.Array) -> jax.Array:
    """A parameter-free pooling: the last item's state, or the mean over real items."""
    if Pooling(kind) == Pooling.LAST:
        return h_BLD[:, -1]
    weight_BL1 = mask_BL.astype(jnp.float32)[..., None]
    return jnp.sum(h_BLD * weight_BL1, axis=1) / jnp.maximum(jnp.sum(weight_BL1, axis=1), 1.0)
