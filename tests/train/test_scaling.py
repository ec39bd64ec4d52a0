"""One spec on any mesh: same losses and parameters on (2,2,2), (8,1,1), (2,4,1) and (1,1,1);
optimizer state sharded like the parameters; checkpoints move between meshes; gradient
accumulation equals one big batch; bfloat16 compute keeps float32 parameters and moments."""

import os
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P
from tiny import final_params, write_experiment

from seqjax import experiment
from seqjax.data import pipeline
from seqjax.model import activate
from seqjax.spec import SpecError, load_spec
from seqjax.train import checkpoint, loop
from seqjax.train.metrics import read

STEPS = 8
MESH_222 = "mesh={data=2, fsdp=2, tensor=2}"


def train_losses(run_dir: pathlib.Path) -> list[float]:
    return [r["loss"] for r in read(run_dir / "metrics.jsonl") if r["split"] == "train"]


def run_steps(spec, steps: int, devices=None):
    """(trainer, state, losses) after `steps` updates, driven like the loop but without evaluation or checkpoints."""
    trainer = loop.Trainer(spec, devices)
    iterator = pipeline.train_iterator(trainer.meta, trainer.data_dir, global_batch=spec.train.batch_size, seed=spec.seed, rows=trainer.rows)
    losses, state = [], trainer.state
    with activate(trainer.mesh):
        for _ in range(steps):
            state, metrics = trainer.train_step(state, trainer.rest, trainer.device_batch(next(iterator), spec.train.batch_size))
            losses.append(float(metrics["loss"]))
    return trainer, state, losses


def saved_params(run_dir: pathlib.Path, step: int, like) -> list[np.ndarray]:
    """Parameters of checkpoint `step`, laid out like the train state `like`."""
    mngr = checkpoint.manager(run_dir / "checkpoints", read_only=True)
    state, _ = checkpoint.restore(mngr, step, like)
    mngr.close()
    return [np.asarray(x) for x in jax.tree.leaves(state["params"])]


def assert_params_close(state, expected: list[np.ndarray], rtol=1e-4, atol=1e-6):
    leaves = [np.asarray(x) for x in jax.tree.leaves(state["params"])]
    assert len(leaves) == len(expected)
    for a, b in zip(leaves, expected):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def flat(state) -> dict[str, jax.Array]:
    return {"/".join(map(str, path)): v.get_value() for path, v in nnx.to_flat_state(state)}


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> pathlib.Path:
    path = write_experiment(tmp_path_factory.mktemp("scaling"), steps=STEPS, every=4, eval_every=4, dropout=0.0)
    experiment.preprocess(load_spec(path))
    return path


def spec_for(spec_path: pathlib.Path, workdir: str, *overrides: str):
    spec = load_spec(spec_path, [f"workdir='{workdir}'", "train.log_every=1", *overrides])
    if not (spec.workpath / "data").exists():
        spec.workpath.mkdir(parents=True, exist_ok=True)
        os.symlink(spec_path.parent / "run" / "data", spec.workpath / "data")
    return spec


@pytest.fixture(scope="module")
def whole(spec_path):
    """The reference: the full loop on (2,2,2), checkpoints at steps 4 and 8."""
    spec = spec_for(spec_path, "whole", MESH_222)
    experiment.train(spec, progress_bar=False)
    losses = train_losses(spec.workpath)
    assert len(losses) == STEPS
    return spec, losses


# (8,1,1) is the mesh the checkpoint test resumes on: its steps 5 to 8 are compared there.
@pytest.mark.parametrize("mesh, devices", [("mesh={data=2, fsdp=4}", 8), ("mesh={data=1}", 1)], ids=["2x4x1", "1x1x1"])
def test_other_meshes_train_like_2x2x2(spec_path, whole, mesh, devices):
    spec = spec_for(spec_path, f"mesh{devices}", mesh)
    trainer, state, losses = run_steps(spec, 4, jax.devices()[:devices])
    assert trainer.mesh.devices.size == devices
    np.testing.assert_allclose(losses, whole[1][:4], rtol=2e-5)
    assert_params_close(state, saved_params(whole[0].workpath, 4, state))


def test_checkpoint_from_2x2x2_resumes_on_8x1x1(spec_path, whole):
    reference, losses = whole
    spec = spec_for(spec_path, "resumed", "mesh={data=8}")
    shutil.copytree(reference.workpath / "checkpoints", spec.workpath / "checkpoints", ignore=lambda folder, names: [n for n in names if n == str(STEPS)])
    shutil.copy(reference.workpath / "metrics.jsonl", spec.workpath / "metrics.jsonl")
    result = experiment.train(spec, progress_bar=False)
    assert result.step == STEPS
    np.testing.assert_allclose(train_losses(spec.workpath), losses, rtol=2e-5)
    resumed, uninterrupted = final_params(spec.workpath), final_params(reference.workpath)
    assert len(resumed) == len(uninterrupted) > 0
    for a, b in zip(resumed, uninterrupted):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


EXPECTED = {
    "embed/columns/0/embedding": P(None, "fsdp"),
    "blocks/0/attention/qkv/kernel": P("fsdp", "tensor", None, None),
    "blocks/1/attention/out/kernel": P("tensor", None, "fsdp"),
    "blocks/0/mlp/up/kernel": P("fsdp", None, "tensor"),
    "blocks/1/mlp/down/kernel": P("tensor", "fsdp"),
    "norm/scale": P(None),
    "heads/layers/0/kernel": P("fsdp", None),
    "heads/layers/0/bias": P(None),
}


def test_accumulating_two_micro_batches_equals_one_batch_with_state_sharded_like_params(spec_path, whole):
    spec = spec_for(spec_path, "accumulate", MESH_222, "train.accumulate=2")
    trainer, state, losses = run_steps(spec, 4)
    np.testing.assert_allclose(losses, whole[1][:4], rtol=2e-5)
    assert_params_close(state, saved_params(whole[0].workpath, 4, state))
    # Literal shardings on (2,2,2): parameters by the rules table, Adam's moments exactly like them, counters replicated.
    params, mu, nu = flat(state["params"]), flat(optax.tree.get(state["opt"], "mu")), flat(optax.tree.get(state["opt"], "nu"))
    assert mu.keys() == nu.keys() == params.keys()
    for name, spec_ in EXPECTED.items():
        assert params[name].sharding.spec == spec_, name
        assert mu[name].sharding.spec == spec_, name
        assert nu[name].sharding.spec == spec_, name
    for name in params:
        assert mu[name].sharding == nu[name].sharding == params[name].sharding, name
    counts = [x for _, x in optax.tree.get_all_with_path(state["opt"], "count")]
    assert len(counts) == 2 and all(c.sharding.spec == P() and c.shape == () for c in counts)
    assert state["step"].sharding.spec == P() and int(state["step"]) == 4
    declared = jax.tree.leaves(jax.tree.map(lambda sharding, x: sharding == x.sharding, trainer.state_shardings, state))
    assert declared and all(declared)


def test_bfloat16_compute_trains_with_float32_parameters_and_moments(spec_path, whole):
    spec = spec_for(spec_path, "bf16", "mesh={data=1}", "model.dtype='bfloat16'")
    _, state, losses = run_steps(spec, 3, jax.devices()[:1])
    assert all(np.isfinite(losses))
    np.testing.assert_allclose(losses[0], whole[1][0], rtol=2e-2)  # same initial parameters, rounder arithmetic
    assert losses[0] != whole[1][0]
    moments = optax.tree.get(state["opt"], "mu"), optax.tree.get(state["opt"], "nu")
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves((state["params"], moments)))


def test_a_batch_that_does_not_split_over_the_mesh_fails_with_the_sizes(spec_path):
    with pytest.raises(SpecError, match=r"train.batch_size = 12: must be divisible by the 8 devices of the mesh axes \('data', 'fsdp'\)"):
        spec_for(spec_path, "uneven", "train.batch_size=12", "mesh={data=8}")  # fixed sizes: at load time
    spec = spec_for(spec_path, "uneven", "train.batch_size=12", "mesh={data=-1}")
    with pytest.raises(SpecError, match=r"train.batch_size = 12: must be divisible by the 8 devices of the mesh axes \('data', 'fsdp'\)"):
        loop.Trainer(spec)  # sizes known once the devices are


def test_a_sequence_objective_trains_alike_on_2x2x2_and_on_one_device(tmp_path):
    from tiny import write_sequence_experiment

    path = write_sequence_experiment(tmp_path, steps=3, encoder='{ kind = "transformer", causal = false }', pooling='{ kind = "attention" }')
    experiment.preprocess(load_spec(path))
    _, state8, sharded = run_steps(load_spec(path, ["train.log_every=1", MESH_222]), 3)
    _, state1, single = run_steps(load_spec(path, ["train.log_every=1", "mesh={data=1}"]), 3, jax.devices()[:1])
    np.testing.assert_allclose(sharded, single, rtol=2e-5)
    assert_params_close(state8, [np.asarray(x) for x in jax.tree.leaves(state1["params"])])
