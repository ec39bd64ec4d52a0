"""A tiny hand-made metadata and model shared by the model tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from seqjax.data.metadata import ColumnMeta, Metadata
from seqjax.model import Model
from seqjax.spec import ModelSpec

TARGETS = ("event", "amount")
CONTEXT = 8


def tiny_meta() -> Metadata:
    """Two categorical columns (vocab sizes 7 and 5, reserved ids included) and two real ones."""
    columns = (
        ColumnMeta(name="event", kind="categorical", dtype="String", vocab=("a", "b", "c", "d", "e")),
        ColumnMeta(name="amount", kind="real", dtype="Float64", mean=3.0, std=2.0),
        ColumnMeta(name="channel", kind="categorical", dtype="Int64", vocab=(10, 20, 30)),
        ColumnMeta(name="duration", kind="real", dtype="Float64"),
    )
    return Metadata(
        fingerprint="test", id_column="sequenceId", position_column="itemPosition", id_dtype="Int64",
        columns=columns, context=CONTEXT, stride=CONTEXT, format="arrayrecord", rows=0, splits={},
    )


def tiny_spec(**changes) -> ModelSpec:
    return ModelSpec(**{"dim": 16, "layers": 2, "heads": 4, "kv_heads": 2, **changes})


def inputs(seed: int, batch: int = 4, length: int = CONTEXT) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Random (cat_BLC, real_BLR, mask_BL) with every item real."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    cat = jnp.stack([jax.random.randint(k1, (batch, length), 2, 7), jax.random.randint(k2, (batch, length), 2, 5)], -1)
    return cat.astype(jnp.int32), jax.random.normal(k3, (batch, length, 2)), jnp.ones((batch, length), bool)


def eager_model(spec: ModelSpec, seed: int = 0) -> Model:
    """A model on the default device without a mesh (annotations kept, nothing sharded eagerly)."""
    with nnx.use_eager_sharding(False):
        return Model(spec, tiny_meta(), TARGETS, rngs=nnx.Rngs(params=seed, dropout=seed + 1))


def forward_fn(graphdef):
    """jit(state, cat, real, mask) -> outputs, the pure form a train step uses."""
    return jax.jit(lambda state, cat, real, mask: nnx.merge(graphdef, state)(cat, real, mask)[0])


@pytest.fixture(scope="session")
def meta() -> Metadata:
    return tiny_meta()


@pytest.fixture(scope="session")
def model1() -> Model:
    """The tiny model on one device, built op by op (cheaper to compile than a jitted init)."""
    return eager_model(tiny_spec())


@pytest.fixture(scope="session")
def forward(model1):
    graphdef, state = nnx.split(model1)
    fn = forward_fn(graphdef)
    return lambda cat, real, mask: jax.tree.map(np.asarray, fn(state, cat, real, mask))
