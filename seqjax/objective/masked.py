"""The masked objective: hidden items of whole sequences predicted from the rest by a bidirectional encoder.

The model (seqjax.model.masking) hides a share of the items and says which; only those count in the loss
and the metrics (cross-entropy for categorical targets, squared error for real ones). Inference offers
`embed`: one vector per sequence (pooled) or per item (`infer.embed.per = "item"`), of the clean sequence.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqjax.data.metadata import Metadata
from seqjax.data.records import Sequences
from seqjax.model.masking import HIDDEN, MaskedItems
from seqjax.objective.items import ItemObjective
from seqjax.spec.representations import MASKED_MODES


class Masked(ItemObjective):
    """Predict the hidden items of each sequence."""

    kind = "masked"
    modes = frozenset(MASKED_MODES)

    def __init__(self, meta: Metadata, train, objective):
        super().__init__(meta, train, objective)
        self.readout = MaskedItems(tuple(t.name for t in self.targets), rate=objective.rate, span=objective.span)

    def weight(self, outputs: dict | None, batch: Sequences) -> jax.Array:
        return outputs[HIDDEN].astype(jnp.float32) * batch.mask * batch.valid[:, None]

    def counts(self, batch: Sequences) -> None:
        """The hidden items are drawn in the forward pass: each loss divides by its own batch's count."""
        return None
