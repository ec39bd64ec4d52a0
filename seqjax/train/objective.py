"""Next-item objective: masked per-target losses, accuracy and naive baselines.

A batch holds windows of W = L + 1 items; the model reads items [0, L) and predicts
items [1, L + 1): inputs = window[:, :-1], targets = window[:, 1:]. A target counts only
where the window marks it as a target and the item before it exists (weight_BL).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from seqjax.data.metadata import Metadata


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    kind: str
    index: int
    """Column index within the categorical (or real) block of a window."""
    weight: float
    vocab_size: int = 0


def targets_of(meta: Metadata, names: tuple[str, ...], weights: dict[str, float]) -> tuple[Target, ...]:
    """Where each target lives in a window, with its loss weight."""
    cat = [c.name for c in meta.categorical]
    real = [c.name for c in meta.real]
    out = []
    for name in names:
        column = meta.column(name)
        index = cat.index(name) if column.kind == "categorical" else real.index(name)
        out.append(Target(name, column.kind, index, weights.get(name, 1.0), column.vocab_size))
    return tuple(out)


def model_inputs(batch: dict) -> dict:
    """The model's view of a batch: every item but the last."""
    length = batch["mask"].shape[1] - 1
    return {
        "cat_BLC": batch["cat"][:, :-1],
        "real_BLR": batch["real"][:, :-1],
        "mask_BL": batch["mask"][:, :-1],
        "positions_BL": jnp.broadcast_to(jnp.arange(length), batch["mask"][:, :-1].shape),
    }


def target_weight(batch: dict) -> jax.Array:
    return (batch["target"][:, 1:] & batch["mask"][:, :-1]).astype(jnp.float32)


def _cross_entropy(logits_BLV, labels_BL):
    logp_BLV = jax.nn.log_softmax(logits_BLV.astype(jnp.float32))
    return -jnp.take_along_axis(logp_BLV, labels_BL[..., None], axis=-1)[..., 0]


def sums(outputs: dict, batch: dict, targets: tuple[Target, ...]) -> dict:
    """Per-target sums over valid targets: loss, count, and baseline ingredients."""
    weight_BL = target_weight(batch)
    out = {}
    for t in targets:
        if t.kind == "categorical":
            labels_BL = batch["cat"][:, 1:, t.index]
            previous_BL = batch["cat"][:, :-1, t.index]
            logits_BLV = outputs[t.name]
            per_item_BL = _cross_entropy(logits_BLV, labels_BL)
            predicted_BL = jnp.argmax(logits_BLV, axis=-1)
            out[t.name] = {
                "loss": jnp.sum(per_item_BL * weight_BL),
                "count": jnp.sum(weight_BL),
                "correct": jnp.sum((predicted_BL == labels_BL) * weight_BL),
                "last_correct": jnp.sum((previous_BL == labels_BL) * weight_BL),
                "classes": jnp.sum(jax.nn.one_hot(labels_BL, t.vocab_size) * weight_BL[..., None], axis=(0, 1)),
            }
        else:
            values_BL = batch["real"][:, 1:, t.index]
            previous_BL = batch["real"][:, :-1, t.index]
            out[t.name] = {
                "loss": jnp.sum(jnp.square(outputs[t.name].astype(jnp.float32) - values_BL) * weight_BL),
                "count": jnp.sum(weight_BL),
                "last_loss": jnp.sum(jnp.square(previous_BL - values_BL) * weight_BL),
            }
    return out


def counts(batch: dict, targets: tuple[Target, ...]) -> dict[str, jax.Array]:
    """Valid targets per target column in a (global) batch; the denominators of the mean losses."""
    count = jnp.sum(target_weight(batch))
    return {t.name: count for t in targets}


def total_loss(per_target: dict, targets: tuple[Target, ...], counts: dict[str, jax.Array] | None = None) -> jax.Array:
    """Weighted sum of mean losses; each mean divides by the global count of valid targets.

    `counts` (default: the counts in `per_target`) are the whole batch's when `per_target`
    sums one micro-batch, so that the micro-batch losses add up to the batch's loss.
    """
    counts = {t.name: per_target[t.name]["count"] for t in targets} if counts is None else counts
    return sum(t.weight * per_target[t.name]["loss"] / jnp.maximum(counts[t.name], 1.0) for t in targets)


def summarize(totals: dict, targets: tuple[Target, ...]) -> dict:
    """Eval sums -> per-target loss, accuracy and naive-baseline figures (host floats)."""
    import numpy as np

    report, total = {}, 0.0
    for t in targets:
        s = {k: np.asarray(v, dtype=np.float64) for k, v in totals[t.name].items()}
        count = max(float(s["count"]), 1.0)
        entry = {"loss": float(s["loss"]) / count, "targets": int(s["count"])}
        if t.kind == "categorical":
            freq = s["classes"] / count
            nonzero = freq[freq > 0]
            entry["accuracy"] = float(s["correct"]) / count
            # Best constant predictor on this data: its loss is the entropy of the class frequencies.
            entry["baseline_loss"] = float(-(nonzero * np.log(nonzero)).sum())
            entry["baseline_accuracy"] = float(max(freq.max(initial=0.0), float(s["last_correct"]) / count))
        else:
            entry["baseline_loss"] = float(s["last_loss"]) / count  # repeat the last value
        report[t.name] = entry
        total += t.weight * entry["loss"]
    return {"loss": total, "targets": report}
