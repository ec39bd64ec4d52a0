"""Vocabularies of categorical columns and statistics of real columns, learned on the train split.

Each bucket of sequences learns a `Part` (distinct train values, exact sums of the train
reals); parts merge by union and integer addition, so the result does not depend on how the
sequences were bucketed or in which order the buckets finished.
"""

from __future__ import annotations

import dataclasses
import fractions
import math
import warnings

import numpy as np
import polars as pl

from seqjax.data.metadata import RESERVED, UNKNOWN, ColumnMeta
from seqjax.preprocess.read import PreprocessError
from seqjax.spec import ColumnKind, ColumnSpec

_SCALE = 1126
"""A finite double is an integer times 2**e with e >= -1074 (>= -1126 leaves room): sums times 2**1126 are integers."""
_LIMB = 18
_CHUNK = 1 << 24
"""Values per integer reduction: limb products are below 2**36, so 2**24 of them sum below 2**63."""


@dataclasses.dataclass(frozen=True)
class Moments:
    """Exact count, sum and sum of squares of float64 values, as integers (no rounding, any merge order)."""

    count: int = 0
    total: int = 0
    """sum(x) * 2**1126"""
    squares: int = 0
    """sum(x**2) * 2**2252"""

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.count + other.count, self.total + other.total, self.squares + other.squares)

    @classmethod
    def of(cls, values: np.ndarray) -> "Moments":
        out = cls()
        for start in range(0, len(values), _CHUNK):
            out = out + _exact_sums(np.asarray(values[start : start + _CHUNK], np.float64))
        return out

    def mean_std(self) -> tuple[float, float]:
        """Mean and population std, each rounded once from the exact value; a constant (or empty)
        column keeps std 1 so it stays finite."""
        if not self.count:
            return 0.0, 1.0
        mean = fractions.Fraction(self.total, self.count << _SCALE)
        variance = fractions.Fraction(self.squares, self.count << (2 * _SCALE)) - mean * mean
        # sqrt(n / d) = isqrt(n * d * 4**k) / (d * 2**k): exact integers, so values near the float range stay finite
        k = 64
        std = float(fractions.Fraction(math.isqrt(variance.numerator * variance.denominator << (2 * k)), variance.denominator << k))
        return float(mean), (std if std > 0 and math.isfinite(std) else 1.0)


def _exact_sums(x: np.ndarray) -> Moments:
    """Read each double's bits as sign, exponent k and integer m (x = ±m * 2**(max(k, 1) - 1075)), split m
    into three 18-bit limbs a, b, c, and sum limbs and limb products per exponent in int64 (exact);
    the few per-exponent sums are then combined as Python integers."""
    bits = pl.Series("bits", np.ascontiguousarray(x, np.float64).view(np.uint64))
    q = pl.col("bits")
    k = (q // (1 << 52)) % 2048
    m = (q % (1 << 52) + (k > 0).cast(pl.UInt64) * (1 << 52)).cast(pl.Int64)  # the implicit bit of normal numbers
    limb = 1 << _LIMB
    frame = bits.to_frame().lazy().select(
        k.cast(pl.Int32).alias("k"),
        (1 - 2 * (q >= (1 << 63)).cast(pl.Int64)).alias("s"),
        (m // (limb * limb)).alias("a"),
        ((m // limb) % limb).alias("b"),
        (m % limb).alias("c"),
    )
    a, b, c, s = pl.col("a"), pl.col("b"), pl.col("c"), pl.col("s")
    sums = frame.group_by("k").agg(
        (s * a).sum().alias("sa"), (s * b).sum().alias("sb"), (s * c).sum().alias("sc"),
        (a * a).sum().alias("aa"), (a * b).sum().alias("ab"), (b * b).sum().alias("bb"),
        (a * c).sum().alias("ac"), (b * c).sum().alias("bc"), (c * c).sum().alias("cc"),
    ).collect()  # fmt: skip
    total = squares = 0
    for r in sums.iter_rows(named=True):
        e = max(int(r["k"]), 1) - 1075
        # m = a 2**36 + b 2**18 + c, so m**2 = aa 2**72 + 2ab 2**54 + (bb + 2ac) 2**36 + 2bc 2**18 + cc
        linear = (int(r["sa"]) << 36) + (int(r["sb"]) << 18) + int(r["sc"])
        square = (int(r["aa"]) << 72) + (int(r["ab"]) << 55) + ((int(r["bb"]) + 2 * int(r["ac"])) << 36) + (int(r["bc"]) << 19) + int(r["cc"])
        total += linear << (e + _SCALE)
        squares += square << (2 * (e + _SCALE))
    return Moments(len(x), total, squares)


@dataclasses.dataclass(frozen=True)
class Part:
    """What one bucket's train rows say about every feature column."""

    values: dict[str, pl.DataFrame]
    """Categorical column -> its distinct train values ("value") and how many train rows hold each ("count")."""
    moments: dict[str, Moments]
    """Real column -> exact sums of its train values."""
    rows: int = 0
    """Train rows."""

    def __add__(self, other: "Part") -> "Part":
        values = {k: _counts(pl.concat([v, other.values[k]])) for k, v in self.values.items()}
        return Part(values, {k: m + other.moments[k] for k, m in self.moments.items()}, self.rows + other.rows)


def _counts(frame: pl.DataFrame) -> pl.DataFrame:
    """Counts of equal values added up."""
    return frame.group_by("value").agg(pl.col("count").sum())


class IdentifierWarning(UserWarning):
    """A categorical column has more distinct values than its vocabulary keeps."""


def learn_part(columns: tuple[ColumnSpec, ...], frame: pl.DataFrame, train: np.ndarray) -> Part:
    """Distinct values and exact sums of `columns` over the rows marked in `train` only."""
    rows = frame.filter(pl.Series(train))
    values, moments = {}, {}
    for column in columns:
        if column.kind == ColumnKind.CATEGORICAL:
            counts = rows[column.name].value_counts(name="count")
            values[column.name] = counts.rename({column.name: "value"}).with_columns(pl.col("count").cast(pl.Int64))
        else:
            moments[column.name] = Moments.of(rows[column.name].to_numpy())
    return Part(values, moments, rows.height)


def vocabulary(column: ColumnSpec, counts: pl.DataFrame, rows: int) -> tuple:
    """The values that get their own id, sorted: at most `max_categories` of the most frequent, each seen
    at least `min_count` times (ties broken by value); the others map to the unknown id."""
    kept = counts.filter(pl.col("count") >= column.min_count).sort(["count", "value"], descending=[True, False])
    if column.max_categories and kept.height > column.max_categories:
        share = kept["count"].head(column.max_categories).sum() / max(rows, 1)
        identifier = " it looks like an identifier (most rows hold a value of their own):" if counts.height > rows / 2 else ""
        warnings.warn(
            f"categorical column {column.name!r} has {counts.height:,} distinct values in {rows:,} train rows;{identifier} "
            f"kept the {column.max_categories:,} most frequent ({share:.1%} of the rows), the others map to the unknown id; "
            f"raise {column.name}'s max_categories, or leave the column out",
            IdentifierWarning,
            stacklevel=2,
        )
        kept = kept.head(column.max_categories)
    return tuple(kept["value"].sort().to_list())  # plain JSON-ready Python values


def finish(columns: tuple[ColumnSpec, ...], part: Part, dtypes: dict[str, str]) -> tuple[ColumnMeta, ...]:
    """A ColumnMeta per column from the merged parts: vocabularies sorted, statistics rounded once."""
    metas = []
    for column in columns:
        dtype = dtypes[column.name]
        if column.kind == ColumnKind.CATEGORICAL:
            vocab = vocabulary(column, part.values[column.name], part.rows)
            metas.append(ColumnMeta(name=column.name, kind=column.kind, dtype=dtype, vocab=vocab))
        else:
            mean, std = part.moments[column.name].mean_std()
            metas.append(ColumnMeta(name=column.name, kind=column.kind, dtype=dtype, mean=mean, std=std))
    return tuple(metas)


def learn(columns: tuple[ColumnSpec, ...], frame: pl.DataFrame, train: np.ndarray, dtypes: dict[str, str]) -> tuple[ColumnMeta, ...]:
    """A ColumnMeta per column, from the rows marked in `train` only."""
    return finish(columns, learn_part(columns, frame, train), dtypes)


def encode_categorical(values: pl.Series, meta: ColumnMeta) -> np.ndarray:
    """int32 ids: vocab entry i -> i + RESERVED; values outside the vocab -> UNKNOWN."""
    if not meta.vocab:
        return np.full(len(values), UNKNOWN, np.int32)
    ids = pl.Series(range(RESERVED, RESERVED + len(meta.vocab)), dtype=pl.Int32)
    old = pl.Series(meta.vocab, dtype=values.dtype)
    return values.replace_strict(old, ids, default=UNKNOWN, return_dtype=pl.Int32).to_numpy()


def standardize(x: np.ndarray, meta: ColumnMeta) -> np.ndarray:
    """float32 (x - mean) / std; values so far from the train statistics that float32 cannot hold them fail, naming one."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = (x - meta.mean) / meta.std
        if not np.isfinite(z).all():  # x - mean overflowed float64 (values near the float range)
            z = x / meta.std - meta.mean / meta.std
        z32 = z.astype(np.float32)
    if not np.isfinite(z32).all():
        bad = x[~np.isfinite(z32)][0]
        raise PreprocessError(f"real column {meta.name!r} has value {bad!r}, {abs(z[~np.isfinite(z32)][0]):.3g} standard deviations from the train mean; "
                         "rescale the column (e.g. log) so its values fit")
    return z32


def encode(frame: pl.DataFrame, metas: tuple[ColumnMeta, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Stacked model inputs: cat int32 [rows, C] and standardised real float32 [rows, R]."""
    cats = [encode_categorical(frame[m.name], m) for m in metas if m.kind == ColumnKind.CATEGORICAL]
    reals = [standardize(frame[m.name].to_numpy(), m) for m in metas if m.kind == ColumnKind.REAL]
    cat = np.stack(cats, axis=1) if cats else np.zeros((frame.height, 0), np.int32)
    real = np.stack(reals, axis=1) if reals else np.zeros((frame.height, 0), np.float32)
    return np.ascontiguousarray(cat, np.int32), np.ascontiguousarray(real, np.float32)
