"""The masked objective: only hidden items count, hidden items reach the encoder as MASK ids (a new id past each
vocabulary; padding and unknown keep theirs) or the learned vector, spans and rates are as asked, a bidirectional
encoder learns to fill in items, and each bad spec fails with one line."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_objective_autoencode import batch, built, meta, spec_of, trained

from seqjax.data.metadata import PAD, RESERVED, UNKNOWN
from seqjax.model.masking import HIDDEN, choose, mask_id
from seqjax.spec import SpecError

BIDIRECTIONAL = '{ kind = "transformer", causal = false }'


def masked_spec(objective: str = '{ kind = "masked", rate = 0.3 }', encoder: str = BIDIRECTIONAL, train: dict | None = None):
    return spec_of(encoder, objective, train)


def test_loss_counts_only_hidden_items():
    objective, _ = built(masked_spec())
    data = batch(np.array([0, 1]), np.array([4, 6]), 6)
    hidden = np.zeros((2, 6), bool)
    hidden[0, 3], hidden[1, [0, 4]] = True, True
    rng = np.random.default_rng(0)
    outputs = {"event": jnp.asarray(rng.normal(size=(2, 6, 6)), jnp.float32), "amount": jnp.asarray(rng.normal(size=(2, 6)), jnp.float32), HIDDEN: jnp.asarray(hidden)}
    sums = objective.sums(outputs, data)
    logp = jax.nn.log_softmax(outputs["event"])
    labels = np.asarray(data.cat[..., 0])
    expected = -np.mean([logp[b, j, labels[b, j]] for b, j in zip(*np.nonzero(hidden))])
    np.testing.assert_allclose(sums["event"]["loss"] / sums["event"]["count"], expected, rtol=1e-5)
    np.testing.assert_allclose(sums["amount"]["count"], 3)
    # Anything at items that were not hidden changes nothing.
    noisy = {**outputs, "event": jnp.where(jnp.asarray(hidden)[..., None], outputs["event"], 50.0), "amount": jnp.where(jnp.asarray(hidden), outputs["amount"], -9.0)}
    np.testing.assert_allclose(objective.loss(objective.sums(noisy, data), None), objective.loss(sums, None), rtol=1e-6)


def test_hidden_items_reach_the_encoder_as_mask_ids_and_the_learned_vector():
    objective, model = built(masked_spec())
    assert mask_id(meta().column("event").vocab_size) == 6 and (PAD, UNKNOWN, RESERVED) == (0, 1, 2)
    assert model.encoder.embed.columns[0].embedding.shape == (7, 16)  # ids 0..5 as before, and the MASK row
    data = batch(np.array([0, 1, 2, 3]), np.array([6, 6, 6, 6]), 6)
    outputs = model(**objective.inputs(data))[0]
    hidden = np.asarray(outputs[HIDDEN])
    assert outputs["event"].shape == (4, 6, 6)  # logits over the column's own ids only
    # The true values of hidden items never reach the encoder: changing them changes no output.
    changed = data._replace(cat=jnp.where(jnp.asarray(hidden)[..., None], 5, data.cat), real=jnp.where(jnp.asarray(hidden)[..., None], 7.0, data.real))
    again = model(**objective.inputs(changed))[0]
    np.testing.assert_array_equal(np.asarray(again[HIDDEN]), hidden)
    np.testing.assert_allclose(again["amount"], outputs["amount"], atol=1e-6)
    cat, real = model.hide(data.cat, data.real, jnp.asarray(hidden))
    assert np.all(np.asarray(cat)[hidden] == 6) and np.all(np.asarray(cat)[~hidden][..., 0] == np.asarray(data.cat)[~hidden][..., 0])


def test_hidden_items_come_in_spans_at_the_asked_rate_never_on_padding():
    mask = jnp.asarray(np.arange(200)[None, :] >= np.array([[0], [50], [199], [120]]))
    for span in (1, 3):
        hidden = np.asarray(choose(jax.random.key(3), mask, 0.2, span))
        assert not np.any(hidden & ~np.asarray(mask)) and np.all(hidden.any(axis=1))
        assert 0.13 < hidden[0].mean() < 0.27
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], hidden[0].astype(int), [0]]))))[::2]
        assert runs.min() >= span if span > 1 else runs.min() >= 1
    same = np.asarray(choose(jax.random.key(3), mask, 0.2, 3))
    np.testing.assert_array_equal(same, hidden)


def test_a_bidirectional_encoder_learns_to_fill_in_items():
    # Each sequence repeats one class: a hidden item is the class of its neighbours.
    rng = np.random.default_rng(1)
    data = batch(np.arange(32) % 4, rng.integers(4, 7, 32), 6)
    objective, model, _ = trained(masked_spec(), data, steps=100)
    outputs = model(**objective.inputs(data))[0]
    report = objective.summarize(jax.device_get(objective.sums(outputs, data)))
    assert report["targets"]["event"]["accuracy"] == 1.0 and report["targets"]["event"]["baseline_accuracy"] < 0.5
    assert report["targets"]["amount"]["loss"] < 0.05 < report["targets"]["amount"]["baseline_loss"]
    z = model.sequence_vector(data.cat, data.real, data.mask, data.order)
    assert z.shape == (32, 16)


@pytest.mark.parametrize(
    "objective, encoder, train, message",
    [
        ('{ kind = "masked" }', '{ kind = "transformer" }', None, r"model.encoder.kind = 'transformer': the 'masked' objective needs a bidirectional encoder"),
        ('{ kind = "masked" }', '{ kind = "rnn" }', None, r"model.encoder.kind = 'rnn': the 'masked' objective needs a bidirectional encoder"),
        ('{ kind = "masked" }', '{ kind = "aggregate" }', None, r"model.encoder.kind = 'aggregate': the 'masked' objective needs a bidirectional encoder"),
        ('{ kind = "masked", rate = 0.0 }', BIDIRECTIONAL, None, r"train.objective.rate = 0.0: must be in \(0, 1\)"),
        ('{ kind = "masked", span = 0 }', BIDIRECTIONAL, None, "train.objective.span = 0: must be at least 1"),
        ('{ kind = "masked" }', BIDIRECTIONAL, {"accumulate": 2, "batch_size": 8}, "train.accumulate = 2: the 'masked' objective draws its hidden items in the forward pass; use 1"),
    ],
)
def test_bad_masked_specs_fail_with_one_line(objective, encoder, train, message):
    with pytest.raises(SpecError, match=message) as error:
        masked_spec(objective, encoder, train)
    assert "\n" not in str(error.value)
