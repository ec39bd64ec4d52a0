"""Random long-format tables either preprocess or fail with an input error, never anything else; and what
preprocessing writes gives back the original rows, with every item but a sequence's first a target of
exactly one split (once in validation and test, at least once in training)."""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from preprocess_tables import load

from seqjax.data.metadata import RESERVED, UNKNOWN, Metadata
from seqjax.preprocess import PreprocessError, preprocess
from seqjax.spec import ColumnKind, ColumnSpec, DataSpec, SplitBy, SplitSpec

TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFF, exclude_categories=("Cs",)), max_size=3)
REALS = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64), st.sampled_from([1e300, -1e300, 5e-324, 0.0]))


@st.composite
def tables(draw) -> tuple[pl.DataFrame, str]:
    """A table of a few sequences (1 to 12 items, positions with gaps), a category of one random dtype, and a real."""
    lengths = draw(st.lists(st.integers(1, 12), min_size=1, max_size=6))
    kind = draw(st.sampled_from(["text", "int", "bool"]))
    values = {"text": TEXT, "int": st.integers(-(2**40), 2**40), "bool": st.booleans()}[kind]
    ids, positions, cats, reals = [], [], [], []
    for s, length in enumerate(lengths):
        gaps = draw(st.lists(st.integers(1, 1000), min_size=length, max_size=length))
        ids += [s] * length
        positions += list(np.cumsum(gaps) + draw(st.integers(-(2**40), 2**40)))
        cats += draw(st.lists(values, min_size=length, max_size=length))
        reals += draw(st.lists(REALS, min_size=length, max_size=length))
    string_ids = draw(st.booleans())
    frame = pl.DataFrame({"sequenceId": [f"s{i}" if string_ids else i for i in ids], "itemPosition": positions, "c": cats, "r": reals})
    return frame.sample(fraction=1.0, shuffle=True, seed=draw(st.integers(0, 100))), kind


def targets(data: pathlib.Path, split: str) -> list[tuple]:
    """(sequence id, position, category id, standardised real) of every target item of a split, once per window."""
    windows = load(data, split)
    if not windows:
        return []
    ids = pl.read_parquet(data / f"sequences-{split}.parquet").to_series().to_list()
    n, j = np.nonzero(windows["target"])
    sequence = windows["sequence"][n]
    return [(ids[s], int(p), int(c), float(r)) for s, p, c, r in zip(sequence, windows["position"][n, j], windows["cat"][n, j, 0], windows["real"][n, j, 0])]


@settings(max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables(), st.sampled_from([SplitBy.SEQUENCE, SplitBy.TIME]), st.integers(1, 5), st.integers(0, 5))
def test_random_tables_preprocess_or_fail_with_an_input_error_and_round_trip(table, by, context, stride):
    frame, _ = table
    stride = min(stride, context)
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        frame.write_parquet(folder / "t.parquet")
        columns = (ColumnSpec(name="c", kind=ColumnKind.CATEGORICAL), ColumnSpec(name="r", kind=ColumnKind.REAL))
        spec = DataSpec(input=str(folder / "t.parquet"), columns=columns, context=context, stride=stride, split=SplitSpec(by=by, fractions=(0.6, 0.2, 0.2)))
        try:
            data = preprocess(spec, folder / "run", seed=0)
        except PreprocessError as error:
            assert "\n" not in str(error)
            return
        meta = Metadata.read(data)
        once = [targets(data, split) for split in ("valid", "test")]
        trained = targets(data, "train")
        evaluated = once[0] + once[1]
        assert len(evaluated) == len(set((i, p) for i, p, _, _ in evaluated))  # validation and test count each item once
        keys = set((i, p) for i, p, _, _ in trained) | set((i, p) for i, p, _, _ in evaluated)
        assert not set((i, p) for i, p, _, _ in trained) & set((i, p) for i, p, _, _ in evaluated)  # splits are disjoint
        rows = {(i, p): (c, r) for i, p, c, r in frame.iter_rows()}
        first = frame.group_by("sequenceId").agg(pl.col("itemPosition").min())
        expected = set(rows) - set(first.iter_rows())
        assert keys == expected  # every item but each sequence's first is a target
        vocab = {value: k + RESERVED for k, value in enumerate(meta.column("c").vocab)}
        mean, std = meta.column("r").mean, meta.column("r").std
        for i, p, c, r in trained + evaluated:
            value, real = rows[(i, p)]
            assert c == vocab.get(value, UNKNOWN)
            assert abs((r * std + mean) - real) <= 1e-5 * (abs(real) + std) + 1e-300
