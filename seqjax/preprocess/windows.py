"""Cut sorted sequences into fixed-length windows with numpy index arithmetic (no per-row Python).

A window holds W = context + 1 consecutive items of one sequence, ending at its last item `end`:
rows [end - context, end]. Rows before the sequence start are left padding. With context 4,
stride 2 and a sequence of 9 items whose targets are rows [1, 9):
    ends 4, 6, 8 -> windows rows [0..4], [2..6], [4..8]
and a 3-item sequence gives one window [-2..2]: two padding items, then rows 0, 1, 2.

Which items of a window are targets:
- training (`once=False`): every item of the split in the window. Overlapping windows train an
  item once per window, each time with a different amount of context before it: the model learns
  to predict from short and long histories alike, as it must at generation and on new data.
- validation and test (`once=True`): each item exactly once, in the window that gives it the most
  context (the first window that ends at or after it). In the example above, items [1..4] count in
  the first window, [5, 6] in the second and [7, 8] in the third, so every metric counts every item once.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """Where one split's windows lie: one entry per window, in (sequence, end) order."""

    sequence: np.ndarray
    """int64 [N] sorted-sequence index of each window."""
    end: np.ndarray
    """int64 [N] offset (within its sequence) of each window's last item."""
    first_target: np.ndarray
    """int64 [N] offset of the first item that counts as a target in the window."""

    def __len__(self) -> int:
        return len(self.sequence)

    def chunks(self, size: int):
        """Consecutive sub-plans of at most `size` windows."""
        for start in range(0, len(self), size):
            part = slice(start, start + size)
            yield Plan(sequence=self.sequence[part], end=self.end[part], first_target=self.first_target[part])


def plan(a: np.ndarray, b: np.ndarray, context: int, stride: int, *, once: bool = False) -> Plan:
    """Window ends covering target rows [a, b) of each sequence: the first window ends at
    min(a + context - 1, b - 1), then every `stride` items, and the last always ends at b - 1.
    With `once`, a window's targets start after the previous window's end (see the module's docstring)."""
    sequences = np.flatnonzero(b > a)
    a, last = a[sequences], b[sequences] - 1
    first = np.minimum(a + context - 1, last)
    counts = 1 + (last - first + stride - 1) // stride
    sequence = np.repeat(sequences, counts)
    # k-th window of its sequence: global index minus the index of the sequence's first window
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    end = np.minimum(np.repeat(first, counts) + k * stride, np.repeat(last, counts))
    first_target = np.repeat(a, counts)
    if once and len(end):
        previous_end = np.concatenate([[-1], end[:-1]])
        first_target = np.where(k > 0, np.maximum(first_target, previous_end + 1), first_target)
    return Plan(sequence=sequence.astype(np.int64), end=end.astype(np.int64), first_target=first_target.astype(np.int64))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rows:
    """The encoded, sorted input that windows gather from."""

    cat: np.ndarray
    """int32 [rows, C]"""
    real: np.ndarray
    """float32 [rows, R]"""
    position: np.ndarray
    """int64 [rows]"""
    starts: np.ndarray
    """int64 [sequences + 1]"""


def gather(rows: Rows, part: Plan, context: int, table_index: np.ndarray, *, start: bool = False) -> dict[str, np.ndarray]:
    """The record arrays (see seqjax.data.records) of the windows in `part`.

    `table_index` maps a sorted-sequence index to its row in the split's sequence table. With
    `start`, the slot before a sequence's first item (offset -1) is a start slot: an input item
    (mask True) with categorical ids 0 and real values 0, never a target, so item 0 is predicted
    from it. A window whose first slot is item 0 has no room for it (plan with a = 0 avoids those).
    """
    offset_NW = part.end[:, None] - context + np.arange(context + 1)[None, :]
    mask_NW = offset_NW >= 0
    row_NW = rows.starts[part.sequence][:, None] + np.maximum(offset_NW, 0)
    cat_NWC = rows.cat[row_NW]
    cat_NWC[~mask_NW] = 0
    real_NWR = rows.real[row_NW]
    real_NWR[~mask_NW] = 0.0
    position_NW = np.where(mask_NW, rows.position[row_NW], -1)
    # rows before the split's first target are context only; item 0 has no input before it
    target_NW = mask_NW & (offset_NW >= part.first_target[:, None])
    target_NW[:, 0] = False
    return {
        "cat": cat_NWC,
        "real": real_NWR,
        "mask": mask_NW | (offset_NW == -1) if start else mask_NW,
        "target": target_NW,
        "position": position_NW.astype(np.int64),
        "sequence": table_index[part.sequence].astype(np.int64),
    }
