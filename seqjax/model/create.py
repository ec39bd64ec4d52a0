"""Building a model: the encoder family the spec names, on the host or placed on a mesh by its logical names."""

from __future__ import annotations

import jax
from flax import nnx

from seqjax.data.metadata import Metadata
from seqjax.model.base import SequenceModel
from seqjax.model.sharding import check_divisible, param_shardings
from seqjax.spec import ModelSpec


def Model(spec: ModelSpec, meta: Metadata, targets, *, rngs: nnx.Rngs) -> SequenceModel:
    """The model `spec.encoder` describes, with one head per target column (`targets`: names of item columns,
    read out per item, or a seqjax.model.heads.Readout). A readout that builds its own model (an autoencoder, a
    masked-item model) wraps the encoder itself."""
    if hasattr(targets, "build"):
        return targets.build(spec, meta, rngs=rngs)
    return spec.encoder.build(spec, meta, targets, rngs=rngs)


def _build(spec: ModelSpec, meta: Metadata, targets: tuple[str, ...], seed: int) -> SequenceModel:
    """A model on the host; sharding is applied by the caller (out_shardings), not eagerly."""
    with nnx.use_eager_sharding(False):
        return Model(spec, meta, targets, rngs=nnx.Rngs(params=seed, dropout=seed + 1))


def abstract_model(spec: ModelSpec, meta: Metadata, targets: tuple[str, ...], mesh: jax.sharding.Mesh, seed: int = 0) -> tuple[nnx.GraphDef, nnx.State]:
    """(graphdef, state of ShapeDtypeStructs carrying their NamedShardings): the target for restores."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: _build(spec, meta, targets, seed)))
    shardings = param_shardings(state, mesh)
    check_divisible(shardings, state, mesh)
    state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), state, shardings)
    return graphdef, state


def create_model(spec: ModelSpec, meta: Metadata, targets: tuple[str, ...], mesh: jax.sharding.Mesh, seed: int) -> SequenceModel:
    """Initialise the model with every parameter already placed on `mesh` by its logical names."""
    graphdef, abstract = abstract_model(spec, meta, targets, mesh, seed)
    shardings = jax.tree.map(lambda a: a.sharding, abstract)
    state = jax.jit(lambda: nnx.state(_build(spec, meta, targets, seed)), out_shardings=shardings)()
    return nnx.merge(graphdef, state)
