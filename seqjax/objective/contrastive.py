"""The contrastive objective (CoLES): views of one sequence are pulled together, views of others pushed apart.

Each step cuts `views` random sub-sequences of every sequence in the batch (seqjax.data.views, keyed by
(seed, step, sequence)), encodes and pools each to z, and L2-normalises it. The N = B x V views of the
GLOBAL batch are compared all against all: the embeddings are gathered onto every device (a sharding
constraint to replicated), so each device scores its own anchors against every view of every device,
and the loss is the same on 1 device or many.

    infonce: loss_i = logsumexp_{k != i} s_ik / t  -  mean_{p positive of i} s_ip / t   (s: cosine)
    margin:  sum over positive pairs of |z_i - z_p|^2, plus over each view's `negatives` nearest
             negatives relu(margin - |z_i - z_k|)^2; divided by the number of pairs

Rows that fill a batch (valid False) are neither anchors nor negatives. Evaluation cuts views with a
key that depends only on the sequence, so successive evaluations compare like with like, and reports
the loss and the retrieval accuracy (the nearest other view is a view of the same sequence) beside
chance (equal similarities: loss log(N - 1), accuracy (V - 1) / (N - 1)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.data import views
from seqjax.data.metadata import Metadata
from seqjax.data.records import Sequences
from seqjax.model.heads import Readout
from seqjax.model.sharding import constrain
from seqjax.objective.evaluation import Summed
from seqjax.spec import InferMode, SpecError

# Shapes: B batch (sequences), V views, N = B * V views, M view length, D dim.

NEGATIVE = -1e9
"""Similarity given to pairs that do not count (a view with itself, filling rows): no softmax mass."""

EVAL_KEY = 0x5EED
"""Evaluation views are keyed by this and the sequence alone."""


def normalized(z_ND: jax.Array) -> jax.Array:
    # the maximum inside the square root: a zero vector (a filling row) gets a zero gradient, not NaN
    return z_ND * jax.lax.rsqrt(jnp.maximum(jnp.sum(jnp.square(z_ND), axis=-1, keepdims=True), 1e-12))


def pair_masks(valid_B: jax.Array, views_per: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(valid_N, positive_NN, negative_NN): view n is view n % V of sequence n // V; positives share a sequence."""
    N = valid_B.shape[0] * views_per
    owner_N = jnp.arange(N) // views_per
    valid_N = jnp.repeat(valid_B, views_per)
    both_NN = valid_N[:, None] & valid_N[None, :]
    same_NN = owner_N[:, None] == owner_N[None, :]
    eye_NN = jnp.eye(N, dtype=bool)
    return valid_N, both_NN & same_NN & ~eye_NN, both_NN & ~same_NN


def infonce(z_ND: jax.Array, valid_B: jax.Array, views_per: int, temperature: float) -> tuple[jax.Array, jax.Array]:
    """(loss sum over valid anchors, number of anchors): multi-positive InfoNCE on unit vectors."""
    valid_N, positive_NN, negative_NN = pair_masks(valid_B, views_per)
    anchors_ND = constrain(z_ND, ("batch", None))
    everyone_ND = constrain(z_ND, (None, None))  # every view of the global batch on every device
    s_NN = anchors_ND @ everyone_ND.T / temperature
    scored_NN = jnp.where(positive_NN | negative_NN, s_NN, NEGATIVE)
    log_z_N = jax.nn.logsumexp(scored_NN, axis=1)
    positive_N = jnp.sum(jnp.where(positive_NN, s_NN, 0.0), axis=1) / (views_per - 1)
    loss_N = jnp.where(valid_N, log_z_N - positive_N, 0.0)
    return jnp.sum(loss_N), jnp.sum(valid_N).astype(jnp.float32)


def margin_loss(z_ND: jax.Array, valid_B: jax.Array, views_per: int, margin: float, negatives: int) -> tuple[jax.Array, jax.Array]:
    """(loss sum over pairs, number of pairs): positives' squared distance, hard negatives' squared hinge."""
    valid_N, positive_NN, negative_NN = pair_masks(valid_B, views_per)
    anchors_ND = constrain(z_ND, ("batch", None))
    everyone_ND = constrain(z_ND, (None, None))
    d2_NN = jnp.maximum(jnp.sum(anchors_ND**2, -1)[:, None] + jnp.sum(everyone_ND**2, -1)[None, :] - 2 * anchors_ND @ everyone_ND.T, 0.0)
    upper_NN = jnp.triu(positive_NN, k=1)  # each positive pair once
    positive = jnp.sum(jnp.where(upper_NN, d2_NN, 0.0))
    k = min(negatives, z_ND.shape[0] - 1)
    far_NN = jnp.where(negative_NN, jax.lax.stop_gradient(d2_NN), jnp.inf)
    _, nearest_NK = jax.lax.top_k(-far_NN, k)  # the hardest (closest) negatives of each view
    picked_NK = jnp.take_along_axis(negative_NN, nearest_NK, axis=1)
    d_NK = jnp.sqrt(jnp.take_along_axis(d2_NN, nearest_NK, axis=1) + 1e-12)
    negative = jnp.sum(jnp.where(picked_NK, jnp.square(jax.nn.relu(margin - d_NK)), 0.0))
    return positive + negative, jnp.sum(upper_NN).astype(jnp.float32) + jnp.sum(picked_NK).astype(jnp.float32)


class Contrastive:
    """Views of whole sequences; the model pools each view to one vector and predicts nothing."""

    modes = frozenset({InferMode.EMBED})
    batch_type = Sequences
    view = "sequences"
    targets = ()

    def __init__(self, meta: Metadata, objective):
        if meta.view != "sequences":
            raise SpecError("train.objective.kind = 'contrastive': workdir/data holds windows; run `seqjax preprocess` again")
        self.meta, self.objective = meta, objective
        self.slicing = views.Slicing(objective.views, objective.min_length, objective.max_length, objective.short_crop_rate)
        self.readout = Readout((), per_sequence=True)

    # ---------------------------------------------------------------- the forward pass

    @staticmethod
    def inputs(batch: Sequences) -> dict:
        """The model's view of whole sequences (what inference embeds)."""
        return batch.model_inputs()

    def cut(self, batch: Sequences, key: jax.Array | None) -> dict[str, jax.Array]:
        """The batch's views [B, V, M, ...]; `key` None: evaluation views (keyed by the sequence alone)."""
        key = jax.random.key(EVAL_KEY) if key is None else jax.random.fold_in(key, EVAL_KEY)
        return views.cut(self.slicing, key, batch.cat, batch.real, batch.mask, batch.sequence)

    def forward(self, model, batch: Sequences, key: jax.Array | None, *, deterministic: bool) -> dict:
        """{"z": unit vectors [N, D] of every view}: the views flattened sequence-major, encoded, pooled, normalised."""
        cut = self.cut(batch, key)
        B, V, M = cut["mask"].shape

        def flat(x):
            return constrain(x.reshape(B * V, *x.shape[2:]), ("batch",) + (None,) * (x.ndim - 2))

        def repeated(x):
            return flat(jnp.repeat(x[:, None], V, axis=1))

        z_ND = model.sequence_vector(
            flat(cut["cat"]), flat(cut["real"]), flat(cut["mask"]), flat(cut["order"]),
            repeated(batch.static_cat), repeated(batch.static_real), deterministic=deterministic,
        )  # fmt: skip
        return {"z": normalized(z_ND)}

    # ---------------------------------------------------------------- training and evaluation

    def _loss(self, z_ND: jax.Array, valid_B: jax.Array) -> tuple[jax.Array, jax.Array]:
        o = self.objective
        if o.loss == "margin":
            return margin_loss(z_ND, valid_B, o.views, o.margin, o.negatives)
        return infonce(z_ND, valid_B, o.views, o.temperature)

    def sums(self, outputs: dict, batch: Sequences) -> dict:
        loss, _ = self._loss(outputs["z"], batch.valid)
        _, positive_NN, _ = pair_masks(batch.valid, self.objective.views)
        similarity = jnp.sum(jnp.where(positive_NN, outputs["z"] @ outputs["z"].T, 0.0))
        return {"views": {"loss": loss, "similarity": similarity, "pairs": jnp.sum(positive_NN).astype(jnp.float32)}}

    def counts(self, batch: Sequences) -> dict[str, jax.Array]:
        """The loss's denominator: anchors (infonce) or pairs (margin) in the global batch."""
        V, valid = self.objective.views, jnp.sum(batch.valid).astype(jnp.float32)
        if self.objective.loss == "margin":
            k = min(self.objective.negatives, batch.valid.shape[0] * V - 1)
            return {"views": valid * V * (V - 1) / 2 + valid * V * jnp.minimum(k, (valid - 1) * V)}
        return {"views": valid * V}

    def loss(self, per_target: dict, counts: dict[str, jax.Array]) -> jax.Array:
        return per_target["views"]["loss"] / jnp.maximum(counts["views"], 1e-9)

    def step_metrics(self, per_target: dict, counts: dict[str, jax.Array]) -> dict[str, jax.Array]:
        s = per_target["views"]
        return {"positive_similarity": s["similarity"] / jnp.maximum(s["pairs"], 1e-9)}

    def eval_outputs(self, outputs: dict, batch: Sequences) -> dict:
        """Sums of one evaluation batch: loss, retrieval hits, and their chance levels."""
        z_ND, V = outputs["z"], self.objective.views
        loss, count = self._loss(z_ND, batch.valid)
        valid_N, positive_NN, negative_NN = pair_masks(batch.valid, V)
        s_NN = jnp.where(positive_NN | negative_NN, z_ND @ z_ND.T, NEGATIVE)
        nearest_N = jnp.argmax(s_NN, axis=1)
        hit_N = jnp.take_along_axis(positive_NN, nearest_N[:, None], axis=1)[:, 0] & valid_N
        anchors = jnp.sum(valid_N).astype(jnp.float32)
        others = jnp.maximum(anchors - 1.0, 1.0)
        if self.objective.loss == "margin":  # equal vectors: positives cost 0, every counted negative margin^2
            chance = (count - jnp.sum(jnp.triu(positive_NN, k=1))) * self.objective.margin**2
        else:  # equal similarities: a softmax over the N - 1 others
            chance = anchors * jnp.log(others)
        return {
            "loss": loss, "count": count, "anchors": anchors, "hits": jnp.sum(hit_N).astype(jnp.float32),
            "chance_loss": chance, "chance_hits": anchors * (V - 1) / others,
        }  # fmt: skip

    def evaluation(self) -> Summed:
        return Summed(self.summarize)

    @staticmethod
    def summarize(s: dict) -> dict:
        anchors = max(float(s["anchors"]), 1.0)
        entry = {
            "loss": float(s["loss"]) / max(float(s["count"]), 1e-9),
            "baseline_loss": float(s["chance_loss"]) / max(float(s["count"]), 1e-9),
            "accuracy": float(s["hits"]) / anchors,
            "baseline_accuracy": float(s["chance_hits"]) / anchors,
            "targets": int(np.round(float(s["anchors"]))),
        }
        return {"loss": entry["loss"], "targets": {"views": entry}}

    # ---------------------------------------------------------------- inference

    def check_mode(self, mode: InferMode) -> None:
        if mode not in self.modes:
            raise SpecError(f"infer.mode = {mode.value!r}: the 'contrastive' objective offers ['embed']")
