"""Output heads, one per target: logits over a categorical column's ids, or one real value."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import PAD, Metadata

# Shapes: B batch, L length, D dim, V vocab.

NEVER = -1e9
"""Logit given to ids that are never predicted (padding); finite, so losses stay finite."""

_kernel_init = nnx.initializers.lecun_normal()


def check_targets(meta: Metadata, targets: tuple[str, ...]) -> None:
    """Every target must be one of the data's columns."""
    names = [c.name for c in meta.columns]
    missing = [t for t in targets if t not in names]
    if missing:
        raise ValueError(f"targets {missing} are not columns of the data; columns are {names}")
    if not targets:
        raise ValueError(f"the model needs at least one target; columns are {names}")


class Heads(nnx.Module):
    """float32 outputs per target: logits_BLV (categorical) or value_BL (real)."""

    def __init__(self, dim: int, meta: Metadata, targets: tuple[str, ...], *, rngs: nnx.Rngs):
        check_targets(meta, targets)
        columns = {c.name: c for c in meta.columns}
        self.targets = tuple(targets)
        self.categorical = tuple(columns[t].kind == "categorical" for t in targets)
        self.layers = nnx.List([self._head(dim, columns[t].vocab_size if cat else 0, rngs) for t, cat in zip(targets, self.categorical)])

    @staticmethod
    def _head(dim: int, vocab: int, rngs: nnx.Rngs) -> nnx.Linear:
        """D -> V for a categorical target (vocab > 0), D -> 1 for a real one."""
        out, name = (vocab, "vocab") if vocab else (1, "value")
        return nnx.Linear(
            dim,
            out,
            dtype=jnp.float32,
            kernel_init=nnx.with_partitioning(_kernel_init, ("embed", name)),
            bias_init=nnx.with_partitioning(nnx.initializers.zeros_init(), (name,)),
            rngs=rngs,
        )

    def __call__(self, x_BLD: jax.Array) -> dict[str, jax.Array]:
        """Per-target outputs, computed in float32."""
        x_BLD = x_BLD.astype(jnp.float32)
        outputs = {}
        for target, categorical, layer in zip(self.targets, self.categorical, self.layers):
            y = layer(x_BLD)
            outputs[target] = y.at[..., PAD].set(NEVER) if categorical else y[..., 0]
        return outputs
