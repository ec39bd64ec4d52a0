"""UCR/UEA time-series classification files (.ts or .tsv) as long-format polars frames, and the 1-NN baselines (Euclidean, DTW)."""

from __future__ import annotations

import math
import pathlib

import numpy as np
import polars as pl

Series = list[np.ndarray]  # one (n_channels, length) float64 array per series
Split = dict[str, pl.DataFrame] | tuple[Series, np.ndarray]  # load() output, or (series, labels)


def _parse_value(token: str) -> float:
    """Parse one value of a .ts file, '?' or 'NaN' meaning missing."""
    token = token.strip()
    return math.nan if token in ("?", "", "NaN", "nan") else float(token)


def read_ts(path: str | pathlib.Path) -> tuple[Series, list[str]]:
    """Read a .ts file (sktime/aeon format, no timestamps) into series and string labels."""
    series: Series = []
    labels: list[str] = []
    in_data = False
    has_label = True
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                lower = line.lower()
                if lower.startswith("@timestamps") and lower.split()[1] == "true":
                    raise ValueError(f"{path}: timestamped .ts files are not supported")
                if lower.startswith("@classlabel"):
                    has_label = lower.split()[1] == "true"
                in_data = lower.startswith("@data")
                continue
            parts = line.split(":")
            if has_label:
                labels.append(parts.pop().strip())
            channels = [np.array([_parse_value(v) for v in p.split(",")], dtype=np.float64) for p in parts]
            if len({c.size for c in channels}) != 1:
                raise ValueError(f"{path}: channels of one series differ in length")
            series.append(np.stack(channels))
    return series, labels


def read_ucr_tsv(path: str | pathlib.Path) -> tuple[Series, list[str]]:
    """Read a UCR 2018 .tsv file (label first, NaN-padded to the longest series) into series and labels."""
    series: Series = []
    labels: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            fields = raw.strip().split("\t")
            if fields == [""]:
                continue
            labels.append(fields[0])
            values = np.array([_parse_value(v) for v in fields[1:]], dtype=np.float64)
            last = np.flatnonzero(~np.isnan(values))
            series.append(values[: last[-1] + 1 if last.size else 0][None, :])
    return series, labels


def _read_split(folder: pathlib.Path, name: str, split: str) -> tuple[Series, list[str]]:
    """Read the TRAIN or TEST split of a dataset from the first format present (.ts, then .tsv)."""
    ts = folder / f"{name}_{split}.ts"
    if ts.exists():
        return read_ts(ts)
    tsv = folder / f"{name}_{split}.tsv"
    if tsv.exists():
        return read_ucr_tsv(tsv)
    raise FileNotFoundError(f"no {name}_{split}.ts or .tsv in {folder}")


def to_long(series: Series, labels: list[str], first_id: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Turn series and labels into (items, labels) long-format frames with ids from first_id."""
    n_channels = series[0].shape[0] if series else 1
    value_names = ["value"] if n_channels == 1 else [f"value_{c}" for c in range(n_channels)]
    lengths = np.array([s.shape[1] for s in series], dtype=np.int64)
    ids = np.arange(first_id, first_id + len(series), dtype=np.int64)
    positions = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths]) if series else np.zeros(0, np.int64)
    values = np.concatenate(series, axis=1) if series else np.zeros((n_channels, 0))
    items = pl.DataFrame(
        {"sequenceId": np.repeat(ids, lengths), "itemPosition": positions}
        | {col: values[c] for c, col in enumerate(value_names)}
    )
    label_frame = pl.DataFrame({"sequenceId": ids, "label": pl.Series(labels, dtype=pl.String)})
    return items, label_frame


def load(name: str, folder: str | pathlib.Path) -> dict[str, pl.DataFrame]:
    """Load one dataset's official TRAIN/TEST split from folder as long-format polars frames."""
    folder = pathlib.Path(folder)
    train_series, train_labels = _read_split(folder, name, "TRAIN")
    test_series, test_labels = _read_split(folder, name, "TEST")
    train_items, train_label_frame = to_long(train_series, train_labels, 0)
    test_items, test_label_frame = to_long(test_series, test_labels, len(train_series))
    return {
        "train_items": train_items,
        "test_items": test_items,
        "train_labels": train_label_frame,
        "test_labels": test_label_frame,
    }


def from_long(items: pl.DataFrame, labels: pl.DataFrame) -> tuple[Series, np.ndarray]:
    """Turn long-format (items, labels) frames back into series ordered as labels, and a label array."""
    value_names = [c for c in items.columns if c == "value" or c.startswith("value_")]
    items = items.sort("sequenceId", "itemPosition")
    ids = items["sequenceId"].to_numpy()
    values = items.select(value_names).to_numpy().T
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    by_id = dict(zip(ids[starts].tolist(), np.split(values, starts[1:], axis=1)))
    order = labels["sequenceId"].to_list()
    return [by_id[i] for i in order], labels["label"].to_numpy().astype(str)


def _as_split(split: Split, part: str) -> tuple[Series, np.ndarray]:
    """Accept either the dict from load (taking its part) or a (series, labels) pair."""
    if isinstance(split, dict):
        return from_long(split[f"{part}_items"], split[f"{part}_labels"])
    return split


def euclidean_1nn(train: Split, test: Split | None = None) -> float:
    """Test accuracy of 1-NN with Euclidean distance on equal-length series (test omitted: train's test part)."""
    (train_x, train_y), (test_x, test_y) = _as_split(train, "train"), _as_split(train if test is None else test, "test")
    if len({s.shape for s in train_x + test_x}) != 1:
        raise ValueError("Euclidean 1-NN needs series of one length")
    a = np.stack([s.ravel() for s in train_x])
    nearest = np.array([np.argmin(((a - s.ravel()) ** 2).sum(1)) for s in test_x])
    return float(np.mean(train_y[nearest] == test_y))


def dtw_distances(query: np.ndarray, refs: Series, window: float | None = None) -> np.ndarray:
    """Squared-cost DTW from one (channels, n) query to each reference, swept one anti-diagonal at a time.

    window is the Sakoe-Chiba band half-width as a fraction of the longer series (None: full warping); for
    series of unequal length the band is widened to their length difference so the end cell stays reachable.
    """
    q = query.T[:, :, None]  # (n, channels, 1)
    n, m = q.shape[0], max(r.shape[1] for r in refs)
    lengths = np.array([r.shape[1] for r in refs])
    rev = np.zeros((m, q.shape[1], len(refs)))  # rev[m - 1 - j] = ref[j]; shorter refs are zero-padded
    for t, r in enumerate(refs):
        rev[m - r.shape[1] :, :, t] = r[:, ::-1].T
    half = None if window is None else np.maximum(np.ceil(window * np.maximum(n, lengths)), np.abs(n - lengths))
    ends: dict[int, list[int]] = {}  # diagonal holding the end cell (n - 1, length - 1) of each reference
    for t, length in enumerate(lengths):
        ends.setdefault(n + length - 2, []).append(t)
    # row i + 1 of a diagonal buffer holds cell (i, d - i); row 0 is an inf border
    before, last, cur = (np.full((n + 1, len(refs)), np.inf) for _ in range(3))
    out = np.empty(len(refs))
    for d in range(n + m - 1):
        lo, hi = max(0, d - m + 1), min(n - 1, d)
        diff = q[lo : hi + 1] - rev[m - 1 - d + lo : m - d + hi]  # cells (i, d - i) for i in lo..hi
        cost = np.square(diff[:, 0]) if q.shape[1] == 1 else np.square(diff).sum(1)
        best = np.minimum(last[lo : hi + 1], last[lo + 1 : hi + 2])  # from (i - 1, j) and (i, j - 1)
        np.minimum(best, before[lo : hi + 1], out=best)  # from (i - 1, j - 1)
        if d == 0:
            best[0] = 0.0
        cur[lo] = np.inf
        cur[lo + 1 : hi + 2] = cost + best
        if half is not None:
            i = np.arange(lo, hi + 1)[:, None]
            cur[lo + 1 : hi + 2][np.abs(2 * i - d) > half[None, :]] = np.inf
        for t in ends.get(d, []):
            out[t] = cur[n, t]
        before, last, cur = last, cur, before
    return out


def dtw_1nn(train: Split, test: Split | None = None, window: float | None = None) -> float:
    """Test accuracy of 1-NN with DTW, full warping or a Sakoe-Chiba band (test omitted: train's test part)."""
    (train_x, train_y), (test_x, test_y) = _as_split(train, "train"), _as_split(train if test is None else test, "test")
    nearest = np.array([np.argmin(dtw_distances(q, train_x, window)) for q in test_x])
    return float(np.mean(train_y[nearest] == test_y))
