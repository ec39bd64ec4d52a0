"""Output heads, one per target: logits over a categorical column's ids, or one real value."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import PAD, ColumnMeta, Metadata
from seqjax.objective.targets import check_targets

# Shapes: B batch, L length, D dim, V vocab. Heads read x_BLD (per item) or z_BD (per sequence).

NEVER = -1e9
"""Logit given to ids that are never predicted (padding); finite, so losses stay finite."""

_kernel_init = nnx.initializers.lecun_normal()


@dataclasses.dataclass(frozen=True)
class Readout:
    """What a model returns: one head per target, per item (item columns) or per sequence (label columns:
    the encoder's states are pooled and fused with the static features first)."""

    targets: tuple[str, ...]
    per_sequence: bool = False

    @classmethod
    def of(cls, targets: "tuple[str, ...] | Readout") -> "Readout":
        """A tuple of target names reads out per item."""
        return targets if isinstance(targets, Readout) else cls(tuple(targets))


def target_columns(meta: Metadata, readout: Readout) -> tuple[ColumnMeta, ...]:
    """The metadata of each target column, in target order; fails naming targets that are not columns."""
    if readout.targets or not readout.per_sequence:  # a per-sequence model may predict nothing (embeddings only)
        check_targets(meta.labels if readout.per_sequence else meta.columns, readout.targets)
    return tuple(meta.column(t) for t in readout.targets)


class Heads(nnx.Module):
    """float32 outputs per target: logits_...V (categorical) or one value (real)."""

    def __init__(self, dim: int, columns: tuple[ColumnMeta, ...], *, rngs: nnx.Rngs):
        self.targets = tuple(c.name for c in columns)
        self.categorical = tuple(c.categorical for c in columns)
        self.layers = nnx.List([self._head(dim, c.vocab_size if c.categorical else 0, rngs) for c in columns])

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

    def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
        """Per-target outputs over the last axis of `x`, computed in float32."""
        x = x.astype(jnp.float32)
        outputs = {}
        for target, categorical, layer in zip(self.targets, self.categorical, self.layers):
            y = layer(x)
            outputs[target] = y.at[..., PAD].set(NEVER) if categorical else y[..., 0]
        return outputs
