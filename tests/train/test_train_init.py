"""Fine-tuning: a sequence model that starts from a contrastive run's embeddings and encoder, with frozen parts
that stay bit-identical and get no optimizer state; a run of another shape fails with one line."""

from __future__ import annotations

import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from tiny import SEQUENCE_SPEC
from tiny_contrastive import write_contrastive_experiment

from seqjax import experiment
from seqjax.spec import SpecError, load_spec
from seqjax.train import init as finetune
from seqjax.train.loop import Trainer


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> pathlib.Path:
    spec = write_contrastive_experiment(tmp_path_factory.mktemp("pretrained"), steps=4, every=4, dropout=0.0)
    experiment.preprocess(load_spec(spec))
    experiment.train(load_spec(spec), progress_bar=False)
    return spec.parent / "run"


def fine_tune_spec(pretrained: pathlib.Path) -> pathlib.Path:
    text = SEQUENCE_SPEC.format(steps=4, every=4, encoder='{ kind = "transformer", causal = false }', pooling='{ kind = "mean" }', buckets="[24]")
    path = pretrained.parent / "fine.toml"
    path.write_text(text.replace('workdir = "run"', 'workdir = "fine"'))
    return path


def params_of(trainer_or_state) -> dict:
    state = trainer_or_state.state.params if isinstance(trainer_or_state, Trainer) else trainer_or_state
    return {k: np.asarray(v) for k, v in finetune.flat(state).items()}


def pretrained_params(run: pathlib.Path) -> dict:
    from seqjax.infer.api import load

    return {k: np.asarray(v) for k, v in finetune.flat(load(run).functions.params).items()}


def test_fine_tuning_starts_from_the_run_and_frozen_parts_stay_bit_identical(pretrained):
    spec_path = fine_tune_spec(pretrained)
    overrides = [f"train.init={str(pretrained)!r}", "train.freeze=['embed', 'layer.0']"]
    spec = load_spec(spec_path, overrides)
    experiment.preprocess(spec)
    before = pretrained_params(pretrained)
    trainer = Trainer(spec)
    start = params_of(trainer)
    for path, value in before.items():  # embeddings, encoder: the pretrained values (tables matched by value)
        assert path in start, path
        if path[0] != "embed" or path[1] != "columns":
            np.testing.assert_array_equal(start[path], value)
    assert any(p[0] == "heads" for p in start) and not any(p[0] == "heads" for p in before)
    # no optimizer moments for frozen parameters: the state is smaller by exactly their two moments
    frozen = sum(v.size for p, v in start.items() if p[0] in ("embed", "blocks") and (p[0] == "embed" or p[1] == "0"))
    moments = sum(x.size for x in jax.tree.leaves(trainer.state.opt))
    total = sum(v.size for v in start.values())
    assert moments == 2 * (total - frozen) + sum(x.size for x in jax.tree.leaves(trainer.state.opt) if x.ndim == 0)
    experiment.train(spec, progress_bar=False)
    mngr = ocp.CheckpointManager(spec.paths.checkpoints, options=ocp.CheckpointManagerOptions(read_only=True))
    saved = mngr.restore(mngr.latest_step(), args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]["params"]
    mngr.close()
    final = {k: np.asarray(v) for k, v in finetune.flat(saved).items()}
    changed = []
    for path, value in start.items():
        if path[0] == "embed" or path[:2] == ("blocks", "0"):
            assert final[path].tobytes() == value.tobytes(), path  # bit-identical
        elif not np.array_equal(final[path], value):
            changed.append(path)
    assert any(p[:2] == ("blocks", "1") or p[0] == "norm" for p in changed) and any(p[0] == "heads" for p in changed)


def test_a_run_of_another_shape_fails_naming_the_first_parameter(pretrained, capsys):
    from seqjax import cli

    spec_path = fine_tune_spec(pretrained)
    overrides = ["--set", f"train.init={str(pretrained)!r}", "--set", "model.dim=32", "--set", "workdir='wide'"]
    assert cli.main(["preprocess", str(spec_path), *overrides]) == 0
    assert cli.main(["train", str(spec_path), "--no-progress", *overrides]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("seqjax: error: train.init = ") and "parameter blocks.0.attention.out.kernel has shape (2, 8, 16) there and (2, 16, 32) here" in err[-1]
    with pytest.raises(SpecError, match=r"train.freeze = \['layer.2'\]: 'layer.2': model.layers = 1, so layers are 0..0"):
        load_spec(spec_path, ["train.freeze=['layer.2']"])
    with pytest.raises(SpecError, match=r"train.freeze = \['encoders'\]: 'encoders' is not a part; parts are \['embed', 'encoder', 'pooling', 'statics', 'heads'\]"):
        load_spec(spec_path, ["train.freeze=['encoders']"])
    with pytest.raises(SpecError, match=r"train.freeze = \['heads', 'heads'\]: 'heads' appears more than once"):
        load_spec(spec_path, ["train.freeze=['heads', 'heads']"])
    with pytest.raises(finetune.InitError, match=r"train.freeze = \['pooling'\]: 'pooling' names no parameter of this model"):
        Trainer(load_spec(spec_path, ["train.freeze=['pooling']"]))
