"""`[train] objective`: what a run learns; a tagged variant that builds the objective for the run's data."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from seqjax.spec.choices import ColumnKind, InferMode, SpecError
from seqjax.spec.choices import suggest as _suggest
from seqjax.spec.representations import AutoencodeObjective, MaskedObjective

if TYPE_CHECKING:
    from seqjax.spec.sections import Spec


def next_mode_problem(mode: InferMode, kinds: dict[str, ColumnKind], targets: tuple[str, ...]) -> str | None:
    """Why a next-item model over columns of `kinds` with these targets cannot run `mode` (None if it can)."""
    if mode == InferMode.GENERATE:
        missing = [name for name in kinds if name not in targets]
        if missing:
            return f"infer.mode = 'generate' needs every column as a target (every column is an input); missing {missing}"
    if mode == InferMode.PROBABILITIES and not any(kinds[t] == ColumnKind.CATEGORICAL for t in targets if t in kinds):
        return "infer.mode = 'probabilities' needs a categorical target"
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class NextObjective:
    """Predict every item of a window from the items before it (teacher forcing)."""

    kind: Literal["next"] = "next"
    view = "windows"
    """Preprocessing writes windows of `data.context + 1` items."""

    def check(self, spec: "Spec") -> None:
        """What the spec alone can tell: the targets are item columns, and the model can run `infer.mode`."""
        kinds = {c.name: c.kind for c in spec.data.columns}
        targets = list(spec.train.targets)
        for target in targets:
            if target not in kinds:
                raise SpecError(f"train.targets = {targets!r}: {target!r} is not a column; columns are {list(kinds)}{_suggest(target, kinds)}")
        problem = next_mode_problem(spec.infer.mode, kinds, spec.train.targets)
        if problem:
            raise SpecError(f"train.targets = {targets!r}: {problem}")

    def build(self, meta, train):
        """The objective over `meta`'s columns with `train`'s targets and weights."""
        from seqjax.objective.next import NextItem

        return NextItem(meta, train.targets, train.weights)


SEQUENCE_MODES = (InferMode.PREDICT, InferMode.PROBABILITIES, InferMode.EMBED)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SequenceObjective:
    """One answer per sequence (its labels), from the whole sequence and its static features."""

    kind: Literal["sequence"] = "sequence"
    balance: tuple[str, ...] = ()
    """Categorical targets whose classes are weighted inversely to their train frequency ("balanced")."""
    class_weights: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    """Explicit class weights per categorical target: {target = {class value = weight}}; unnamed classes weigh 1."""
    real_loss: Literal["mse", "huber"] = "mse"
    """Loss of real targets (standardised): squared error, or Huber with `huber_delta`."""
    huber_delta: float = 1.0
    """Huber loss: errors (standardised) up to this count quadratically, beyond it linearly."""

    view = "sequences"
    """Preprocessing writes whole sequences (up to `data.max_length` items) with their labels."""

    def __post_init__(self):
        if self.huber_delta <= 0:
            raise SpecError(f"train.objective.huber_delta = {self.huber_delta}: must be positive")
        for target, weights in self.class_weights.items():
            for value, weight in weights.items():
                if weight < 0:
                    raise SpecError(f"train.objective.class_weights.{target}.{value} = {weight}: must be 0 or positive")

    def check(self, spec: "Spec") -> None:
        """Labels are given, targets are label columns, and the modes are the ones a per-sequence model has."""
        data, targets = spec.data, list(spec.train.targets)
        if data.start:
            raise SpecError("data.start = true: the start slot predicts a sequence's first item, for train.objective 'next'; 'sequence' reads whole sequences")
        if not data.labels:
            raise SpecError("data.labels = '': train.objective 'sequence' needs a labels table (one row per sequence with the targets)")
        items = [c.name for c in data.columns]
        declared = {c.name: c.kind for c in data.label_columns}
        for target in targets:
            if target in items:
                raise SpecError(f"train.targets = {targets!r}: {target!r} is an item column; the 'sequence' objective predicts label columns")
            if declared and target not in declared:
                raise SpecError(f"train.targets = {targets!r}: {target!r} is not a label column; label columns are {list(declared)}{_suggest(target, declared)}")
        for name in (*self.balance, *self.class_weights):
            if name not in targets or (declared and declared[name] != ColumnKind.CATEGORICAL):
                raise SpecError(f"train.objective: class weights for {name!r}: must name a categorical target; targets are {targets}")
        if spec.data.split.by != "sequence":
            raise SpecError(f"data.split.by = {spec.data.split.by.value!r}: the 'sequence' objective splits whole sequences (by = 'sequence', or the labels' split column)")
        if spec.infer.mode not in SEQUENCE_MODES:
            raise SpecError(f"infer.mode = {spec.infer.mode.value!r}: the 'sequence' objective offers {[m.value for m in SEQUENCE_MODES]}")

    def build(self, meta, train):
        from seqjax.objective.sequence import SequenceTargets

        return SequenceTargets(meta, train, self)



@dataclasses.dataclass(frozen=True, kw_only=True)
class ContrastiveObjective:
    """Self-supervised embeddings (CoLES): random sub-sequences of one sequence are positives, every other
    view in the global batch a negative."""

    kind: Literal["contrastive"] = "contrastive"
    views: int = 2
    """Sub-sequences drawn per sequence and step."""
    min_length: int = 8
    """Shortest view (items); a sequence of at most this many items gives itself as every view."""
    max_length: int = 32
    """Longest view (items); a sequence shorter than this caps its views at its own length."""
    short_crop_rate: float = 1.0
    """Below 1: a sequence with `short_crop_rate` x its length <= `min_length` draws views from that many items up
    (pytorch-lifestream's `short_seq_crop_rate`); 1 keeps short sequences whole."""
    loss: Literal["infonce", "margin"] = "infonce"
    """`infonce`: softmax over the cosine similarities at `temperature`; `margin`: squared distance of positives
    plus squared hinge at `margin` of the `negatives` hardest negatives of each view."""
    temperature: float = 0.1
    """InfoNCE: similarities are divided by it."""
    margin: float = 0.5
    """Margin loss: negatives closer than this (Euclidean, unit vectors) are pushed apart."""
    negatives: int = 5
    """Margin loss: hardest negatives per view."""

    view = "sequences"
    """Preprocessing writes whole sequences (up to `data.max_length` items); labels are optional and not read."""
    needs_targets = False
    """`train.targets` stays empty: nothing is predicted."""

    def __post_init__(self):
        for key, low in (("views", 2), ("min_length", 1), ("negatives", 1)):
            if getattr(self, key) < low:
                raise SpecError(f"train.objective.{key} = {getattr(self, key)}: must be at least {low}")
        if self.max_length < self.min_length:
            raise SpecError(f"train.objective.max_length = {self.max_length}: must be at least train.objective.min_length ({self.min_length})")
        if not 0.0 < self.short_crop_rate <= 1.0:
            raise SpecError(f"train.objective.short_crop_rate = {self.short_crop_rate}: must be in (0, 1]")
        for key in ("temperature", "margin"):
            if getattr(self, key) <= 0:
                raise SpecError(f"train.objective.{key} = {getattr(self, key)}: must be positive")

    def check(self, spec: "Spec") -> None:
        """Nothing is predicted, whole sequences are split, the loss sees the whole batch at once, and runs embed."""
        if spec.train.targets:
            raise SpecError(f"train.targets = {list(spec.train.targets)!r}: the 'contrastive' objective predicts nothing; set train.targets = []")
        if spec.data.split.by != "sequence":
            raise SpecError(f"data.split.by = {spec.data.split.by.value!r}: the 'contrastive' objective splits whole sequences (by = 'sequence')")
        if spec.train.accumulate != 1:
            raise SpecError(f"train.accumulate = {spec.train.accumulate}: the 'contrastive' objective compares every view of the batch with every other; it needs one micro-batch")
        if spec.infer.mode != InferMode.EMBED:
            raise SpecError(f"infer.mode = {spec.infer.mode.value!r}: the 'contrastive' objective offers ['embed']")

    def build(self, meta, train):
        from seqjax.objective.contrastive import Contrastive

        return Contrastive(meta, self)


ObjectiveSpec = NextObjective | SequenceObjective | ContrastiveObjective | AutoencodeObjective | MaskedObjective
