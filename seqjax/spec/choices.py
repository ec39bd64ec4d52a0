"""Errors and the closed sets of choices a spec may name."""

from __future__ import annotations

import difflib
import enum
import typing
from typing import Any

from seqjax.errors import UserError


class SpecError(UserError):
    """A spec that cannot be run; the message is one line naming the key and the value."""


class ColumnKind(enum.StrEnum):
    CATEGORICAL = "categorical"
    REAL = "real"


class SplitBy(enum.StrEnum):
    SEQUENCE = "sequence"
    """Whole sequences go to one split, chosen by a seeded hash of the sequence id."""
    TIME = "time"
    """Each sequence is cut by position: early items train, later items validate and test."""


class ShardFormat(enum.StrEnum):
    """How shards are stored: ArrayRecord, one window per record (fast random access under shuffling)."""

    ARRAYRECORD = "arrayrecord"


class Position(enum.StrEnum):
    ROPE = "rope"
    LEARNED = "learned"
    SINUSOIDAL = "sinusoidal"
    NONE = "none"


class Norm(enum.StrEnum):
    RMSNORM = "rmsnorm"
    LAYERNORM = "layernorm"


class Mlp(enum.StrEnum):
    SWIGLU = "swiglu"
    GELU = "gelu"


class DType(enum.StrEnum):
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"


class OutputFormat(enum.StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


class InferMode(enum.StrEnum):
    PREDICT = "predict"
    """The next item after each window."""
    PROBABILITIES = "probabilities"
    """The probability of every class of each categorical target, for the next item."""
    GENERATE = "generate"
    """Continue each sequence for `infer.steps` items."""
    EMBED = "embed"
    """One vector per sequence (or window, or item)."""
    SCORE = "score"
    """Every item scored once from the items before it: log-probability of each categorical target's true value,
    error of each real target's prediction; per-sequence totals and a summary (mean NLL, perplexity, bits per item, accuracy)."""


class Pooling(enum.StrEnum):
    """Parameter-free poolings of per-item states (embeddings of next-item models)."""

    LAST = "last"
    MEAN = "mean"
    MAX = "max"
    SUM = "sum"


def fail(key: str, value: Any, allowed: str) -> typing.NoReturn:
    raise SpecError(f"{key} = {value!r}: {allowed}")


def suggest(word: str, choices) -> str:
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6) or [c for c in choices if word and c.startswith(word)][:1]
    return f"; did you mean {close[0]!r}?" if close else ""
