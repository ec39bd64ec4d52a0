"""The autoencode objective: every item of a whole sequence, reconstructed from the sequence's code.

A batch holds whole sequences of one length bucket (seqjax.data.sequences). The model
(seqjax.model.autoencoder) encodes each sequence to a code of `code_dim` numbers and decodes every item
from it; every real item counts (padding never does), against the clean sequence also when the inputs
are corrupted for denoising. Inference offers `embed` (the code of each sequence).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqjax.data.metadata import Metadata
from seqjax.data.records import Sequences
from seqjax.model.autoencoder import Reconstruction
from seqjax.objective.items import ItemObjective
from seqjax.spec.representations import AUTOENCODE_MODES


class Autoencode(ItemObjective):
    """Reconstruct every item of each sequence from a code of `code_dim`."""

    kind = "autoencode"
    modes = frozenset(AUTOENCODE_MODES)

    def __init__(self, meta: Metadata, train, objective):
        super().__init__(meta, train, objective)
        self.code_dim = objective.code_dim
        self.readout = Reconstruction(
            tuple(t.name for t in self.targets),
            code_dim=objective.code_dim,
            decoder=objective.decoder,
            memory=objective.memory,
            drop=objective.drop if objective.denoise else 0.0,
            noise=objective.noise if objective.denoise else 0.0,
        )

    def weight(self, outputs: dict | None, batch: Sequences) -> jax.Array:
        return batch.mask.astype(jnp.float32) * batch.valid[:, None]
