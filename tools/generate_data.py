"""Generate a synthetic long-format dataset whose next item is learnable from earlier items.

    python tools/generate_data.py data/example.parquet --sequences 2000 --seed 0
    python tools/generate_data.py data/classify.parquet --labels data/classify-labels.parquet   # one label per sequence

Columns: sequenceId, itemPosition (int64), event (string), channel (int64), amount, duration (float64).
The process, fixed for every seed (the seed only draws samples):
  event[t]    order-2 Markov chain with strong preferences for one or two successors
  channel[t]  usually a preferred channel of event[t-1], otherwise uniform
  amount[t]   AR(1) around a mean that depends on event[t]
  duration[t] linear in amount[t-1] plus an offset set by event[t-2], plus noise
so a causal model beats the most-frequent-class and last-value baselines clearly.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np
import polars as pl

EVENTS = ("login", "view", "search", "click", "cart", "purchase", "logout", "support")
CHANNELS = 5
STRUCTURE_SEED = 1234  # the process itself is the same for every --seed


def _structure() -> dict[str, np.ndarray]:
    """Transition tables and per-event parameters shared by every seed."""
    rng = np.random.default_rng(STRUCTURE_SEED)
    k = len(EVENTS)
    # sparse Dirichlet draws give each (event[t-2], event[t-1]) pair one or two likely successors
    transitions = rng.dirichlet(np.full(k, 0.15), size=(k, k))
    transitions = 0.9 * transitions + 0.1 / k
    return {
        "transitions_cum": np.cumsum(transitions, axis=-1),
        "channel_pref": rng.integers(0, CHANNELS, size=k),
        "amount_mean": np.array([5.0, 12.0, 8.0, 20.0, 45.0, 90.0, 3.0, 30.0]),
        "duration_offset": rng.normal(0.0, 2.0, size=k),
    }


def _simulate(rng: np.random.Generator, sequences: int, steps: int) -> dict[str, np.ndarray]:
    """All sequences run `steps` items, one vectorised step at a time; arrays are [sequences, steps]."""
    st = _structure()
    k = len(EVENTS)
    # time-major [steps, sequences] so each step reads and writes contiguous rows
    event = rng.integers(0, k, (steps, sequences))
    flat_cum = st["transitions_cum"].reshape(k * k, k)
    uniform = rng.random((steps, sequences))
    for t in range(2, steps):
        cum = flat_cum[event[t - 2] * k + event[t - 1]]
        event[t] = np.minimum((uniform[t][:, None] > cum).sum(axis=1), k - 1)
    channel = rng.integers(0, CHANNELS, (steps, sequences))
    preferred = rng.random((steps - 1, sequences)) < 0.8
    channel[1:] = np.where(preferred, st["channel_pref"][event[:-1]], channel[1:])
    mean = st["amount_mean"][event]
    amount = rng.normal(0, 4.0, (steps, sequences))
    amount[0] += mean[0]
    for t in range(1, steps):
        amount[t] += mean[t] + 0.7 * (amount[t - 1] - mean[t - 1])
    previous_amount = np.concatenate([np.zeros((1, sequences)), amount[:-1]])
    two_back = np.concatenate([np.zeros((2, sequences), np.int64), event[:-2]])[:steps]
    duration = 2.0 + 0.1 * previous_amount + st["duration_offset"][two_back] + rng.normal(0, 0.5, (steps, sequences))
    return {"event": event.T, "channel": channel.T, "amount": amount.T, "duration": duration.T}


def generate(sequences: int = 2000, seed: int = 0, min_length: int = 20, max_length: int = 120) -> pl.DataFrame:
    """A long-format table of `sequences` sequences, sorted by sequenceId then itemPosition."""
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length ({min_length}) <= max_length ({max_length})")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=sequences)
    offsets = rng.integers(0, 1000, sequences)
    sim = _simulate(rng, sequences, max_length)
    keep = np.arange(max_length)[None, :] < lengths[:, None]  # row-major: sequence, then step
    ids = np.broadcast_to(np.arange(sequences, dtype=np.int64)[:, None] + 1000, keep.shape)
    positions = offsets[:, None] + np.arange(max_length, dtype=np.int64)[None, :]
    return pl.DataFrame(
        {
            "sequenceId": ids[keep],
            "itemPosition": positions[keep],
            "event": pl.Series(EVENTS, dtype=pl.String).gather(sim["event"][keep]),
            "channel": sim["channel"][keep],
            "amount": np.round(sim["amount"][keep], 2),
            "duration": np.round(sim["duration"][keep], 3),
        }
    )


MARKERS = ("cart", "purchase")
"""The two events whose order and place decide a labelled sequence's class; every sequence has each once."""


def generate_labelled(sequences: int = 2000, seed: int = 0, min_length: int = 20, max_length: int = 120, noise: float = 0.05) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(items, labels): sequences of events and amounts with one label per sequence and a static `segment`.

    Every sequence holds each marker event once, so counting events says nothing about the label. The
    label is two bits: `order`, whether "cart" comes before "purchase" (flipped for segment "plus"),
    and `late`, whether both happen in the last quarter of the sequence. Labels are "a".."d" for the
    four (late, order) pairs; a fraction `noise` of them is redrawn at random.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(min_length, 8), max_length + 1, size=sequences)
    others = np.array([e for e in EVENTS if e not in MARKERS])
    order, late = rng.integers(0, 2, sequences), rng.integers(0, 2, sequences)
    plus = rng.random(sequences) < 0.5
    ids, positions, events, amounts = [], [], [], []
    for s, n in enumerate(lengths):
        items = others[rng.integers(0, len(others), n)].astype(object)
        cut = max(2, n // 4)
        low, high = (n - cut, n) if late[s] else (0, n - cut)
        i, j = np.sort(rng.choice(np.arange(low, high), 2, replace=False))
        first = bool(order[s]) != bool(plus[s])  # "cart" first, as the segment has it
        items[i], items[j] = MARKERS if first else MARKERS[::-1]
        ids.append(np.full(n, s + 1000, np.int64))
        positions.append(np.arange(n, dtype=np.int64))
        events.append(items)
        amounts.append(np.round(rng.gamma(2.0, 10.0, n), 2))
    label = late * 2 + order
    redraw = rng.random(sequences) < noise
    label = np.where(redraw, rng.integers(0, 4, sequences), label)
    items = pl.DataFrame({
        "sequenceId": np.concatenate(ids), "itemPosition": np.concatenate(positions),
        "event": pl.Series(np.concatenate(events).tolist(), dtype=pl.String), "amount": np.concatenate(amounts),
    })  # fmt: skip
    labels = pl.DataFrame({
        "sequenceId": np.arange(sequences, dtype=np.int64) + 1000,
        "label": pl.Series(np.array(list("abcd"))[label].tolist(), dtype=pl.String),
        "segment": pl.Series(np.where(plus, "plus", "basic").tolist(), dtype=pl.String),
    })  # fmt: skip
    return items, labels


def _write(frame: pl.DataFrame, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path) if path.suffix == ".csv" else frame.write_parquet(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=pathlib.Path, help="a .parquet or .csv file")
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-length", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=120)
    parser.add_argument("--labels", type=pathlib.Path, metavar="FILE", help="the labelled variant: items to OUTPUT, one label (and a static segment) per sequence to FILE")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.labels:
        frame, labels = generate_labelled(args.sequences, args.seed, args.min_length, args.max_length)
        _write(labels, args.labels)
    else:
        frame = generate(args.sequences, args.seed, args.min_length, args.max_length)
    _write(frame, args.output)
    seconds = time.perf_counter() - start
    print(f"{args.output}: {frame.height:,} rows, {args.sequences:,} sequences in {seconds:.2f} s")


if __name__ == "__main__":
    main()
