"""seqjax: causal transformers on multivariate sequences, from one TOML spec."""

from seqjax.experiment import export, infer, preprocess, run, train
from seqjax.spec import Spec, SpecError, load_spec


def load(path, *, devices=None):
    """A trained model as functions over long-format frames (see seqjax.infer.api.Predictor).

    `path` is a run folder (the workdir, holding `spec.json`) or the spec's TOML file.
    """
    from seqjax.infer.api import load as load_predictor

    return load_predictor(path, devices=devices)


__all__ = ["Spec", "SpecError", "export", "infer", "load", "load_spec", "preprocess", "run", "train"]
