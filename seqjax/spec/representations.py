"""`[train] objective` variants that learn without labels: `autoencode` and `masked`.

Both read whole sequences (in length buckets, as the `sequence` objective does) and learn from the
items alone; `train.targets` names the item columns each one reconstructs or predicts.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from seqjax.spec.choices import InferMode, SpecError
from seqjax.spec.choices import suggest as _suggest

if TYPE_CHECKING:
    from seqjax.spec.sections import Spec

AUTOENCODE_MODES = (InferMode.EMBED,)
MASKED_MODES = (InferMode.EMBED,)


def decoder_for(decoder: str, encoder_kind: str) -> str:
    """The decoder `auto` stands for, given `model.encoder.kind`: linear for linear, transformer for transformer, else lstm."""
    if decoder != "auto":
        return decoder
    return {"linear": "linear", "transformer": "transformer"}.get(encoder_kind, "lstm")


def _check_items(spec: "Spec", kind: str, modes: tuple[InferMode, ...]) -> None:
    """Targets are item columns, sequences are split whole, and `infer.mode` is one the objective offers."""
    items = [c.name for c in spec.data.columns]
    targets = list(spec.train.targets)
    for target in targets:
        if target not in items:
            raise SpecError(f"train.targets = {targets!r}: {target!r} is not an item column; the {kind!r} objective learns item columns {items}{_suggest(target, items)}")
    if spec.data.split.by != "sequence":
        raise SpecError(f"data.split.by = {spec.data.split.by.value!r}: the {kind!r} objective splits whole sequences (by = 'sequence', or the labels' split column)")
    if spec.infer.mode not in modes:
        raise SpecError(f"infer.mode = {spec.infer.mode.value!r}: the {kind!r} objective offers {[m.value for m in modes]}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AutoencodeObjective:
    """Compress each whole sequence to a code of `code_dim` numbers and reconstruct every item of it from the code
    (cross-entropy for categorical targets, squared error for real ones; padding never counts)."""

    kind: Literal["autoencode"] = "autoencode"
    code_dim: int = 16
    """Numbers in the code of one sequence (its embedding)."""
    decoder: Literal["auto", "lstm", "transformer", "linear"] = "auto"
    """How items come back from the code: `lstm` (fed the repeated code), `transformer` (positions attend to the code),
    `linear` (an MLP to every slot of `data.max_length`); `auto` picks linear for the linear encoder, transformer for the
    transformer, lstm for the others."""
    memory: int = 4
    """Transformer decoder: tokens the code is unfolded into (what the positions attend to)."""
    denoise: bool = False
    """Corrupt the inputs during training (the loss still targets the clean sequence): `drop` and `noise`."""
    drop: float = 0.15
    """Denoising: share of items whose categorical values are replaced by the unknown id."""
    noise: float = 0.1
    """Denoising: standard deviation of the Gaussian noise added to the real values (standardised units)."""

    view = "sequences"
    """Preprocessing writes whole sequences (up to `data.max_length` items); labels are not needed."""

    def __post_init__(self):
        if self.code_dim < 1:
            raise SpecError(f"train.objective.code_dim = {self.code_dim}: must be at least 1")
        if self.memory < 1:
            raise SpecError(f"train.objective.memory = {self.memory}: must be at least 1")
        if not 0.0 <= self.drop < 1.0:
            raise SpecError(f"train.objective.drop = {self.drop}: must be in [0, 1)")
        if self.noise < 0:
            raise SpecError(f"train.objective.noise = {self.noise}: must be 0 or positive")

    def check(self, spec: "Spec") -> None:
        _check_items(spec, "autoencode", AUTOENCODE_MODES)

    def build(self, meta, train):
        from seqjax.objective.autoencode import Autoencode

        return Autoencode(meta, train, self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaskedObjective:
    """Masked-item modelling: a share of items (or spans of items) is hidden (categorical values replaced by a MASK id,
    real values by a learned vector) and predicted from the rest by a bidirectional encoder; only hidden items count."""

    kind: Literal["masked"] = "masked"
    rate: float = 0.15
    """Share of the items that are hidden, per sequence (at least one item of each sequence)."""
    span: int = 1
    """Hidden items come in runs of this many consecutive items."""

    view = "sequences"
    """Preprocessing writes whole sequences (up to `data.max_length` items); labels are not needed."""

    def __post_init__(self):
        if not 0.0 < self.rate < 1.0:
            raise SpecError(f"train.objective.rate = {self.rate}: must be in (0, 1)")
        if self.span < 1:
            raise SpecError(f"train.objective.span = {self.span}: must be at least 1")

    def check(self, spec: "Spec") -> None:
        _check_items(spec, "masked", MASKED_MODES)
        encoder = spec.model.encoder
        if not encoder.per_item or encoder.causal:
            raise SpecError(
                f"model.encoder.kind = {encoder.kind!r}: the 'masked' objective needs a bidirectional encoder with per-item states "
                "(transformer with causal = false, rnn with bidirectional = true, cnn)"
            )
        if spec.train.accumulate != 1:
            raise SpecError(f"train.accumulate = {spec.train.accumulate}: the 'masked' objective draws its hidden items in the forward pass; use 1")

    def build(self, meta, train):
        from seqjax.objective.masked import Masked

        return Masked(meta, train, self)
