"""The sequence objective's losses and metrics: class weights (balanced and explicit), Huber, and every
metric against a value worked out by hand."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.data.metadata import ColumnMeta, Metadata
from seqjax.data.records import Sequences
from seqjax.objective import metrics
from seqjax.objective.sequence import SequenceTargets, class_weights
from seqjax.spec import SequenceObjective, SpecError, TrainSpec


def meta() -> Metadata:
    labels = (ColumnMeta(name="kind", kind="categorical", dtype="String", vocab=("x", "y", "z")), ColumnMeta(name="score", kind="real", dtype="Float64", mean=10.0, std=2.0))
    return Metadata(
        fingerprint="test", id_column="id", position_column="pos", id_dtype="Int64", columns=(ColumnMeta(name="e", kind="categorical", dtype="String", vocab=("a",)),),
        context=4, stride=4, format="arrayrecord", rows=0, splits={}, view="sequences", labels=labels, label_counts={"kind": [0, 0, 6, 3, 1]},
    )  # fmt: skip


def objective(**changes) -> SequenceTargets:
    return SequenceTargets(meta(), TrainSpec(targets=("kind", "score")), SequenceObjective(**changes))


def test_balanced_and_explicit_class_weights():
    target = objective().targets[0]
    np.testing.assert_allclose(class_weights(meta(), target, SequenceObjective()), [0, 1, 1, 1, 1])
    balanced = class_weights(meta(), target, SequenceObjective(balance=("kind",)))
    np.testing.assert_allclose(balanced, [0, 1, 10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)], rtol=1e-6)  # n / (classes * count)
    explicit = class_weights(meta(), target, SequenceObjective(class_weights={"kind": {"z": 5.0}}))
    np.testing.assert_allclose(explicit, [0, 1, 1, 1, 5])
    with pytest.raises(SpecError, match=r"'w' is not a class of 'kind'; classes are \['x', 'y', 'z'\]"):
        class_weights(meta(), target, SequenceObjective(class_weights={"kind": {"w": 2.0}}))


def batch(labels: list[int], values: list[float], valid: list[bool]) -> Sequences:
    B = len(labels)
    return Sequences(
        cat=jnp.zeros((B, 2, 1), jnp.int32), real=jnp.zeros((B, 2, 0)), mask=jnp.ones((B, 2), bool), order=jnp.zeros((B, 2), jnp.int32),
        sequence=jnp.arange(B), valid=jnp.asarray(valid), label_cat=jnp.asarray(labels, jnp.int32)[:, None],
        label_real=jnp.asarray(values, jnp.float32)[:, None], static_cat=jnp.zeros((B, 0), jnp.int32), static_real=jnp.zeros((B, 0)),
    )  # fmt: skip


def test_weighted_mean_losses_count_only_real_rows():
    logits = jnp.log(jnp.asarray([[1e-9, 1e-9, 0.5, 0.25, 0.25]] * 3))
    outputs = {"kind": logits, "score": jnp.asarray([1.0, 0.0, 9.0])}
    b = batch([2, 4, 3], [0.0, 2.0, 0.0], [True, True, False])
    plain = objective()
    sums, counts = plain.sums(outputs, b), plain.counts(b)
    np.testing.assert_allclose(sums["kind"]["loss"] / counts["kind"], (-np.log(0.5) - np.log(0.25)) / 2, rtol=1e-5)
    np.testing.assert_allclose(sums["score"]["loss"] / counts["score"], (1.0 + 4.0) / 2, rtol=1e-6)
    weighted = objective(class_weights={"kind": {"z": 3.0}})
    sums, counts = weighted.sums(outputs, b), weighted.counts(b)
    np.testing.assert_allclose(sums["kind"]["loss"] / counts["kind"], (-np.log(0.5) - 3 * np.log(0.25)) / 4, rtol=1e-5)
    huber = objective(real_loss="huber", huber_delta=1.0)
    np.testing.assert_allclose(huber.sums(outputs, b)["score"]["loss"], 0.5 * 1.0 + (2.0 - 0.5), rtol=1e-6)


def test_classification_metrics_by_hand():
    labels = np.array([2, 2, 3, 4, 4, 1])  # the last: a class unseen in training, never predicted right
    probs = np.zeros((6, 5))
    probs[np.arange(6), [2, 3, 3, 4, 2, 2]] = 0.9
    probs[:, 1] = 0.01
    prior = np.array([0, 0, 0.5, 0.3, 0.2])
    out = metrics.classification(labels, probs, prior)
    assert out["accuracy"] == pytest.approx(3 / 6)
    assert out["balanced_accuracy"] == pytest.approx(np.mean([1 / 2, 1 / 1, 1 / 2, 0.0]))  # recall of classes 2, 3, 4, unknown
    f1 = {2: 2 * 1 / (2 + 2 + 1), 3: 2 * 1 / (2 + 1 + 0), 4: 2 * 1 / (2 + 0 + 1), "unknown": 0.0}
    assert out["macro_f1"] == pytest.approx(np.mean(list(f1.values())))
    assert out["baseline_accuracy"] == pytest.approx(2 / 6)  # always class 2
    assert out["log_loss"] == pytest.approx(-np.mean(np.log(np.clip(probs[np.arange(6), labels], 1e-15, 1))))
    assert "roc_auc" not in out


def test_roc_auc_of_two_classes_with_ties():
    positive = np.array([True, False, True, False, True])
    score = np.array([0.9, 0.1, 0.5, 0.5, 0.3])
    # pairs (pos, neg): (0.9, 0.1) (0.9, 0.5) (0.5, 0.1) (0.5, 0.5 tie) (0.3, 0.1) (0.3, 0.5): 4 + 0.5 of 6
    assert metrics.roc_auc(positive, score) == pytest.approx(4.5 / 6)


def test_regression_metrics_in_original_units():
    truth, predicted = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 4.0, 2.0])
    out = metrics.regression(truth, predicted, train_mean=2.0)
    assert out["mae"] == pytest.approx(0.75) and out["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert out["r2"] == pytest.approx(1 - 5 / 5) and out["baseline_mae"] == pytest.approx(1.0)
    report = objective().summarize({
        "kind": np.array([[0, 0, 1, 0, 0]] * 2, float), "kind:label": np.array([2, 3]), "kind:loss": np.array([0.0, 1.0]), "kind:weight": np.ones(2),
        "score": np.array([0.0, 1.0]), "score:label": np.array([0.0, 0.5]), "score:loss": np.array([0.0, 0.25]), "score:weight": np.ones(2),
    })  # fmt: skip
    assert report["targets"]["score"]["mae"] == pytest.approx(0.5)  # standardised errors 0 and 0.5, std 2
    assert report["loss"] == pytest.approx(0.5 + 0.125)
    assert dataclasses.is_dataclass(SequenceObjective())
