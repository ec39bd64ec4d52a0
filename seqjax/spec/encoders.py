"""`[model] encoder` and `[model] pooling`: tagged variants; each builds what it describes.

An encoder maps items to per-item states under a mask; a pooling reduces those states to one vector
per sequence (what sequence-level heads and embeddings read). The seven families:

    aggregate    per-column statistics of the whole sequence, then an MLP (no per-item states)
    decay        a per-item MLP, pooled with weights that decay with recency (exponential or linear)
    positional   a per-item MLP, pooled with one learned weight per position counted from the end
    attention    a per-item MLP, pooled by a learned query
    cnn          1D convolutions (causal for next-item prediction)
    rnn          LSTM or GRU layers (bidirectional only for whole sequences)
    transformer  pre-norm transformer blocks, causal or bidirectional, with an optional cls token
    linear       every slot of `data.max_length` items flattened, then an MLP (no per-item states)

`model.dim`, `model.layers`, `model.dropout`, `model.dtype` size every family; the transformer's
other keys (`heads`, `kv_heads`, `position`, `mlp`, `norm`, ...) are its own.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from seqjax.spec.choices import SpecError

_RECURRENT = ("lstm", "gru")


def _model(name: str):
    import importlib

    return importlib.import_module(f"seqjax.model.{name}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransformerEncoder:
    """Pre-norm transformer blocks (`model.layers`, `model.heads`, ...), then a final norm."""

    kind: Literal["transformer"] = "transformer"
    causal: bool = True
    """Each item attends to itself and earlier items only; false attends to the whole sequence (whole sequences only)."""
    per_item = True
    pooling_kind = None

    def build(self, spec, meta, targets, *, rngs):
        return _model("transformer").Transformer(spec, meta, targets, rngs=rngs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RecurrentEncoder:
    """`model.layers` recurrent layers of width `model.dim` over the embedded items."""

    kind: Literal["rnn"] = "rnn"
    cell: Literal["lstm", "gru"] = "lstm"
    """The recurrent cell."""
    bidirectional: bool = False
    """Also run each layer from the last item to the first (whole sequences only); the two directions are summed."""
    per_item = True
    pooling_kind = None

    @property
    def causal(self) -> bool:
        return not self.bidirectional

    def build(self, spec, meta, targets, *, rngs):
        return _model("recurrent").Recurrent(spec, meta, targets, rngs=rngs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvEncoder:
    """`model.layers` residual 1D convolutions of `channels` (0: `model.dim`) over the embedded items."""

    kind: Literal["cnn"] = "cnn"
    kernel: int = 5
    """Items each convolution sees (before dilation)."""
    channels: int = 0
    """Width of each convolution's output (0: `model.dim`)."""
    dilation: int = 1
    """Dilation of the first layer; each further layer doubles it (receptive field grows exponentially)."""
    causal: bool = False
    """Each output sees only its item and earlier ones (set for next-item prediction); false centres the kernel."""
    per_item = True
    pooling_kind = None

    def __post_init__(self):
        for key in ("kernel", "dilation"):
            if getattr(self, key) < 1:
                raise SpecError(f"model.encoder.{key} = {getattr(self, key)}: must be at least 1")
        if self.channels < 0:
            raise SpecError(f"model.encoder.channels = {self.channels}: must be 0 (= model.dim) or positive")

    def build(self, spec, meta, targets, *, rngs):
        return _model("convolution").Convolution(spec, meta, targets, rngs=rngs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AggregateEncoder:
    """Mean, std, min, max, last value and count of every real column and normalised class counts of every
    categorical column over the whole sequence, then an MLP of `model.layers` layers: the fast baseline."""

    kind: Literal["aggregate"] = "aggregate"
    per_item = False
    causal = False
    pooling_kind = None

    def build(self, spec, meta, targets, *, rngs):
        return _model("aggregate").Aggregate(spec, meta, targets, rngs=rngs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DecayEncoder:
    """A per-item MLP, pooled with weights that fall with recency: exp(-rate * age) or max(0, 1 - rate * age),
    age counted in items from the last (0)."""

    kind: Literal["decay"] = "decay"
    rate: float = 0.1
    """How fast weights fall with age (items after an item)."""
    shape: Literal["exponential", "linear"] = "exponential"
    """exp(-rate * age), or max(0, 1 - rate * age)."""
    per_item = False
    causal = False
    pooling_kind = "decay"

    def __post_init__(self):
        if self.rate < 0:
            raise SpecError(f"model.encoder.rate = {self.rate}: must be 0 (equal weights) or positive")

    def build(self, spec, meta, targets, *, rngs):
        return _model("items").Items(spec, meta, targets, rngs=rngs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PositionalEncoder:
    """A per-item MLP, pooled with one learned weight per position counted from the end (softmax over real items)."""

    kind: Literal["positional"] = "positional"
    per_item = False
    causal = False
    pooling_kind = "positional"

    def build(self, spec, meta, targets, *, rngs):
        return _model("items").Items(spec, meta, targets, rngs=rngs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttentionEncoder:
    """A per-item MLP, pooled by attention from a learned query."""

    kind: Literal["attention"] = "attention"
    per_item = False
    causal = False
    pooling_kind = "attention"

    def build(self, spec, meta, targets, *, rngs):
        return _model("items").Items(spec, meta, targets, rngs=rngs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinearEncoder:
    """The embedded items of a sequence, right-aligned in `data.max_length` slots (padding zero) and flattened, then
    GELU layers of the `hidden` widths: the fully connected autoencoder's encoder."""

    kind: Literal["linear"] = "linear"
    hidden: tuple[int, ...] = (64,)
    """Widths of the layers after the flattened items (the last one is the sequence vector); the linear decoder mirrors them."""
    per_item = False
    causal = False
    pooling_kind = None

    def __post_init__(self):
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise SpecError(f"model.encoder.hidden = {list(self.hidden)}: must be one or more positive widths")

    def build(self, spec, meta, targets, *, rngs):
        return _model("linear").Linear(spec, meta, targets, rngs=rngs)


Encoder = TransformerEncoder | RecurrentEncoder | ConvEncoder | AggregateEncoder | DecayEncoder | PositionalEncoder | AttentionEncoder | LinearEncoder


@dataclasses.dataclass(frozen=True, kw_only=True)
class LastPooling:
    """The state of the last item."""

    kind: Literal["last"] = "last"


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeanPooling:
    """The mean of the states of the real (not padded) items."""

    kind: Literal["mean"] = "mean"


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaxPooling:
    """The elementwise maximum over the real items."""

    kind: Literal["max"] = "max"


@dataclasses.dataclass(frozen=True, kw_only=True)
class SumPooling:
    """The sum over the real items."""

    kind: Literal["sum"] = "sum"


@dataclasses.dataclass(frozen=True, kw_only=True)
class DecayPooling:
    """A weighted mean with weights exp(-rate * age) (or max(0, 1 - rate * age)), age in items from the last."""

    kind: Literal["decay"] = "decay"
    rate: float = 0.1
    """How fast weights fall with age (items after an item)."""
    shape: Literal["exponential", "linear"] = "exponential"
    """exp(-rate * age), or max(0, 1 - rate * age)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PositionalPooling:
    """A weighted mean with one learned weight per position counted from the end."""

    kind: Literal["positional"] = "positional"


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttentionPooling:
    """A weighted mean with weights from a learned query's attention over the item states."""

    kind: Literal["attention"] = "attention"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClsPooling:
    """The state of a learned token appended after the last item (transformer encoders)."""

    kind: Literal["cls"] = "cls"


PoolingSpec = LastPooling | MeanPooling | MaxPooling | SumPooling | DecayPooling | PositionalPooling | AttentionPooling | ClsPooling


def check(model, objective_kind: str) -> None:
    """Encoder and pooling fit each other and the objective: next-item prediction needs causal per-item states."""
    encoder, pooling = model.encoder, model.pooling
    if objective_kind == "next":
        if not encoder.per_item:
            raise SpecError(f"model.encoder.kind = {encoder.kind!r}: gives one vector per sequence; next-item prediction needs per-item states (transformer, rnn, cnn)")
        if not encoder.causal:
            raise SpecError(f"model.encoder = {encoder.kind!r} sees later items; next-item prediction needs a causal encoder (causal = true, bidirectional = false)")
    if pooling.kind == "cls" and encoder.kind != "transformer":
        raise SpecError(f"model.pooling.kind = 'cls': needs the transformer encoder (a learned token it attends from); model.encoder.kind = {encoder.kind!r}")
