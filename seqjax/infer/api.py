"""`seqjax.load(...)`: a trained model as jit-compiled functions over long-format frames.

    predictor = seqjax.load("runs/example")          # a run folder, or the spec's TOML file
    predictor.predict(frame)                          # the next item after each sequence
    predictor.generate(frame, steps=20, temperature=0.8, top_p=0.9, seed=1)

Batches are padded to a few fixed sizes (powers of two times the mesh's batch axes, up to
`infer.batch_size`), so each function compiles once per size and is reused.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import numpy as np
import polars as pl
from flax import nnx

from seqjax.infer import forward, generate, inputs, modes
from seqjax.infer.restore import read_metadata, restore_params, spec_of
from seqjax.infer.sample import SamplingArgs, row_keys
from seqjax.infer.sources import Source, encoded_source
from seqjax.spec import EmbedSpec, InferMode, Pooling, Sampling, Spec


def bucket_sizes(batch_size: int, multiple: int) -> tuple[int, ...]:
    """multiple * 1, 2, 4, ... up to `batch_size` rounded up to `multiple` (the largest size)."""
    top = -(-batch_size // multiple) * multiple
    sizes, size = [], multiple
    while size < top:
        sizes.append(size)
        size *= 2
    return (*sizes, top)


def generation_function(net: forward.Network, *, steps: int, cached: bool = True):
    """jit-able (params, cat, real, mask, rows, seed, temperature, top_k, top_p) -> (cat_BTC ids, real_BTR values)."""

    def fn(params, cat, real, mask, rows, seed, temperature, top_k, top_p):
        window, args = generate.Window(cat, real, mask), SamplingArgs(temperature, top_k, top_p)
        return generate.generate(net, params, window, row_keys(seed, rows), args, steps=steps, cached=cached)

    return fn


class Predictor:
    """Parameters of the best checkpoint on the spec's mesh, and the compiled inference functions."""

    def __init__(self, spec: Spec, *, devices=None):
        from seqjax.model import abstract_model, batch_sharding, make_mesh
        from seqjax.train.objective import targets_of

        self.spec = spec
        self.meta = read_metadata(spec)
        self.mesh = make_mesh(spec.mesh, devices)
        graphdef, abstract = abstract_model(spec.model, self.meta, spec.train.targets, self.mesh, spec.seed)
        params_abstract, rest = nnx.split_state(abstract, nnx.Param, ...)
        self.params, self.step = restore_params(spec, params_abstract)
        self.net = forward.Network(graphdef, rest, self.meta, tuple(spec.train.targets))
        self.targets = targets_of(self.meta, spec.train.targets, {})
        self.batch_sharding = batch_sharding(self.mesh)
        self.replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        self.buckets = bucket_sizes(spec.infer.batch_size, self.mesh.shape["data"] * self.mesh.shape["fsdp"])
        self._functions: dict[tuple, object] = {}
        self._rows: dict[int, list[int]] = {}
        self._sizes: dict[int, set[int]] = {}  # batch sizes each function has been compiled for

    def function(self, name: str, **static):
        """The jitted function `name` ("next", "embed" or "generate") for the given static settings."""
        key = (name, tuple(sorted(static.items())))
        if key not in self._functions:
            builders = {
                "next": lambda: functools.partial(forward.next_outputs, self.net),
                "embed": lambda: functools.partial(forward.embed, self.net, **static),
                "generate": lambda: generation_function(self.net, **static),
            }
            self._functions[key] = jax.jit(builders[name](), out_shardings=self.replicated)
        return self._functions[key]

    def bucket(self, fn, n: int) -> int:
        """The batch size to pad n rows to: the smallest `fn` already ran with, else the smallest bucket that fits.

        Reusing a compiled size costs a few padding rows; a new size costs a compilation.
        """
        if n > self.buckets[-1]:
            raise ValueError(f"a batch of {n} rows is larger than infer.batch_size ({self.buckets[-1]})")
        used = self._sizes.setdefault(id(fn), set())
        size = min((b for b in used if b >= n), default=None) or next(b for b in self.buckets if b >= n)
        used.add(size)
        return size

    def call(self, fn, batch: tuple[np.ndarray, ...], *scalars):
        """Run `fn` on a batch padded to its bucket size and split over the mesh; host arrays of the real rows."""
        from seqjax.model import activate, local_rows

        n = len(batch[0])
        size = self.bucket(fn, n)
        if size not in self._rows:
            self._rows[size] = local_rows(self.batch_sharding, size)  # this process's rows of the batch
        arrays = []
        for x in batch:
            padded = np.zeros((size, *x.shape[1:]), x.dtype)  # padding rows: no items (mask False)
            padded[:n] = x
            arrays.append(jax.make_array_from_process_local_data(self.batch_sharding, padded[self._rows[size]], padded.shape))
        with activate(self.mesh):
            out = fn(self.params, *arrays, *scalars)
        return jax.tree.map(lambda x: np.asarray(x)[:n], jax.device_get(out))

    # ------------------------------------------------------------------ the Python API over frames

    def source(self, frame) -> Source:
        """Windows of a long-format polars/pandas frame, encoded with the training metadata."""
        encoded = inputs.encode(self.meta, frame, "frame")
        inputs.warn_unseen(encoded.unseen)
        return encoded_source(self.meta, encoded)

    def run(self, frame, job: modes.Job) -> pl.DataFrame:
        """One job over a frame, as one polars frame."""
        job.check(self)
        results = list(modes.frames(self, self.source(frame), job))
        return pl.concat(results) if results else modes.empty(self, job)

    def predict(self, frame) -> pl.DataFrame:
        """The next item after each sequence (position = last + 1), one column per target."""
        return self.run(frame, modes.Job(mode=InferMode.PREDICT))

    def probabilities(self, frame) -> pl.DataFrame:
        """For the next item after each sequence: `<target>=<class value>` probability columns per categorical target."""
        return self.run(frame, modes.Job(mode=InferMode.PROBABILITIES))

    def generate(
        self, frame, steps: int | None = None, *, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0, cached: bool = True
    ) -> pl.DataFrame:
        """`steps` (default `infer.steps`) new items after each sequence, every column; greedy when temperature is 0."""
        steps = self.spec.infer.steps if steps is None else steps
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps = {steps!r}: must be a whole number of items, at least 1")
        sampling = Sampling(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        return self.run(frame, modes.Job(mode=InferMode.GENERATE, steps=steps, sampling=sampling, cached=cached))

    def embed(self, frame, layer: int = -1, pooling: str = "last", per: str = "sequence") -> pl.DataFrame:
        """One float32 vector per sequence (its last window) or per window, from block `layer` (-1: final normed state)."""
        return self.run(frame, modes.Job(mode=InferMode.EMBED, embed=EmbedSpec(layer=layer, pooling=Pooling(pooling), per=per)))


def load(path: str | pathlib.Path, *, devices=None) -> Predictor:
    """A Predictor for a run folder (holding `spec.json`) or a spec's TOML file."""
    return Predictor(spec_of(path), devices=devices)
