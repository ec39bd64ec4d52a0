"""The four inference modes over a source of windows: each chunk of windows becomes one result frame.

Which windows a mode reads:
  a split (its windows end at known items): predict / probabilities predict the last item of
  every window (position = that item's); generate and embed read each sequence's last window.
  new data: every mode reads each sequence's last window (predict: position = last + 1).
  embed with `per = "window"`: every window, in either case.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Iterator

import numpy as np
import polars as pl

from seqjax.infer import forward, writers
from seqjax.infer.generate import check_generate
from seqjax.infer.sources import Chunk, Source, rechunk
from seqjax.spec import EmbedSpec, InferMode, InferSpec, Sampling, SpecError

if TYPE_CHECKING:
    from seqjax.infer.api import Predictor


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

    def check(self, predictor: "Predictor") -> None:
        """Fail before any work when the model cannot do this job."""
        if self.mode == InferMode.GENERATE:
            check_generate(predictor.meta, predictor.net.targets)
        if self.mode == InferMode.PROBABILITIES and not predictor.net.categorical_targets:
            raise SpecError(f"train.targets = {list(predictor.net.targets)!r}: infer.mode = 'probabilities' needs a categorical target")
        if self.mode == InferMode.EMBED:
            forward.check_layer(self.embed.layer, predictor.spec.model.layers)
            if self.embed.per not in ("sequence", "window"):
                raise SpecError(f"infer.embed.per = {self.embed.per!r}: must be 'sequence' or 'window'")


def model_inputs(chunk: Chunk, known_last: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cat, real, mask) of the `context` items the model reads: those before a known last item, else the last ones."""
    part = slice(None, -1) if known_last else slice(1, None)
    return chunk["cat"][:, part], chunk["real"][:, part], chunk["mask"][:, part]


def frames(predictor: "Predictor", source: Source, job: Job, *, quality=None, bar=None) -> Iterator[pl.DataFrame]:
    """Result frames, one per chunk of windows."""
    job.check(predictor)
    last_only = not job.per_window and (not source.known_last or not job.next_item)
    size = predictor.buckets[-1]
    chunks = _counted(source.chunks(size, last_only), bar)
    if source.known_last and job.next_item:  # the split's windows whose last item is a target, in full chunks
        chunks = rechunk(_targets_only(chunks), size)
    for chunk in chunks:
        yield _chunk(predictor, source, job, chunk, quality)


def _counted(chunks: Iterator[Chunk], bar) -> Iterator[Chunk]:
    """The chunks, each counted on the progress bar (if any) as it is read."""
    for chunk in chunks:
        if bar is not None:
            bar.update(len(chunk["sequence"]))
        yield chunk


def _targets_only(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The windows whose last item is a target of the split (and follows a real item)."""
    for chunk in chunks:
        keep = chunk["target"][:, -1] & chunk["mask"][:, -2]
        yield {k: v[keep] for k, v in chunk.items()}


def _chunk(predictor: "Predictor", source: Source, job: Job, chunk: Chunk, quality) -> pl.DataFrame:
    known = source.known_last and job.next_item
    if len(chunk["sequence"]) == 0:
        return empty(predictor, job)
    batch = model_inputs(chunk, known)
    sequence, last = chunk["sequence"], chunk["position"][:, -1]
    meta, ids = predictor.meta, source.ids
    if job.next_item:
        out = predictor.call(predictor.function("next"), batch)
        if quality is not None and known:
            quality.add(out, chunk)
        position = last if known else last + 1
        if job.mode == InferMode.PREDICT:
            return writers.predict_frame(meta, predictor.net.targets, ids, sequence, position, out)
        return writers.probabilities_frame(meta, predictor.net.categorical_targets, ids, sequence, position, out)
    if job.mode == InferMode.EMBED:
        vectors = predictor.call(predictor.function("embed", layer=job.embed.layer, pooling=job.embed.pooling), batch)
        return writers.embed_frame(meta, ids, sequence, last if job.per_window else None, vectors)
    s = job.sampling
    scalars = (np.uint32(s.seed), np.float32(s.temperature), np.int32(s.top_k), np.float32(s.top_p))
    fn = predictor.function("generate", steps=job.steps, cached=job.cached)
    cat_NTC, real_NTR = predictor.call(fn, (*batch, sequence.astype(np.int32)), *scalars)
    return writers.generate_frame(meta, ids, sequence, last, cat_NTC, real_NTR)


def empty(predictor: "Predictor", job: Job) -> pl.DataFrame:
    """A result frame with no rows: the columns the job writes."""
    meta, net = predictor.meta, predictor.net
    ids, none = pl.Series([], dtype=pl.Int64), np.zeros(0, np.int64)
    if job.mode == InferMode.EMBED:
        return writers.embed_frame(meta, ids, none, none if job.per_window else None, np.zeros((0, predictor.spec.model.dim), np.float32))
    if job.mode == InferMode.GENERATE:
        cat, real = np.zeros((0, 1, len(meta.categorical)), np.int32), np.zeros((0, 1, len(meta.real)), np.float32)
        return writers.generate_frame(meta, ids, none, none, cat, real)
    out = {t.name: np.zeros(0, np.int32 if t.kind == "categorical" else np.float32) for t in predictor.targets}
    out.update({f"{t.name}.probs": np.zeros((0, t.vocab_size), np.float32) for t in predictor.targets if t.kind == "categorical"})
    if job.mode == InferMode.PREDICT:
        return writers.predict_frame(meta, net.targets, ids, none, none, out)
    return writers.probabilities_frame(meta, net.categorical_targets, ids, none, none, out)
