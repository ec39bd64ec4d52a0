"""`[model] encoder` and `[model] pooling`: tagged variants; each builds what it describes.

An encoder maps items to per-item states under a mask; a pooling reduces those states to one
vector per sequence (what sequence-level heads and embeddings read).
"""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransformerEncoder:
    """Pre-norm transformer blocks (`model.layers`, `model.heads`, ...), then a final norm."""

    kind: Literal["transformer"] = "transformer"
    causal: bool = True
    """Each item attends to itself and earlier items only; false attends to the whole sequence."""

    def build(self, spec, meta, targets, *, rngs):
        from seqjax.model.transformer import Transformer

        return Transformer(spec, meta, targets, rngs=rngs)


Encoder = TransformerEncoder


@dataclasses.dataclass(frozen=True, kw_only=True)
class LastPooling:
    """The state of the last item."""

    kind: Literal["last"] = "last"


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeanPooling:
    """The mean of the states of the real (not padded) items."""

    kind: Literal["mean"] = "mean"


PoolingSpec = LastPooling | MeanPooling
