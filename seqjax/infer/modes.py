"""The inference modes over a source of windows: each chunk of windows becomes one result frame.

Which windows a mode reads:
  a split (its windows end at known items): predict / probabilities predict every item the split
  scores, each once (position = that item's); generate and embed read each sequence's last window.
  new data: every mode reads each sequence's last window (predict: position = last + 1).
  embed with `per = "window"`: every window, in either case.
  score: windows that score every item once (a held-out split's own; new data cut the same way).
What the model reads of a window, and which windows a split scores, is the objective's.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import polars as pl

from seqjax.infer import forward, score, sequences, writers
from seqjax.infer.functions import Functions
from seqjax.infer.inputs import InputError
from seqjax.infer.sources import Chunk, Source, rechunk
from seqjax.objective import NextItem
from seqjax.spec import EmbedSpec, InferMode, InferSpec, Sampling, SpecError

model_inputs = NextItem.window_inputs
"""(cat, real, mask) the model reads of a chunk of windows (see NextItem.window_inputs)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """One inference mode and the settings it uses."""

    mode: InferMode
    steps: int = 10
    sampling: Sampling = Sampling()
    embed: EmbedSpec = EmbedSpec()
    cached: bool = True
    """Generate with the KV cache (False recomputes every window: the reference)."""

    @classmethod
    def of(cls, infer: InferSpec) -> "Job":
        return cls(mode=infer.mode, steps=infer.steps, sampling=infer.sampling, embed=infer.embed)

    @property
    def per_window(self) -> bool:
        return self.mode == InferMode.EMBED and self.embed.per == "window"

    @property
    def next_item(self) -> bool:
        return self.mode in (InferMode.PREDICT, InferMode.PROBABILITIES)

    def check(self, objective, layers: int) -> None:
        """Fail before any work when the model cannot do this job."""
        objective.check_mode(self.mode)
        if self.mode == InferMode.EMBED and objective.view == "windows":
            forward.check_layer(self.embed.layer, layers)
            if self.embed.per not in ("sequence", "window"):
                raise SpecError(f"infer.embed.per = {self.embed.per!r}: must be 'sequence' or 'window'")


def frames(functions: Functions, objective, source, job: Job, *, quality=None, bar=None) -> Iterator[pl.DataFrame]:
    """Result frames, one per chunk of windows (or one of all sequences, for a sequence objective)."""
    if objective.view == "sequences":
        yield from sequences.frames(functions, objective, source, job, quality=quality, bar=bar)
        return
    _check_room(source, job)
    if job.mode == InferMode.SCORE:
        yield from _scores(functions, objective, source, quality, bar)
        return
    last_only = not job.per_window and (not source.known_last or not job.next_item)
    size = functions.buckets[-1]
    chunks = _counted(source.chunks(size, last_only), bar)
    if source.known_last and job.next_item:  # the split's windows whose last item is a target, in full chunks
        chunks = rechunk(map(objective.scored, chunks), size)
    for chunk in chunks:
        yield _chunk(functions, objective, source, job, chunk, quality)


def _scores(functions: Functions, objective, source: Source, tally, bar) -> Iterator[pl.DataFrame]:
    """One frame of scored items per chunk of windows, each window from one forward pass; totals go to `tally`."""
    size = functions.buckets[-1]
    for chunk in rechunk(map(objective.scored, _counted(source.scoring(size), bar)), size):
        out = functions.run("score", (chunk["cat"], chunk["real"], chunk["mask"]))
        where = objective.scored_items(chunk)
        columns = score.measures(objective, chunk, out, where)
        if tally is not None:
            tally.add(chunk, where, columns)
        yield score.frame(objective.meta, source.ids, chunk["sequence"][where[0]], objective.item_positions(chunk, where), columns)


def _check_room(source: Source, job: Job) -> None:
    """Positions after the last ones (predict on new data, generate) must fit in int64."""
    room = job.steps if job.mode == InferMode.GENERATE else 1 if job.next_item else 0
    if source.last_position is not None and room and source.last_position > np.iinfo(np.int64).max - room:
        raise InputError(
            f"input: a sequence ends at position {source.last_position}; the {room} position(s) after it do not fit in a 64-bit integer"
        )


def _counted(chunks: Iterator[Chunk], bar) -> Iterator[Chunk]:
    """The chunks, each counted on the progress bar (if any) as it is read."""
    for chunk in chunks:
        if bar is not None:
            bar.update(len(chunk["sequence"]))
        yield chunk


def _chunk(functions: Functions, objective, source: Source, job: Job, chunk: Chunk, quality) -> pl.DataFrame:
    known = source.known_last and job.next_item
    if len(chunk["sequence"]) == 0:
        return empty(functions, objective, job)
    batch = objective.window_inputs(chunk, known)
    sequence, last = chunk["sequence"], chunk["position"][:, -1]
    meta, ids, targets = objective.meta, source.ids, functions.net.targets
    if job.next_item:
        if known:  # a split: every item it scores, each once
            out = functions.run("items", batch, probabilities=job.mode == InferMode.PROBABILITIES)
            where = objective.scored_items(chunk)
            out = {kind: {t: v[where] for t, v in values.items()} for kind, values in out.items()}
            if quality is not None:
                quality.add(out["predicted"], chunk, where)
            sequence, position = sequence[where[0]], objective.item_positions(chunk, where)
        else:  # new data: the item after each sequence
            out = functions.run("next", batch)
            position = last + 1
        if job.mode == InferMode.PREDICT:
            return writers.predict_frame(meta, targets, ids, sequence, position, out)
        return writers.probabilities_frame(meta, functions.net.categorical_targets, ids, sequence, position, out)
    if job.mode == InferMode.EMBED:
        vectors = functions.run("embed", batch, layer=job.embed.layer, pooling=job.embed.pooling)
        return writers.embed_frame(meta, ids, sequence, last if job.per_window else None, vectors)
    s = job.sampling
    scalars = (np.uint32(s.seed), np.float32(s.temperature), np.int32(s.top_k), np.float32(s.top_p))
    cat_NTC, real_NTR = functions.run("generate", (*batch, sequence.astype(np.int32)), *scalars, steps=job.steps, cached=job.cached)
    return writers.generate_frame(meta, ids, sequence, last, cat_NTC, real_NTR)


def empty(functions: Functions, objective, job: Job) -> pl.DataFrame:
    """A result frame with no rows: the columns the job writes."""
    meta, net = objective.meta, functions.net
    if objective.view == "sequences":
        return sequences.empty(meta, objective, job, net.dim)
    ids, none = pl.Series([], dtype=pl.Int64), np.zeros(0, np.int64)
    if job.mode == InferMode.SCORE:
        return score.frame(meta, ids, none, none, score.empty_measures(objective))
    if job.mode == InferMode.EMBED:
        return writers.embed_frame(meta, ids, none, none if job.per_window else None, np.zeros((0, net.dim), np.float32))
    if job.mode == InferMode.GENERATE:
        cat, real = np.zeros((0, 1, len(meta.categorical)), np.int32), np.zeros((0, 1, len(meta.real)), np.float32)
        return writers.generate_frame(meta, ids, none, none, cat, real)
    out = {
        "predicted": {t.name: np.zeros(0, np.int32 if t.categorical else np.float32) for t in objective.targets},
        "probabilities": {t.name: np.zeros((0, t.vocab_size), np.float32) for t in objective.targets if t.categorical},
    }
    if job.mode == InferMode.PREDICT:
        return writers.predict_frame(meta, net.targets, ids, none, none, out)
    return writers.probabilities_frame(meta, net.categorical_targets, ids, none, none, out)
