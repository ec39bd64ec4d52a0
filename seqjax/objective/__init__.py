"""Objectives: what a run learns, and everything that depends on it.

An objective decides which view of the data it reads (its `batch_type`), what the model returns
(`readout`), the loss sums and their denominators, the evaluation metrics with their naive
baselines, and which inference modes it offers. The train step and the evaluation loop take an
objective and know nothing else about the task. `train.objective` in the spec builds one:

    objective = spec.train.objective.build(meta, spec.train)
"""

from seqjax.objective.evaluation import Summed
from seqjax.objective.next import NextItem
from seqjax.objective.targets import Target, check_targets, targets_of

__all__ = ["NextItem", "Summed", "Target", "check_targets", "targets_of"]
