"""Autoencoders: an encoder family -> a code of `code_dim` per sequence -> a decoder -> per-item heads.

    items --(denoising, training only)--> encoder (pooled or summarized) z_BD --Linear--> code_BK
    code_BK --decoder (seqjax.model.decoders)--> h_BLD --Heads--> logits_BLV / value_BL of every item

The code is the sequence's embedding. Denoising corrupts what the encoder reads (a share of items get the
unknown id in every categorical column; Gaussian noise on the reals) with the dropout stream, so its draws
depend on (seed, step) only; evaluation and inference read the clean items.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import UNKNOWN, Metadata
from seqjax.model.decoders import make_decoder
from seqjax.model.heads import Heads, Readout, target_columns
from seqjax.spec import ModelSpec
from seqjax.spec.representations import decoder_for

# Shapes: B batch, L length, C categorical columns, R real columns, D dim, K code width.


@dataclasses.dataclass(frozen=True)
class Reconstruction(Readout):
    """An autoencoder's readout: every item of the sequence, for these item columns, from a code of `code_dim`."""

    code_dim: int = 16
    decoder: str = "auto"
    memory: int = 4
    drop: float = 0.0
    noise: float = 0.0

    def build(self, spec: ModelSpec, meta: Metadata, *, rngs: nnx.Rngs) -> "Autoencoder":
        return Autoencoder(spec, meta, self, rngs=rngs)


class Denoising(nnx.Module):
    """Training-time corruption of the inputs: item dropout for categorical columns, Gaussian noise for reals."""

    def __init__(self, drop: float, noise: float, *, rngs: nnx.Rngs):
        self.drop, self.noise = drop, noise
        self.rngs = rngs["dropout"].fork()

    def __call__(self, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array) -> tuple[jax.Array, jax.Array]:
        drop_key, noise_key = jax.random.split(self.rngs())
        dropped_BL = jax.random.bernoulli(drop_key, self.drop, mask_BL.shape) & mask_BL
        cat_BLC = jnp.where(dropped_BL[..., None], jnp.asarray(UNKNOWN, cat_BLC.dtype), cat_BLC)
        noise_BLR = self.noise * jax.random.normal(noise_key, real_BLR.shape, jnp.float32) * mask_BL[..., None]
        return cat_BLC, (real_BLR + noise_BLR).astype(real_BLR.dtype)


def order_of(mask_BL: jax.Array) -> jax.Array:
    """Index of each item from the first real one (0 on padding)."""
    return jnp.maximum(jnp.cumsum(mask_BL.astype(jnp.int32), axis=1) - 1, 0)


class Autoencoder(nnx.Module):
    """The encoder `model.encoder` names, a linear map to the code, the decoder and one head per target column."""

    def __init__(self, spec: ModelSpec, meta: Metadata, readout: Reconstruction, *, rngs: nnx.Rngs):
        self.spec = spec
        self.columns = (len(meta.categorical), len(meta.real))
        self.encoder = spec.encoder.build(spec, meta, Readout((), per_sequence=True), rngs=rngs)
        width = spec.encoder.hidden[-1] if spec.encoder.kind == "linear" else spec.dim
        init = nnx.with_partitioning(nnx.initializers.lecun_normal(), ("embed", None))
        self.code = nnx.Linear(width, readout.code_dim, kernel_init=init, rngs=rngs)
        decoder = decoder_for(readout.decoder, spec.encoder.kind)
        self.decoder = make_decoder(decoder, spec, readout.code_dim, memory=readout.memory, slots=meta.context, rngs=rngs)
        self.heads = Heads(spec.dim, target_columns(meta, Readout(readout.targets)), rngs=rngs)
        self.denoising = nnx.data(None)
        if readout.drop or readout.noise:
            self.denoising = Denoising(readout.drop, readout.noise, rngs=rngs)

    def __call__(
        self, cat_BLC, real_BLR, mask_BL, positions_BL=None, cache=None, *, static_cat_BS=None, static_real_BS=None, deterministic: bool = True
    ) -> tuple[dict[str, jax.Array], Any]:
        """float32 per-item outputs of every target (logits_BLV or value_BL), reconstructed from the code."""
        if self.denoising is not None and not deterministic:
            cat_BLC, real_BLR = self.denoising(cat_BLC, real_BLR, mask_BL)
        code_BK = self.sequence_vector(cat_BLC, real_BLR, mask_BL, positions_BL, static_cat_BS, static_real_BS, deterministic=deterministic)
        return self.decode(code_BK, mask_BL, deterministic=deterministic), None

    def sequence_vector(self, cat_BLC, real_BLR, mask_BL, positions_BL=None, static_cat_BS=None, static_real_BS=None, *, deterministic: bool = True):
        """float32 code_BK of each sequence."""
        z_BD = self.encoder.sequence_vector(cat_BLC, real_BLR, mask_BL, positions_BL, static_cat_BS, static_real_BS, deterministic=deterministic)
        return self.code(z_BD).astype(jnp.float32)

    def decode(self, code_BK: jax.Array, mask_BL: jax.Array, *, deterministic: bool = True) -> dict[str, jax.Array]:
        """Per-item outputs of sequences of the items `mask_BL` marks (right-aligned) from their codes."""
        h_BLD = self.decoder(code_BK.astype(jnp.float32), mask_BL, order_of(mask_BL), deterministic=deterministic)
        return self.heads(h_BLD)
