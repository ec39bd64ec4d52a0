"""The next-item objective: every item of a window is predicted from the items before it.

A window holds W = L + 1 items (L = context); the model reads items [0, L) and predicts
items [1, L + 1):
    inputs = window[:, :-1], targets = window[:, 1:]
A target counts only where the window marks it as a target and the item before it exists.
At inference the same shift decides what the model reads: the L items before a known last
item (a split, whose last item is the truth), or the last L items (new data, to predict the
item after them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.data.metadata import UNKNOWN, Metadata
from seqjax.data.records import Windows
from seqjax.objective.evaluation import Summed, per_target_report
from seqjax.objective.targets import Target, targets_of
from seqjax.spec import InferMode, SpecError
from seqjax.spec.objectives import next_mode_problem

# Shapes: B batch, L length (context), V vocab of one categorical target.


def _cross_entropy(logits_BLV, labels_BL):
    logp_BLV = jax.nn.log_softmax(logits_BLV.astype(jnp.float32))
    return -jnp.take_along_axis(logp_BLV, labels_BL[..., None], axis=-1)[..., 0]


class NextItem:
    """Teacher-forced next-item prediction over windows of items; the model returns outputs per item."""

    modes = frozenset(InferMode)
    batch_type = Windows
    view = "windows"

    def __init__(self, meta: Metadata, targets: tuple[str, ...], weights: dict[str, float]):
        self.meta = meta
        self.targets: tuple[Target, ...] = targets_of(meta.columns, tuple(targets), weights)
        self.readout = tuple(t.name for t in self.targets)
        """What the model returns: per-item outputs for these item columns."""

    # ---------------------------------------------------------------- training and evaluation

    @staticmethod
    def inputs(batch: Windows) -> dict:
        """The model's view of a batch: every item but the last."""
        length = batch.mask.shape[1] - 1
        return {
            "cat_BLC": batch.cat[:, :-1],
            "real_BLR": batch.real[:, :-1],
            "mask_BL": batch.mask[:, :-1],
            "positions_BL": jnp.broadcast_to(jnp.arange(length), batch.mask[:, :-1].shape),
        }

    @staticmethod
    def weight(batch: Windows) -> jax.Array:
        return (batch.target[:, 1:] & batch.mask[:, :-1]).astype(jnp.float32)

    def sums(self, outputs: dict, batch: Windows) -> dict:
        """Per-target sums over valid targets: loss, count, and baseline ingredients."""
        weight_BL = self.weight(batch)
        out = {}
        for t in self.targets:
            if t.categorical:
                labels_BL = batch.cat[:, 1:, t.index]
                previous_BL = batch.cat[:, :-1, t.index]
                logits_BLV = outputs[t.name]
                per_item_BL = _cross_entropy(logits_BLV, labels_BL)
                predicted_BL = jnp.argmax(logits_BLV, axis=-1)
                known_BL = weight_BL * (labels_BL != UNKNOWN)  # an unseen class is never predicted right, nor a most frequent one
                out[t.name] = {
                    "loss": jnp.sum(per_item_BL * weight_BL),
                    "count": jnp.sum(weight_BL),
                    "correct": jnp.sum((predicted_BL == labels_BL) * known_BL),
                    "last_correct": jnp.sum((previous_BL == labels_BL) * known_BL),
                    "classes": jnp.sum(jax.nn.one_hot(labels_BL, t.vocab_size) * known_BL[..., None], axis=(0, 1)),
                    "unknown": jnp.sum(weight_BL - known_BL),
                }
            else:
                values_BL = batch.real[:, 1:, t.index]
                previous_BL = batch.real[:, :-1, t.index]
                out[t.name] = {
                    "loss": jnp.sum(jnp.square(outputs[t.name].astype(jnp.float32) - values_BL) * weight_BL),
                    "count": jnp.sum(weight_BL),
                    "last_loss": jnp.sum(jnp.square(previous_BL - values_BL) * weight_BL),
                }
        return out

    def counts(self, batch: Windows) -> dict[str, jax.Array]:
        """Valid targets per target column in a (global) batch; the denominators of the mean losses."""
        count = jnp.sum(self.weight(batch))
        return {t.name: count for t in self.targets}

    def loss(self, per_target: dict, counts: dict[str, jax.Array]) -> jax.Array:
        """Weighted sum of mean losses; each mean divides by the global count of valid targets.

        `counts` are the whole batch's also when `per_target` sums one micro-batch, so that the
        micro-batch losses add up to the batch's loss.
        """
        return sum(t.weight * per_target[t.name]["loss"] / jnp.maximum(counts[t.name], 1.0) for t in self.targets)

    def step_metrics(self, per_target: dict, counts: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Per-target mean losses of a train step."""
        return {f"{t.name}_loss": per_target[t.name]["loss"] / jnp.maximum(counts[t.name], 1.0) for t in self.targets}

    def eval_outputs(self, outputs: dict, batch: Windows) -> dict:
        """What one evaluation batch contributes (added up over batches on the host)."""
        return self.sums(outputs, batch)

    def evaluation(self) -> Summed:
        return Summed(self.summarize)

    def summarize(self, totals: dict) -> dict:
        """Eval sums -> per-target loss, accuracy and naive-baseline figures (host floats)."""
        return per_target_report(self.targets, totals, self._measures)

    @staticmethod
    def _measures(t: Target, s: dict, count: float, loss: float) -> dict:
        if not t.categorical:
            return {"baseline_loss": float(s["last_loss"]) / count}  # repeat the last value
        freq = s["classes"] / count
        with_unknown = np.append(freq, float(s["unknown"]) / count)
        nonzero = with_unknown[with_unknown > 0]
        # Best constant predictor on this data: its loss is the entropy of the class frequencies
        # (unseen classes count as one more class), its accuracy the most frequent known class's.
        return {
            "accuracy": float(s["correct"]) / count,
            "baseline_loss": float(-(nonzero * np.log(nonzero)).sum()),
            "baseline_accuracy": float(max(freq.max(initial=0.0), float(s["last_correct"]) / count)),
        }

    # ---------------------------------------------------------------- inference

    @staticmethod
    def window_inputs(chunk: dict[str, np.ndarray], known_last: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cat, real, mask) of the `context` items the model reads: those before a known last item, else the last ones."""
        part = slice(None, -1) if known_last else slice(1, None)
        return chunk["cat"][:, part], chunk["real"][:, part], chunk["mask"][:, part]

    @staticmethod
    def scored_items(chunk: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(window, slot) of every item a split's windows score: the output at input slot j predicts item j + 1."""
        return np.nonzero(chunk["target"][:, 1:] & chunk["mask"][:, :-1])

    @classmethod
    def scored(cls, chunk: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The windows of a split that score at least one item."""
        keep = np.any(chunk["target"][:, 1:] & chunk["mask"][:, :-1], axis=1)
        return {k: v[keep] for k, v in chunk.items()}

    @staticmethod
    def item_positions(chunk: dict[str, np.ndarray], where: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Positions of the scored items at `where`."""
        return chunk["position"][where[0], where[1] + 1]

    def check_mode(self, mode: InferMode) -> None:
        """Fail before any work when this objective's model cannot do `mode`."""
        names = tuple(t.name for t in self.targets)
        problem = next_mode_problem(mode, {c.name: c.kind for c in self.meta.columns}, names)
        if problem:
            raise SpecError(f"train.targets = {list(names)!r}: {problem}")

    def quality(self) -> "Quality":
        return Quality(self.meta, self.targets)


class Quality:
    """How next-item predictions on a split compare with naive baselines, summed chunk by chunk:
    the model vs the most frequent class / last value / mean value."""

    def __init__(self, meta: Metadata, targets: tuple[Target, ...]):
        self.meta, self.targets = meta, targets
        self.sums = {t.name: {"count": 0, "model": 0.0, "last": 0.0, "mean": 0.0, "classes": np.zeros(t.vocab_size, np.int64)} for t in targets}

    def add(self, predicted: dict[str, np.ndarray], chunk: dict[str, np.ndarray], where: tuple[np.ndarray, np.ndarray]) -> None:
        """Predictions of the items at (window, slot) `where` of `chunk`: the truth is the item after the slot,
        the last value the one at it. An unknown truth (a class unseen in training) is never predicted right."""
        n, j = where
        for t in self.targets:
            block = chunk["cat"] if t.categorical else chunk["real"]
            pred, truth, last = predicted[t.name], block[n, j + 1, t.index], block[n, j, t.index]
            s = self.sums[t.name]
            s["count"] += len(truth)
            if t.categorical:
                known = truth != UNKNOWN
                s["model"] += float(np.sum((pred == truth) & known))
                s["last"] += float(np.sum((last == truth) & known))
                s["classes"] += np.bincount(truth[known], minlength=t.vocab_size)[: t.vocab_size]
            else:
                s["model"] += float(np.sum(np.abs(pred - truth)))
                s["last"] += float(np.sum(np.abs(last - truth)))
                s["mean"] += float(np.sum(np.abs(truth)))

    def summary(self) -> dict:
        """Accuracy (categorical) or mean absolute error in original units (real), beside the baselines."""
        report = {}
        for t in self.targets:
            s = self.sums[t.name]
            n = max(s["count"], 1)
            if t.categorical:
                report[t.name] = {
                    "accuracy": s["model"] / n,
                    "most_frequent_accuracy": float(s["classes"].max(initial=0)) / n,
                    "last_value_accuracy": s["last"] / n,
                }
            else:
                std = self.meta.column(t.name).std
                report[t.name] = {"mae": s["model"] / n * std, "last_value_mae": s["last"] / n * std, "mean_value_mae": s["mean"] / n * std}
        return report if any(s["count"] for s in self.sums.values()) else {}
