"""Per-item losses over whole sequences, shared by the objectives that learn items without labels (autoencode, masked).

Which items count is the objective's (`weight`): every real item (autoencode) or the hidden ones (masked).
Losses: cross-entropy for categorical targets, squared error for real ones (standardised); each target's
loss is the mean over the items that count in the whole batch, and the total weighs targets by `train.weights`.
Evaluation adds up per-target sums and reports the loss, accuracy (categorical) or RMSE in original units
(real), beside the best constant predictor: the class frequencies' entropy and most frequent class, or
the train mean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.data.metadata import UNKNOWN, Metadata
from seqjax.data.records import Sequences
from seqjax.objective.evaluation import Summed, per_target_report
from seqjax.objective.targets import Target, targets_of
from seqjax.spec import InferMode, SpecError

# Shapes: B batch, L length, V classes of one categorical target.


def cross_entropy(logits_BLV: jax.Array, labels_BL: jax.Array) -> jax.Array:
    logp_BLV = jax.nn.log_softmax(logits_BLV.astype(jnp.float32))
    return -jnp.take_along_axis(logp_BLV, labels_BL[..., None], axis=-1)[..., 0]


class ItemObjective:
    """Losses, metrics and modes of an objective that predicts items of whole sequences; subclasses say which items count."""

    batch_type = Sequences
    view = "sequences"
    kind = ""
    modes: frozenset = frozenset()

    def __init__(self, meta: Metadata, train, objective):
        if meta.view != "sequences":
            raise SpecError(f"train.objective.kind = {self.kind!r}: workdir/data holds windows; run `seqjax preprocess` again")
        self.meta, self.objective = meta, objective
        try:
            self.targets: tuple[Target, ...] = targets_of(meta.columns, tuple(train.targets), train.weights)
        except ValueError as error:
            raise SpecError(f"train.targets = {list(train.targets)!r}: {error}") from None

    @staticmethod
    def inputs(batch: Sequences) -> dict:
        return batch.model_inputs()

    def weight(self, outputs: dict | None, batch: Sequences) -> jax.Array:
        """float32 [B, L]: 1 where an item counts."""
        raise NotImplementedError

    def sums(self, outputs: dict, batch: Sequences) -> dict:
        """Per-target sums over the items that count: loss, count, and what the metrics and baselines need."""
        weight_BL = self.weight(outputs, batch)
        out = {}
        for t in self.targets:
            if t.categorical:
                labels_BL = batch.cat[..., t.index]
                known_BL = weight_BL * (labels_BL != UNKNOWN)
                out[t.name] = {
                    "loss": jnp.sum(cross_entropy(outputs[t.name], labels_BL) * weight_BL),
                    "count": jnp.sum(weight_BL),
                    "correct": jnp.sum((jnp.argmax(outputs[t.name], axis=-1) == labels_BL) * known_BL),
                    "classes": jnp.sum(jax.nn.one_hot(labels_BL, t.vocab_size) * weight_BL[..., None], axis=(0, 1)),
                }
            else:
                values_BL = batch.real[..., t.index]
                out[t.name] = {
                    "loss": jnp.sum(jnp.square(outputs[t.name].astype(jnp.float32) - values_BL) * weight_BL),
                    "count": jnp.sum(weight_BL),
                    "squares": jnp.sum(jnp.square(values_BL) * weight_BL),  # the train mean predicts 0 (standardised)
                }
        return out

    def counts(self, batch: Sequences) -> dict[str, jax.Array] | None:
        """Items that count per target in the (global) batch; None when only the forward pass knows (masked)."""
        count = jnp.sum(self.weight(None, batch))
        return {t.name: count for t in self.targets}

    def loss(self, per_target: dict, counts: dict[str, jax.Array] | None) -> jax.Array:
        return sum(t.weight * per_target[t.name]["loss"] / self._count(per_target, counts, t) for t in self.targets)

    def step_metrics(self, per_target: dict, counts: dict[str, jax.Array] | None) -> dict[str, jax.Array]:
        return {f"{t.name}_loss": per_target[t.name]["loss"] / self._count(per_target, counts, t) for t in self.targets}

    @staticmethod
    def _count(per_target: dict, counts: dict | None, t: Target) -> jax.Array:
        count = per_target[t.name]["count"] if counts is None else counts[t.name]
        return jnp.maximum(count, 1.0)

    def eval_outputs(self, outputs: dict, batch: Sequences) -> dict:
        return self.sums(outputs, batch)

    def evaluation(self) -> Summed:
        return Summed(self.summarize)

    def summarize(self, totals: dict) -> dict:
        """Eval sums -> per-target loss and metrics beside the best constant predictor's."""
        return per_target_report(self.targets, totals, self._measures)

    def _measures(self, t: Target, s: dict, count: float, loss: float) -> dict:
        if t.categorical:
            freq = s["classes"] / count
            nonzero = freq[freq > 0]
            return {
                "accuracy": float(s["correct"]) / count,
                "baseline_loss": float(-(nonzero * np.log(nonzero)).sum()),
                "baseline_accuracy": float(np.delete(freq, UNKNOWN).max(initial=0.0)),
            }
        std = self.meta.column(t.name).std
        baseline = float(s["squares"]) / count
        return {"rmse": float(np.sqrt(loss)) * std, "baseline_loss": baseline, "baseline_rmse": float(np.sqrt(baseline)) * std}

    def check_mode(self, mode: InferMode) -> None:
        if mode not in self.modes:
            raise SpecError(f"infer.mode = {mode.value!r}: the {self.kind!r} objective offers {sorted(m.value for m in self.modes)}")
