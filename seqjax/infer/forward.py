"""Pure functions of (parameters, a batch of windows) for inference: next-item outputs and embeddings.

Windows are right-aligned, as in training: the last slot holds a sequence's last item,
shorter sequences are left-padded (mask False), positions are the slots 0..L-1.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.infer.sample import user_logits
from seqjax.model import SequenceModel
from seqjax.model.pooling import pool
from seqjax.spec import Pooling

# Shapes: B batch, L length (context), C categorical columns, R real columns, D dim, V vocab.


def _placeholder(leaf: jax.ShapeDtypeStruct) -> jax.Array:
    """A stand-in for a non-parameter variable (dropout RNG state), which inference never reads."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return jax.random.key(0) if not leaf.shape else jax.random.split(jax.random.key(0), leaf.shape)
    return jnp.zeros(leaf.shape, leaf.dtype)


@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    """The model's structure without its weights: merge parameters in to get a Model (inside jit)."""

    graphdef: nnx.GraphDef
    rest: nnx.State
    """Abstract non-parameter state (shapes only)."""
    meta: Metadata
    targets: tuple[str, ...]
    dim: int
    """Width of the states an embedding is read from."""

    def model(self, params: nnx.State) -> SequenceModel:
        return nnx.merge(self.graphdef, params, jax.tree.map(_placeholder, self.rest))

    @property
    def categorical_targets(self) -> tuple[str, ...]:
        return tuple(t for t in self.targets if self.meta.column(t).categorical)


def decode_outputs(net: Network, outputs: dict[str, jax.Array], *, probabilities: bool = True) -> dict[str, dict[str, jax.Array]]:
    """Raw per-target outputs (any leading shape) -> {"predicted": {target: argmax id (categorical, padding and
    unknown ruled out) or standardised value (real)}, "probabilities": {categorical target: probabilities of every id}}."""
    predicted, probs = {}, {}
    for target in net.targets:
        if net.meta.column(target).categorical:
            logits = user_logits(outputs[target])
            predicted[target] = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            if probabilities:
                probs[target] = jax.nn.softmax(logits, axis=-1)
        else:
            predicted[target] = outputs[target]
    return {"predicted": predicted, "probabilities": probs}


def next_outputs(net: Network, params: nnx.State, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array) -> dict[str, dict[str, jax.Array]]:
    """The item after each window: `decode_outputs` at the last slot ([B] ids or values, [B, V] probabilities)."""
    return decode_outputs(net, net.model(params).last_outputs(cat_BLC, real_BLR, mask_BL))


def item_outputs(
    net: Network, params: nnx.State, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array, *, probabilities: bool
) -> dict[str, dict[str, jax.Array]]:
    """The item after every slot of each window: `decode_outputs` of [B, L] ids or values ([B, L, V] probabilities)."""
    outputs, _ = net.model(params)(cat_BLC, real_BLR, mask_BL)
    return decode_outputs(net, outputs, probabilities=probabilities)


def item_scores(net: Network, params: nnx.State, cat_BWC: jax.Array, real_BWR: jax.Array, mask_BW: jax.Array) -> dict[str, dict[str, jax.Array]]:
    """Windows of W = L + 1 items: slot j of the model's L outputs scores item j + 1 against its true value.

    {"logp": {categorical target: float32 [B, L] log-probability of the true id, from every id's probability
    (the unknown id's too, so a class unseen in training keeps a finite score)}, "predicted": {target: [B, L]
    argmax id (padding and unknown ruled out) or standardised value}}; slots whose item or next item is padding hold
    whatever the padding gives.
    """
    outputs, _ = net.model(params)(cat_BWC[:, :-1], real_BWR[:, :-1], mask_BW[:, :-1])
    decoded = decode_outputs(net, outputs, probabilities=False)
    index = {c.name: i for i, c in enumerate(net.meta.categorical)}
    logp = {}
    for target in net.categorical_targets:
        logp_BLV = jax.nn.log_softmax(outputs[target].astype(jnp.float32), axis=-1)
        labels_BL = cat_BWC[:, 1:, index[target]]
        logp[target] = jnp.take_along_axis(logp_BLV, labels_BL[..., None], axis=-1)[..., 0]
    return {"logp": logp, "predicted": decoded["predicted"]}


def sequence_outputs(net: Network, params: nnx.State, cat_BLC, real_BLR, mask_BL, order_BL, static_cat_BS, static_real_BS) -> dict:
    """One output per sequence: `decode_outputs` of [B] ids or values ([B, V] probabilities)."""
    model = net.model(params)
    outputs, _ = model(cat_BLC, real_BLR, mask_BL, order_BL, static_cat_BS=static_cat_BS, static_real_BS=static_real_BS)
    return decode_outputs(net, outputs)


def sequence_embedding(net: Network, params: nnx.State, cat_BLC, real_BLR, mask_BL, order_BL, static_cat_BS, static_real_BS) -> jax.Array:
    """float32 [B, D]: what the per-sequence heads read (the pooled states fused with the static features)."""
    return net.model(params).sequence_vector(cat_BLC, real_BLR, mask_BL, order_BL, static_cat_BS, static_real_BS)


def hidden_at(model: SequenceModel, layer: int, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array) -> jax.Array:
    """float32 x_BLD: block `layer`'s output (the residual stream), or the final normed state for -1."""
    if layer == -1:
        return model.hidden(cat_BLC, real_BLR, mask_BL)[0]
    positions_BL = jnp.broadcast_to(jnp.arange(mask_BL.shape[1], dtype=jnp.int32), mask_BL.shape)
    x_BLD = model.embed(cat_BLC, real_BLR, positions_BL, deterministic=True)
    for block in list(model.blocks)[: layer + 1]:
        x_BLD, _ = block(x_BLD, positions_BL, mask_BL, None, deterministic=True)
    return x_BLD.astype(jnp.float32)


def embed(
    net: Network, params: nnx.State, cat_BLC: jax.Array, real_BLR: jax.Array, mask_BL: jax.Array, *, layer: int, pooling: Pooling
) -> jax.Array:
    """float32 [B, D]: one vector per window, pooled (the last item's, or the mean over real items)."""
    return pool(pooling, hidden_at(net.model(params), layer, cat_BLC, real_BLR, mask_BL), mask_BL)


def check_layer(layer: int, layers: int) -> None:
    """`layer` must name a block (0..layers-1) or the final state (-1)."""
    if not -1 <= layer < layers:
        from seqjax.spec import SpecError

        raise SpecError(f"infer.embed.layer = {layer}: must be -1 (final normed state) or a block index 0..{layers - 1}")
