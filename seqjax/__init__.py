"""seqjax: causal transformers on multivariate sequences, from one TOML spec."""

from seqjax.experiment import infer, preprocess, run, train
from seqjax.spec import Spec, SpecError, load_spec

__all__ = ["Spec", "SpecError", "infer", "load_spec", "preprocess", "run", "train"]
