"""The quality summary of predictions on a split (model vs naive baselines), as console lines."""

from __future__ import annotations


def describe_quality(quality: dict) -> list[str]:
    """One line per target."""
    lines = []
    for name, q in quality.items():
        if "accuracy" in q:
            lines.append(f"  {name}: accuracy {q['accuracy']:.3f} (most frequent class {q['most_frequent_accuracy']:.3f}, last value {q['last_value_accuracy']:.3f})")
        else:
            lines.append(f"  {name}: mean absolute error {q['mae']:.4g} (last value {q['last_value_mae']:.4g}, mean {q['mean_value_mae']:.4g})")
    return lines
