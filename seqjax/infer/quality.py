"""How next-item predictions on a split compare with naive baselines, summed chunk by chunk."""

from __future__ import annotations

import numpy as np

from seqjax.data.metadata import Metadata
from seqjax.train.objective import Target


class Quality:
    """Running sums per target: the model vs the most frequent class / last value / mean value."""

    def __init__(self, meta: Metadata, targets: tuple[Target, ...]):
        self.meta, self.targets = meta, targets
        self.sums = {t.name: {"count": 0, "model": 0.0, "last": 0.0, "mean": 0.0, "classes": np.zeros(t.vocab_size, np.int64)} for t in targets}

    def add(self, predicted: dict[str, np.ndarray], chunk: dict[str, np.ndarray]) -> None:
        """Predictions for the windows in `chunk`, whose last item is the truth and the one before it the last value."""
        for t in self.targets:
            block = chunk["cat"] if t.kind == "categorical" else chunk["real"]
            pred, truth, last = predicted[t.name], block[:, -1, t.index], block[:, -2, t.index]
            s = self.sums[t.name]
            s["count"] += len(truth)
            if t.kind == "categorical":
                s["model"] += float(np.sum(pred == truth))
                s["last"] += float(np.sum(last == truth))
                s["classes"] += np.bincount(truth, minlength=t.vocab_size)[: t.vocab_size]
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
            if t.kind == "categorical":
                report[t.name] = {
                    "accuracy": s["model"] / n,
                    "most_frequent_accuracy": float(s["classes"].max(initial=0)) / n,
                    "last_value_accuracy": s["last"] / n,
                }
            else:
                std = self.meta.column(t.name).std
                report[t.name] = {"mae": s["model"] / n * std, "last_value_mae": s["last"] / n * std, "mean_value_mae": s["mean"] / n * std}
        return report if any(s["count"] for s in self.sums.values()) else {}


def describe_quality(quality: dict) -> list[str]:
    lines = []
    for name, q in quality.items():
        if "accuracy" in q:
            lines.append(f"  {name}: accuracy {q['accuracy']:.3f} (most frequent class {q['most_frequent_accuracy']:.3f}, last value {q['last_value_accuracy']:.3f})")
        else:
            lines.append(f"  {name}: mean absolute error {q['mae']:.4g} (last value {q['last_value_mae']:.4g}, mean {q['mean_value_mae']:.4g})")
    return lines
