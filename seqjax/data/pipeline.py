"""Grain pipelines over the preprocessed shards: shuffled training batches and ordered evaluation batches."""

from __future__ import annotations

import os
import pathlib
from typing import Iterator, Sequence

import numpy as np

from seqjax.data import records
from seqjax.data.metadata import Metadata
from seqjax.spec import SpecError


def split_source(meta: Metadata, data_dir: pathlib.Path, split: str):
    """Random access over one split's windows."""
    paths = [pathlib.Path(data_dir) / name for name in meta.splits[split].files]
    return records.open_shards(paths)


def local_batch_size(global_batch: int, process_count: int) -> int:
    if global_batch % process_count:
        raise SpecError(f"train.batch_size = {global_batch}: must be divisible by the {process_count} processes")
    return global_batch // process_count


def process_rows(global_batch: int, process_index: int = 0, process_count: int = 1) -> range:
    """Rows of each global batch that process p loads when processes split the batch in equal blocks, in order."""
    local = local_batch_size(global_batch, process_count)
    return range(process_index * local, (process_index + 1) * local)


class _RowsOfBatches:
    """Random access to this process's rows of consecutive global batches of `stream`.

    Element j is row rows[j % n] of global batch j // n, so the global batch b of every
    process count is the same: stream items [b * global_batch, (b + 1) * global_batch).
    """

    def __init__(self, stream, global_batch: int, rows: Sequence[int]):
        self.stream, self.global_batch, self.rows = stream, global_batch, tuple(rows)

    def __len__(self) -> int:
        return len(self.stream) // self.global_batch * len(self.rows)

    def __getitem__(self, j: int):
        batch, row = divmod(j, len(self.rows))
        return self.stream[batch * self.global_batch + self.rows[row]]


def train_iterator(
    meta: Metadata,
    data_dir: pathlib.Path,
    *,
    global_batch: int,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
    rows: Sequence[int] | None = None,
):
    """An endless, checkpointable iterator of this process's rows of shuffled global training batches.

    One stream is shuffled from `seed` (reshuffled every epoch) and cut into global batches;
    a process reads only its `rows` of each (default: block `process_index` of `process_count`
    equal blocks). Global batches are the same whatever the number of processes, so a job on
    N hosts trains on exactly the data one host would. `get_state()` restores the exact next batch.
    """
    import grain

    rows = process_rows(global_batch, process_index, process_count) if rows is None else rows
    if meta.view == "sequences":
        from seqjax.data import sequences

        return sequences.train_iterator(meta, data_dir, global_batch=global_batch, seed=seed, rows=rows)
    _check_rows(rows, global_batch)
    source = split_source(meta, data_dir, "train")
    if len(source) == 0:
        raise ValueError(f"{data_dir}: the training split has no windows")
    stream = grain.MapDataset.source(source).shuffle(seed=seed).repeat(None)
    local = grain.MapDataset.source(_RowsOfBatches(stream, global_batch, rows))
    return iter(local.batch(len(rows), drop_remainder=True).to_iter_dataset(read_options()))


def read_options():
    """Background reading for training batches: a few batches ahead, on a few threads.

    Grain's default (16 threads, 500 elements ahead) takes CPU time from the training step itself
    on small hosts: a third slower steps on 2 cores. One thread per four cores, at most four, and
    four batches ahead keep the step fed without competing with it.
    """
    import grain

    return grain.ReadOptions(num_threads=max(1, min(4, (os.cpu_count() or 1) // 4)), prefetch_buffer_size=4)


def _check_rows(rows: Sequence[int], global_batch: int) -> None:
    if not rows or list(rows) != sorted(set(rows)) or rows[0] < 0 or rows[-1] >= global_batch:
        raise ValueError(f"rows {list(rows)} must be distinct, increasing rows of a global batch of {global_batch}")


def empty_like(window: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A window that counts for nothing: no items, no targets (pads a short final batch)."""
    return {k: np.zeros_like(v) for k, v in window.items()}


def eval_batches(
    meta: Metadata,
    data_dir: pathlib.Path,
    split: str,
    *,
    global_batch: int,
    limit: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    rows: Sequence[int] | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """This process's rows of one split's global batches, in order (the last batch padded with empty windows).

    Global batch b holds windows [b * global_batch, (b + 1) * global_batch); a process reads only
    its `rows` of each (default: block `process_index` of `process_count` equal blocks).
    Each batch also carries `index`: the window's position in the split (-1 for padding).
    """
    rows = process_rows(global_batch, process_index, process_count) if rows is None else rows
    if meta.view == "sequences":
        from seqjax.data import sequences

        yield from sequences.eval_batches(meta, data_dir, split, global_batch=global_batch, limit=limit, rows=rows)
        return
    source = split_source(meta, data_dir, split)
    total = len(source)
    if total == 0:
        return
    _check_rows(rows, global_batch)
    batches = -(-total // global_batch)
    if limit:
        batches = min(batches, limit)
    filler = None
    for b in range(batches):
        indices = [b * global_batch + r for r in rows]
        windows, index = [], []
        for i in indices:
            if i < total:
                windows.append(source[i])
                index.append(i)
            else:
                filler = filler if filler is not None else empty_like(source[0])
                windows.append(filler)
                index.append(-1)
        batch = {k: np.stack([w[k] for w in windows]) for k in windows[0]}
        batch["index"] = np.asarray(index, dtype=np.int64)
        yield batch
