"""`seqjax.load(...)`: a trained model as jit-compiled functions over long-format frames.

    predictor = seqjax.load("runs/example")          # a run folder, or the spec's TOML file
    predictor.predict(frame)                          # the next item after each sequence
    predictor.generate(frame, steps=20, temperature=0.8, top_p=0.9, seed=1)
    predictor.score(frame).summary                    # every item's log-probability: mean NLL, perplexity, bits

Batches are padded to a few fixed sizes (see seqjax.infer.functions), so each function
compiles once per size and is reused.
"""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl
from flax import nnx

from seqjax.infer import forward, inputs, modes, score, sequences
from seqjax.infer.functions import Functions, bucket_sizes  # noqa: F401 (bucket_sizes: part of this module's API)
from seqjax.infer.restore import restore_params, spec_of
from seqjax.infer.sources import encoded_source
from seqjax.model.heads import Readout
from seqjax.spec import EmbedSpec, InferMode, Pooling, Sampling, Spec, SpecError


class Predictor:
    """A trained run: its spec, metadata and objective, and the best checkpoint's inference functions."""

    def __init__(self, spec: Spec, *, devices=None):
        from seqjax.model import abstract_model, make_mesh

        self.spec = spec
        self.meta = spec.paths.metadata()
        self.objective = spec.train.objective.build(self.meta, spec.train)
        mesh = make_mesh(spec.mesh, devices)
        spec.mesh.check(spec.model, spec.train.batch_size, tuple(mesh.shape.values()))
        graphdef, abstract = abstract_model(spec.model, self.meta, self.objective.readout, mesh, spec.seed)
        params_abstract, rest = nnx.split_state(abstract, nnx.Param, ...)
        params, self.step = restore_params(spec, params_abstract, self.meta)
        net = forward.Network(graphdef, rest, self.meta, Readout.of(self.objective.readout).targets, spec.model.dim)
        self.functions = Functions(net, params, mesh, spec.infer.batch_size)

    @property
    def targets(self):
        return self.objective.targets

    def function(self, name: str, **static):
        """The jitted function `name` ("next", "embed" or "generate") for the given static settings."""
        return self.functions.compiled(name, **static)

    def call(self, fn, batch: tuple[np.ndarray, ...], *scalars):
        """Run `fn` on a batch padded to a compiled size and split over the mesh; host arrays of the real rows."""
        return self.functions.call(fn, batch, *scalars)

    # ------------------------------------------------------------------ the Python API over frames

    def source(self, frame, static=None, where: str = "frame"):
        """A long-format polars/pandas frame encoded with the training metadata: windows, or whole sequences
        with their static features (from `static`, a table or its path, else constant columns of `frame`)."""
        encoded = inputs.encode(self.meta, frame, where)
        inputs.warn_unseen(encoded.unseen)
        if self.objective.view == "sequences":
            return sequences.encoded_source(self.meta, encoded, sequences.statics_of(self.meta, frame, static, where))
        return encoded_source(self.meta, encoded)

    def run(self, frame, job: modes.Job, static=None) -> pl.DataFrame:
        """One job over a frame, as one polars frame."""
        job.check(self.objective, self.spec.model.layers)
        results = list(modes.frames(self.functions, self.objective, self.source(frame, static), job))
        return pl.concat(results) if results else modes.empty(self.functions, self.objective, job)

    def predict(self, frame, static=None) -> pl.DataFrame:
        """Next-item models: the item after each sequence (position = last + 1), one column per target.
        Sequence models: each sequence's targets (static features from `static`, else from `frame`)."""
        return self.run(frame, modes.Job(mode=InferMode.PREDICT), static)

    def probabilities(self, frame, static=None) -> pl.DataFrame:
        """`<target>=<class value>` probability columns per categorical target: of the item after each sequence,
        or of each sequence's label."""
        return self.run(frame, modes.Job(mode=InferMode.PROBABILITIES), static)

    def generate(
        self, frame, steps: int | None = None, *, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0, cached: bool = True
    ) -> pl.DataFrame:
        """`steps` (default `infer.steps`) new items after each sequence, every column; greedy when temperature is 0."""
        steps = self.spec.infer.steps if steps is None else steps
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps = {steps!r}: must be a whole number of items, at least 1")
        sampling = Sampling(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        return self.run(frame, modes.Job(mode=InferMode.GENERATE, steps=steps, sampling=sampling, cached=cached))

    def score(self, frame) -> score.Scores:
        """Every item of every sequence scored once with the most context a window gives it (one forward pass per
        window): `.items` (log-probability of each categorical target's true value, whether the prediction was right,
        each real target's error), `.sequences` (totals per sequence), `.summary` (mean NLL, perplexity, bits per item,
        accuracy; MAE, RMSE)."""
        job = modes.Job(mode=InferMode.SCORE)
        job.check(self.objective, self.spec.model.layers)
        source = self.source(frame)
        tally = score.Tally(self.objective, len(source.ids))
        results = list(modes.frames(self.functions, self.objective, source, job, quality=tally))
        items = pl.concat(results) if results else modes.empty(self.functions, self.objective, job)
        return score.Scores(items=items, sequences=tally.sequences(self.meta, source.ids), summary=tally.summary())

    def embed(self, frame, layer: int = -1, pooling: str = "last", per: str = "sequence", static=None) -> pl.DataFrame:
        """One float32 vector per sequence (its last window) or per window, from block `layer` (-1: final normed state);
        of a sequence model, what its heads read (`layer`, `pooling` and `per` do not apply)."""
        if pooling not in set(Pooling):
            raise SpecError(f"pooling = {pooling!r}: must be one of {', '.join(repr(p.value) for p in Pooling)}")
        return self.run(frame, modes.Job(mode=InferMode.EMBED, embed=EmbedSpec(layer=layer, pooling=Pooling(pooling), per=per)), static)


def load(path: str | pathlib.Path, *, devices=None) -> Predictor:
    """A Predictor for a run folder (holding `spec.json`) or a spec's TOML file."""
    return Predictor(spec_of(path), devices=devices)
