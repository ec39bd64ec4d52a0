"""Synthetic long-format datasets of different structure, for comparing how fast models learn.

    from generators import GENERATORS
    frame = GENERATORS["hidden"](sequences=1000, seed=0, context=32)

Every generator writes the same columns as tools/generate_data.py: sequenceId, itemPosition (int64),
event (string, 32 classes), channel (int64, 24 classes), amount, duration (float64). The process of
each generator is fixed (drawn from its own structure seed); `seed` only draws the samples.

Sequence lengths are `k * context + 1` items with k in 1..4, so that windows of `context + 1`
items with stride `context` tile every sequence exactly: no window is padded, and every item
but a sequence's first is the target of exactly one window position, in any tool.

  markov  event: order-2 Markov chain with one or two likely successors per pair; channel: a
          preferred channel of event[t-1], else channel[t-1] or uniform; amount: AR(1) around a
          mean set by event[t]; duration: linear in amount[t-1] plus an offset set by event[t-2].
  hidden  a hidden regime (6 states) that changes with probability 0.03 per item and must be
          inferred from the history; event[t] depends on the regime and channel[t-1]; channel[t]
          on the regime and event[t-1]; amount[t] on the regime, amount[t-1] and channel[t-1];
          duration[t] on event[t-1], the regime and amount[t].
  long    dependence reaching beyond half the context: event[t] copies a function of event[t-20]
          with probability 0.6 (else order-1 Markov); channel[t] = f(channel[t-24], event[t-1])
          with probability 0.7; amount[t] = 0.8 amount[t-18] + noise (plus an event offset);
          duration[t] linear in amount[t-22] and set by channel[t-1].
"""

from __future__ import annotations

import numpy as np
import polars as pl

EVENTS = 32
CHANNELS = 24
EVENT_NAMES = tuple(f"e{i:02d}" for i in range(EVENTS))


def _lengths(rng: np.random.Generator, sequences: int, context: int) -> np.ndarray:
    return context * rng.integers(1, 5, size=sequences) + 1


def _frame(sim: dict[str, np.ndarray], lengths: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """[sequences, steps] arrays -> the long format, sorted by sequenceId then itemPosition."""
    sequences, steps = sim["event"].shape
    keep = np.arange(steps)[None, :] < lengths[:, None]
    ids = np.broadcast_to(np.arange(sequences, dtype=np.int64)[:, None] + 1000, keep.shape)
    offsets = rng.integers(0, 1000, sequences)
    positions = offsets[:, None] + np.arange(steps, dtype=np.int64)[None, :]
    return pl.DataFrame(
        {
            "sequenceId": ids[keep],
            "itemPosition": positions[keep],
            "event": pl.Series(EVENT_NAMES, dtype=pl.String).gather(sim["event"][keep]),
            "channel": sim["channel"][keep].astype(np.int64),
            "amount": np.round(sim["amount"][keep], 3),
            "duration": np.round(sim["duration"][keep], 3),
        }
    )


def _draw(cum_NK: np.ndarray, uniform_N: np.ndarray) -> np.ndarray:
    """One categorical draw per row from cumulative probabilities [N, K]."""
    return np.minimum((uniform_N[:, None] > cum_NK).sum(axis=1), cum_NK.shape[1] - 1)


def _sparse(rng: np.random.Generator, shape: tuple[int, ...], concentration: float, floor: float) -> np.ndarray:
    """Cumulative rows of sparse Dirichlet draws mixed with a little uniform mass."""
    k = shape[-1]
    p = rng.dirichlet(np.full(k, concentration), size=shape[:-1])
    return np.cumsum((1 - floor) * p + floor / k, axis=-1)


def markov(sequences: int, seed: int, context: int) -> pl.DataFrame:
    st = np.random.default_rng(101)
    transitions = _sparse(st, (EVENTS, EVENTS, EVENTS), 0.15, 0.1)
    channel_pref = st.integers(0, CHANNELS, EVENTS)
    amount_mean = st.gamma(2.0, 10.0, EVENTS)
    duration_offset = st.normal(0.0, 2.0, EVENTS)

    rng = np.random.default_rng(seed)
    lengths = _lengths(rng, sequences, context)
    T, N = int(lengths.max()), sequences
    event = rng.integers(0, EVENTS, (T, N))
    u = rng.random((T, N))
    for t in range(2, T):
        event[t] = _draw(transitions[event[t - 2], event[t - 1]], u[t])
    channel = rng.integers(0, CHANNELS, (T, N))
    choice = rng.random((T, N))
    for t in range(1, T):
        channel[t] = np.where(choice[t] < 0.6, channel_pref[event[t - 1]], np.where(choice[t] < 0.85, channel[t - 1], channel[t]))
    mean = amount_mean[event]
    amount = rng.normal(0, 4.0, (T, N))
    amount[0] += mean[0]
    for t in range(1, T):
        amount[t] += mean[t] + 0.7 * (amount[t - 1] - mean[t - 1])
    previous = np.concatenate([np.zeros((1, N)), amount[:-1]])
    two_back = np.concatenate([np.zeros((2, N), np.int64), event[:-2]])
    duration = 2.0 + 0.1 * previous + duration_offset[two_back] + rng.normal(0, 0.5, (T, N))
    return _frame({"event": event.T, "channel": channel.T, "amount": amount.T, "duration": duration.T}, lengths, rng)


def hidden(sequences: int, seed: int, context: int) -> pl.DataFrame:
    regimes = 6
    st = np.random.default_rng(202)
    event_given = _sparse(st, (regimes, 4, EVENTS), 0.2, 0.05)  # regime x channel group of channel[t-1]
    channel_given = _sparse(st, (regimes, 4, CHANNELS), 0.2, 0.05)  # regime x event group of event[t-1]
    channel_group = st.integers(0, 4, CHANNELS)
    event_group = st.integers(0, 4, EVENTS)
    regime_level = st.normal(0.0, 3.0, regimes)
    channel_push = st.normal(0.0, 1.0, CHANNELS)
    event_duration = st.normal(0.0, 1.0, EVENTS)
    regime_duration = st.normal(0.0, 1.5, regimes)

    rng = np.random.default_rng(seed)
    lengths = _lengths(rng, sequences, context)
    T, N = int(lengths.max()), sequences
    regime = np.empty((T, N), np.int64)
    regime[0] = rng.integers(0, regimes, N)
    switch = rng.random((T, N)) < 0.03
    fresh = rng.integers(0, regimes, (T, N))
    for t in range(1, T):
        regime[t] = np.where(switch[t], fresh[t], regime[t - 1])
    event = rng.integers(0, EVENTS, (T, N))
    channel = rng.integers(0, CHANNELS, (T, N))
    ue, uc = rng.random((T, N)), rng.random((T, N))
    amount = np.zeros((T, N))
    amount[0] = regime_level[regime[0]] + rng.normal(0, 1.0, N)
    noise = rng.normal(0, 1.0, (T, N))
    for t in range(1, T):
        event[t] = _draw(event_given[regime[t], channel_group[channel[t - 1]]], ue[t])
        channel[t] = _draw(channel_given[regime[t], event_group[event[t - 1]]], uc[t])
        amount[t] = regime_level[regime[t]] + 0.5 * (amount[t - 1] - regime_level[regime[t - 1]]) + channel_push[channel[t - 1]] + noise[t]
    previous_event = np.concatenate([np.zeros((1, N), np.int64), event[:-1]])
    duration = 5.0 + event_duration[previous_event] + regime_duration[regime] + 0.3 * amount + rng.normal(0, 0.3, (T, N))
    return _frame({"event": event.T, "channel": channel.T, "amount": amount.T, "duration": duration.T}, lengths, rng)


def long(sequences: int, seed: int, context: int) -> pl.DataFrame:
    lag_event, lag_channel, lag_amount, lag_duration = 20, 24, 18, 22
    st = np.random.default_rng(303)
    event_map = st.permutation(EVENTS)
    transitions = _sparse(st, (EVENTS, EVENTS), 0.3, 0.1)
    channel_map = st.integers(0, CHANNELS, (CHANNELS, 4))
    event_group = st.integers(0, 4, EVENTS)
    event_offset = st.normal(0.0, 1.0, EVENTS)
    channel_duration = st.normal(0.0, 1.0, CHANNELS)

    rng = np.random.default_rng(seed)
    lengths = _lengths(rng, sequences, context)
    T, N = int(lengths.max()), sequences
    event = rng.integers(0, EVENTS, (T, N))
    channel = rng.integers(0, CHANNELS, (T, N))
    amount = rng.normal(0, 2.0, (T, N))
    ue, ce, ca = rng.random((T, N)), rng.random((T, N)), rng.random((T, N))
    noise = rng.normal(0, 1.0, (T, N))
    for t in range(1, T):
        markov_next = _draw(transitions[event[t - 1]], ue[t])
        if t >= lag_event:
            event[t] = np.where(ce[t] < 0.6, event_map[event[t - lag_event]], markov_next)
        else:
            event[t] = markov_next
        if t >= lag_channel:
            channel[t] = np.where(ca[t] < 0.7, channel_map[channel[t - lag_channel], event_group[event[t - 1]]], channel[t])
        if t >= lag_amount:
            amount[t] = 0.8 * amount[t - lag_amount] + event_offset[event[t]] + noise[t]
    back = np.concatenate([np.zeros((lag_duration, N)), amount[:-lag_duration]])
    previous_channel = np.concatenate([np.zeros((1, N), np.int64), channel[:-1]])
    duration = 3.0 + 0.5 * back + channel_duration[previous_channel] + rng.normal(0, 0.3, (T, N))
    return _frame({"event": event.T, "channel": channel.T, "amount": amount.T, "duration": duration.T}, lengths, rng)


GENERATORS = {"markov": markov, "hidden": hidden, "long": long}
