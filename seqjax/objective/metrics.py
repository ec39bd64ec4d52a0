"""Metrics of one answer per sequence, next to the naive baselines, computed on the host with numpy.

Categorical targets: accuracy, balanced accuracy, macro-F1, log loss and, for two classes, ROC AUC;
the baseline predicts the most frequent train class, with the train class frequencies as probabilities.
Real targets: MAE, RMSE and R², in original units; the baseline predicts the train mean.
Class ids are the model's (vocabulary index + RESERVED); an id the vocabulary does not hold (a class
unseen in training) is never predicted right.
"""

from __future__ import annotations

import numpy as np

from seqjax.data.metadata import RESERVED, UNKNOWN

EPSILON = 1e-15
"""Probabilities are clipped to [EPSILON, 1] in log losses, so a confident mistake costs a large finite amount."""


def classification(labels: np.ndarray, probs: np.ndarray, prior: np.ndarray) -> dict[str, float]:
    """Metrics of [N] label ids against [N, V] predicted probabilities, and of the baseline whose
    probabilities are the train class frequencies `prior` [V] (it predicts the most frequent class)."""
    predicted = np.argmax(probs[:, RESERVED:], axis=1) + RESERVED  # the user's classes only
    baseline = np.full_like(labels, int(np.argmax(prior[RESERVED:])) + RESERVED)
    out = _labels_metrics(labels, predicted, probs.shape[1])
    out["log_loss"] = log_loss(labels, probs)
    base = _labels_metrics(labels, baseline, probs.shape[1])
    out.update({f"baseline_{k}": v for k, v in base.items()})
    out["baseline_log_loss"] = log_loss(labels, np.broadcast_to(prior, probs.shape))
    classes = np.flatnonzero(prior[RESERVED:] > 0) + RESERVED
    if len(classes) == 2:  # binary: the probability of the second class ranks the sequences
        positive = classes[1]
        out["roc_auc"] = roc_auc(labels == positive, probs[:, positive])
        out["baseline_roc_auc"] = 0.5
    return out


def _labels_metrics(labels: np.ndarray, predicted: np.ndarray, vocab: int) -> dict[str, float]:
    classes = np.arange(UNKNOWN, vocab)  # an unseen class is a class of the data too (its recall is 0)
    present = [c for c in classes if np.any(labels == c)]
    correct = (predicted == labels) & (labels != UNKNOWN)
    recalls = [float(np.mean(correct[labels == c])) for c in present]
    f1s = []
    for c in set(present) | set(int(p) for p in np.unique(predicted) if p >= RESERVED):
        tp = float(np.sum((predicted == c) & (labels == c)))
        fp = float(np.sum((predicted == c) & (labels != c)))
        fn = float(np.sum((predicted != c) & (labels == c)))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1.0))
    return {
        "accuracy": float(np.mean(correct)) if len(labels) else 0.0,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
    }


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-probability of the true class."""
    if not len(labels):
        return 0.0
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, EPSILON, 1.0))))


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance a positive scores above a negative (ties count half)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score), np.float64)
    sorted_scores = score[order]
    # average ranks of ties: each group of equal scores gets the mean of its positions
    starts = np.flatnonzero(np.concatenate([[True], sorted_scores[1:] != sorted_scores[:-1]]))
    ends = np.concatenate([starts[1:], [len(score)]])
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def regression(truth: np.ndarray, predicted: np.ndarray, train_mean: float) -> dict[str, float]:
    """MAE, RMSE and R² of predictions (original units), next to predicting the train mean."""
    if not len(truth):
        return {}
    error = predicted - truth
    spread = float(np.sum((truth - truth.mean()) ** 2))
    base = train_mean - truth
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1.0 - float(np.sum(error**2)) / spread if spread > 0 else 0.0,
        "baseline_mae": float(np.mean(np.abs(base))),
        "baseline_rmse": float(np.sqrt(np.mean(base**2))),
        "baseline_r2": 1.0 - float(np.sum(base**2)) / spread if spread > 0 else 0.0,
    }
