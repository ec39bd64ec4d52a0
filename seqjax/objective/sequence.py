"""The sequence objective: one answer per sequence (its labels) from the whole sequence and its static features.

A batch holds whole sequences of one length bucket (seqjax.data.sequences); the model pools each
sequence to one vector, fuses it with the static features and reads one output per label column.
Losses: cross-entropy for categorical labels (with class weights: balanced, or given per class),
squared error or Huber for real ones (standardised with train statistics); each target's loss is
the weighted mean over the batch's real rows, and the total weighs targets by `train.weights`.
Evaluation keeps every sequence's probabilities or value and reports accuracy, balanced accuracy,
macro-F1, log loss and ROC AUC (two classes), or MAE, RMSE and R², each beside its naive baseline.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.data.metadata import RESERVED, UNKNOWN, Metadata
from seqjax.data.records import Sequences
from seqjax.model.heads import Readout
from seqjax.objective import metrics
from seqjax.objective.evaluation import Collected
from seqjax.objective.targets import Target, targets_of
from seqjax.spec import InferMode, SpecError
from seqjax.spec.objectives import SEQUENCE_MODES

# Shapes: B batch, L length, V classes of one categorical target.


def class_weights(meta: Metadata, target: Target, objective) -> np.ndarray:
    """float32 [V]: the loss weight of each class id (reserved ids 0; unseen classes 1)."""
    weights = np.ones(target.vocab_size, np.float32)
    weights[:RESERVED] = 0.0
    weights[UNKNOWN] = 1.0
    if target.name in objective.balance:
        counts = np.asarray(meta.label_counts.get(target.name, []), np.float64)
        present = counts[RESERVED:] > 0
        balanced = np.where(present, counts[RESERVED:].sum() / np.maximum(present.sum() * counts[RESERVED:], 1.0), 1.0)
        weights[RESERVED:] = balanced
    vocab = [str(v) for v in meta.column(target.name).vocab]
    for value, weight in objective.class_weights.get(target.name, {}).items():
        if value not in vocab:
            raise SpecError(f"train.objective.class_weights.{target.name}.{value} = {weight}: {value!r} is not a class of {target.name!r}; classes are {vocab}")
        weights[vocab.index(value) + RESERVED] = weight
    return weights


class SequenceTargets:
    """One output per label column per sequence; the model pools and fuses static features."""

    modes = frozenset(SEQUENCE_MODES)
    batch_type = Sequences
    view = "sequences"

    def __init__(self, meta: Metadata, train, objective):
        if meta.view != "sequences":
            raise SpecError("train.objective.kind = 'sequence': workdir/data holds windows; run `seqjax preprocess` again")
        self.meta, self.objective = meta, objective
        try:
            self.targets: tuple[Target, ...] = targets_of(meta.labels, tuple(train.targets), train.weights)
        except ValueError as error:
            raise SpecError(f"train.targets = {list(train.targets)!r}: {error}") from None
        self.readout = Readout(tuple(t.name for t in self.targets), per_sequence=True)
        self.weights = {t.name: jnp.asarray(class_weights(meta, t, objective)) for t in self.targets if t.categorical}

    # ---------------------------------------------------------------- training and evaluation

    @staticmethod
    def inputs(batch: Sequences) -> dict:
        return batch.model_inputs()

    def _row_weights(self, batch: Sequences, t: Target) -> jax.Array:
        valid_B = batch.valid.astype(jnp.float32)
        if not t.categorical:
            return valid_B
        return valid_B * self.weights[t.name][batch.label_cat[:, t.index]]

    def _losses(self, outputs: dict, batch: Sequences, t: Target) -> jax.Array:
        """Per-sequence loss of one target."""
        if t.categorical:
            logp_BV = jax.nn.log_softmax(outputs[t.name].astype(jnp.float32))
            return -jnp.take_along_axis(logp_BV, batch.label_cat[:, t.index][:, None], axis=-1)[:, 0]
        error_B = outputs[t.name].astype(jnp.float32) - batch.label_real[:, t.index]
        if self.objective.real_loss == "huber":
            delta = self.objective.huber_delta
            return jnp.where(jnp.abs(error_B) <= delta, 0.5 * error_B**2, delta * (jnp.abs(error_B) - 0.5 * delta))
        return jnp.square(error_B)

    def sums(self, outputs: dict, batch: Sequences) -> dict:
        return {t.name: {"loss": jnp.sum(self._losses(outputs, batch, t) * self._row_weights(batch, t))} for t in self.targets}

    def counts(self, batch: Sequences) -> dict[str, jax.Array]:
        """The weighted number of sequences per target in a (global) batch: the denominators of the mean losses."""
        return {t.name: jnp.sum(self._row_weights(batch, t)) for t in self.targets}

    def loss(self, per_target: dict, counts: dict[str, jax.Array]) -> jax.Array:
        return sum(t.weight * per_target[t.name]["loss"] / jnp.maximum(counts[t.name], 1e-9) for t in self.targets)

    def step_metrics(self, per_target: dict, counts: dict[str, jax.Array]) -> dict[str, jax.Array]:
        return {f"{t.name}_loss": per_target[t.name]["loss"] / jnp.maximum(counts[t.name], 1e-9) for t in self.targets}

    def eval_outputs(self, outputs: dict, batch: Sequences) -> dict:
        """Per sequence: probabilities (categorical) or standardised value (real), the labels, and which rows are real."""
        out = {"valid": batch.valid, "sequence": batch.sequence}
        for t in self.targets:
            if t.categorical:
                out[t.name] = jax.nn.softmax(outputs[t.name].astype(jnp.float32), axis=-1)  # padding has no mass; unknown keeps its own
                out[f"{t.name}:label"] = batch.label_cat[:, t.index]
                out[f"{t.name}:loss"] = self._losses(outputs, batch, t) * self._row_weights(batch, t)
                out[f"{t.name}:weight"] = self._row_weights(batch, t)
            else:
                out[t.name] = outputs[t.name]
                out[f"{t.name}:label"] = batch.label_real[:, t.index]
                out[f"{t.name}:loss"] = self._losses(outputs, batch, t)
                out[f"{t.name}:weight"] = batch.valid.astype(jnp.float32)
        return out

    def evaluation(self) -> Collected:
        return Collected(self.summarize)

    def summarize(self, collected: dict) -> dict:
        """Every sequence's outputs -> per-target loss and metrics beside the naive baselines."""
        report, total = {}, 0.0
        for t in self.targets:
            weight = collected[f"{t.name}:weight"]
            loss = float(np.sum(collected[f"{t.name}:loss"]) / max(float(np.sum(weight)), 1e-9))
            entry = {"loss": loss, "targets": int(len(weight))}
            entry.update(self.metrics(t, collected[t.name], collected[f"{t.name}:label"]))
            entry["baseline_loss"] = entry.get("baseline_log_loss", entry.get("baseline_mse", 0.0))
            if "baseline_accuracy" not in entry and t.categorical:
                entry["baseline_accuracy"] = 0.0
            report[t.name] = entry
            total += t.weight * loss
        return {"loss": total, "targets": report}

    def metrics(self, t: Target, predicted: np.ndarray, labels: np.ndarray) -> dict:
        """Classification or regression metrics of one target, with baselines (real targets in original units)."""
        if t.categorical:
            counts = np.asarray(self.meta.label_counts.get(t.name, np.ones(t.vocab_size)), np.float64)
            prior = counts / max(counts.sum(), 1.0)
            return metrics.classification(labels, predicted, prior)
        column = self.meta.column(t.name)
        truth, value = labels * column.std + column.mean, predicted * column.std + column.mean
        out = metrics.regression(truth, value, column.mean)
        out["baseline_mse"] = float(np.mean(np.square(labels)))  # the train mean predicts 0 in standardised units
        return out

    # ---------------------------------------------------------------- inference

    def check_mode(self, mode: InferMode) -> None:
        if mode not in self.modes:
            raise SpecError(f"infer.mode = {mode.value!r}: the 'sequence' objective offers {[m.value for m in SEQUENCE_MODES]}")
        if mode == InferMode.PROBABILITIES and not any(t.categorical for t in self.targets):
            raise SpecError(f"train.targets = {[t.name for t in self.targets]!r}: infer.mode = 'probabilities' needs a categorical target")
