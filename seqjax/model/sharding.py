"""The one table mapping logical axis names to mesh axes, and the mesh built from `[mesh]`.

Modules name what a dimension means ("embed", "mlp", "heads", ...); this table decides
where it lives on the hardware. Only the mesh sizes change between data-parallel
(data=N), FSDP (fsdp=N) and tensor-parallel (tensor=N) runs.

Vocabularies are replicated ("vocab" -> None) rather than split over `tensor`:
categorical columns often have tiny vocabularies (7 ids cannot be split over 2
devices), embedding tables are still split along "embed" over `fsdp`, and logits
then keep their true width, so no padded ids need masking.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Sequence

import jax
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from seqjax.spec import MeshSpec

AXES = ("data", "fsdp", "tensor")
"""Mesh axis names, outermost first."""

RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", ("data", "fsdp")),  # examples of a batch
    ("length", None),  # items of a window (activations and caches)
    ("hidden", None),  # residual-stream width of activations
    ("embed", "fsdp"),  # residual-stream width of parameters
    ("mlp", "tensor"),  # MLP hidden width
    ("heads", "tensor"),  # query heads
    ("kv_heads", "tensor"),  # key/value heads
    ("head_dim", None),  # width of one head
    ("qkv", None),  # within a kv group of the fused projection: its query heads, then key and value
    ("branch", None),  # the gate and linear branches of a fused SwiGLU projection
    ("vocab", None),  # categorical ids (embedding rows, logits)
    ("real", None),  # real input columns
    ("position", None),  # rows of a learned position table
    ("value", None),  # the single output of a real-valued head
    ("norm", None),  # norm scales and biases
)
"""Logical axis name -> mesh axis (or axes, or None for replicated)."""

_TABLE = dict(RULES)


def make_mesh(spec: MeshSpec, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, fsdp, tensor) mesh with Auto axes, as GSPMD annotations need."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh(spec.shape(len(devices)), AXES, axis_types=(AxisType.Auto,) * len(AXES), devices=devices)


def logical_spec(names: Sequence[str | None]) -> PartitionSpec:
    """The PartitionSpec for a tuple of logical names, e.g. ("embed", "mlp") -> P("fsdp", "tensor")."""
    unknown = [n for n in names if n is not None and n not in _TABLE]
    if unknown:
        raise ValueError(f"logical axis names {unknown} are not in sharding.RULES; known: {sorted(_TABLE)}")
    return PartitionSpec(*(None if n is None else _TABLE[n] for n in names))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of batch arrays: leading dimension over ("data", "fsdp"), the rest replicated."""
    return NamedSharding(mesh, logical_spec(("batch",)))


def local_rows(sharding: NamedSharding, global_batch: int) -> list[int]:
    """Rows of a global batch that this process's devices hold, increasing: what its input pipeline loads.

    One process: every row. Processes that split the batch axes: their own block. Processes that
    differ only along `tensor`: the same rows (they are replicas of one batch shard).
    """
    axes = sharding.spec[0] if len(sharding.spec) else None
    shards = _axis_size(axes, dict(sharding.mesh.shape))
    if global_batch % shards:
        raise ValueError(f"a global batch of {global_batch} rows must be divisible by the {shards} devices of the mesh axes {axes}")
    rows: set[int] = set()
    for index in sharding.addressable_devices_indices_map((global_batch,)).values():
        rows.update(range(*index[0].indices(global_batch)))
    return sorted(rows)


@contextlib.contextmanager
def activate(mesh: Mesh) -> Iterator[Mesh]:
    """Make `mesh` current and the logical names resolvable (model creation and forward passes)."""
    with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
        yield mesh


def param_shardings(tree, mesh: Mesh):
    """NamedShardings (same structure as `tree`, an nnx.State or abstract state) for jit in/out_shardings."""
    with nnx.logical_axis_rules(RULES):
        return nnx.get_named_sharding(tree, mesh)


def _axis_size(entry: str | tuple[str, ...] | None, sizes: dict[str, int]) -> int:
    if entry is None:
        return 1
    names = (entry,) if isinstance(entry, str) else entry
    return math.prod(sizes.get(n, 1) for n in names)


def _divides(shape: Sequence[int], spec: PartitionSpec, sizes: dict[str, int]) -> bool:
    return all(dim % _axis_size(entry, sizes) == 0 for dim, entry in zip(shape, spec))


def constrain(x: jax.Array, names: Sequence[str]) -> jax.Array:
    """Annotate an activation with logical names when a mesh is current and the sizes divide."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return x
    spec = logical_spec(names)
    if not _divides(x.shape, spec, dict(mesh.shape)):
        return x  # e.g. a one-example decode batch on 8 devices: let the compiler choose
    return jax.lax.with_sharding_constraint(x, spec)


def check_divisible(shardings, abstract_state, mesh: Mesh) -> None:
    """Fail with the parameter's path, shape and spec when a dimension does not split evenly."""
    sizes = dict(mesh.shape)
    pairs = zip(nnx.to_flat_state(shardings), nnx.to_flat_state(abstract_state))
    for (path, sharding), (_, variable) in pairs:
        spec, shape = sharding.get_value().spec, variable.get_value().shape
        if not _divides(shape, spec, sizes):
            name = "/".join(map(str, path))
            raise ValueError(
                f"parameter {name} of shape {tuple(shape)} cannot be split as {spec} on mesh {sizes}: each dimension must be divisible by its mesh axes"
            )
