"""The quality summary of predictions on a split (model vs naive baselines), as console lines."""

from __future__ import annotations


def describe_quality(quality: dict) -> list[str]:
    """One line per target."""
    lines = []
    for name, q in quality.items():
        if "baseline_accuracy" in q:  # one answer per sequence
            figures = [k for k in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "roc_auc") if k in q]
            lines.append(f"  {name}: " + ", ".join(f"{k.replace('_', ' ')} {q[k]:.3f} (baseline {q['baseline_' + k]:.3f})" for k in figures))
        elif "baseline_mae" in q:
            lines.append(f"  {name}: " + ", ".join(f"{k.upper() if k != 'r2' else 'R²'} {q[k]:.4g} (baseline {q['baseline_' + k]:.4g})" for k in ("mae", "rmse", "r2")))
        elif "accuracy" in q:
            lines.append(f"  {name}: accuracy {q['accuracy']:.3f} (most frequent class {q['most_frequent_accuracy']:.3f}, last value {q['last_value_accuracy']:.3f})")
        else:
            lines.append(f"  {name}: mean absolute error {q['mae']:.4g} (last value {q['last_value_mae']:.4g}, mean {q['mean_value_mae']:.4g})")
    return lines
