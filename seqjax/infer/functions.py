"""A trained model's inference functions: pure forms (what export serialises) and their compiled, padded calls.

Batches are padded to a few fixed sizes (powers of two times the mesh's batch axes, up to
`infer.batch_size`), so each function compiles once per size and is reused; a smaller batch
reuses a size already compiled when there is one.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from seqjax.infer import forward, generate
from seqjax.infer.sample import SamplingArgs, row_keys


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


class Functions:
    """The network, its parameters on a mesh, and one compiled function per (name, static settings)."""

    def __init__(self, net: forward.Network, params, mesh: jax.sharding.Mesh, batch_size: int):
        from seqjax.model import batch_sharding

        self.net, self.params, self.mesh = net, params, mesh
        self.batch_sharding = batch_sharding(mesh)
        self.replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        self.buckets = bucket_sizes(batch_size, mesh.shape["data"] * mesh.shape["fsdp"])
        self._compiled: dict[tuple, object] = {}
        self._rows: dict[int, list[int]] = {}
        self._sizes: dict[int, set[int]] = {}  # batch sizes each function has been compiled for

    def pure(self, name: str, **static):
        """The pure function `name` of (params, batch arrays..., scalars...): "next", "items", "score", "embed", "generate"
        (per-item models), "sequence", "sequence_embed" (per-sequence models)."""
        builders = {
            "next": lambda: functools.partial(forward.next_outputs, self.net),
            "items": lambda: functools.partial(forward.item_outputs, self.net, **static),
            "score": lambda: functools.partial(forward.item_scores, self.net),
            "embed": lambda: functools.partial(forward.embed, self.net, **static),
            "generate": lambda: generation_function(self.net, **static),
            "sequence": lambda: functools.partial(forward.sequence_outputs, self.net),
            "sequence_embed": lambda: functools.partial(forward.sequence_embedding, self.net),
        }
        return builders[name]()

    def compiled(self, name: str, **static):
        """`pure(name, **static)` jit-compiled, results replicated (every process can read them)."""
        key = (name, tuple(sorted(static.items())))
        if key not in self._compiled:
            self._compiled[key] = jax.jit(self.pure(name, **static), out_shardings=self.replicated)
        return self._compiled[key]

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

    def run(self, name: str, batch: tuple[np.ndarray, ...], *scalars, **static):
        """`call(compiled(name, **static), batch, *scalars)`."""
        return self.call(self.compiled(name, **static), batch, *scalars)
