"""Parameters land on a (data, fsdp, tensor) mesh as the rules table says, and sharding changes no output."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from conftest import TARGETS, forward_fn, inputs, tiny_spec
from flax import nnx
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

from seqjax.model import (
    abstract_model,
    activate,
    batch_sharding,
    create_model,
    make_mesh,
    param_shardings,
)
from seqjax.spec import MeshSpec

EXPECTED = {
    "embed/columns/0/embedding": P(None, "fsdp"),
    "embed/real/kernel": P(None, "fsdp"),
    "embed/real/bias": P("fsdp"),
    "blocks/0/attention/qkv/kernel": P("fsdp", "tensor", None, None),
    "blocks/1/attention/out/kernel": P("tensor", None, "fsdp"),
    "blocks/0/mlp/up/kernel": P("fsdp", None, "tensor"),
    "blocks/0/mlp/down/kernel": P("tensor", "fsdp"),
    "blocks/0/attention_norm/scale": P(None),
    "norm/scale": P(None),
    "heads/layers/0/kernel": P("fsdp", None),
    "heads/layers/0/bias": P(None),
    "heads/layers/1/kernel": P("fsdp", None),
    "blocks/0/attention/dropout/rngs/key": P(),
}


@pytest.fixture(scope="module")
def mesh8():
    return make_mesh(MeshSpec(data=2, fsdp=2, tensor=2), jax.devices()[:8])


@pytest.fixture(scope="module")
def model8(meta, mesh8):
    return create_model(tiny_spec(), meta, TARGETS, mesh8, seed=0)


def flat(state) -> dict[str, jax.Array]:
    return {"/".join(map(str, path)): v.get_value() for path, v in nnx.to_flat_state(state)}


def test_mesh_axes_are_auto_and_batches_split_over_data_and_fsdp(mesh8):
    assert mesh8.axis_names == ("data", "fsdp", "tensor")
    assert dict(mesh8.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    assert all(t == AxisType.Auto for t in mesh8.axis_types)
    assert batch_sharding(mesh8).spec == P(("data", "fsdp"))
    assert dict(make_mesh(MeshSpec(data=-1, tensor=2), jax.devices()[:8]).shape) == {"data": 4, "fsdp": 1, "tensor": 2}


def test_each_kind_of_parameter_has_its_literal_partition_spec(model8, mesh8):
    arrays = flat(nnx.state(model8))
    for name, spec in EXPECTED.items():
        assert arrays[name].sharding.spec == spec, name
        assert arrays[name].sharding.mesh == mesh8, name
    shardings = flat(param_shardings(nnx.state(model8), mesh8))
    assert all(shardings[name].spec == spec for name, spec in EXPECTED.items())


def test_abstract_model_carries_the_same_shardings(meta, mesh8):
    _, abstract = abstract_model(tiny_spec(), meta, TARGETS, mesh8)
    shapes = flat(abstract)
    assert shapes["blocks/0/mlp/down/kernel"].sharding.spec == P("tensor", "fsdp")
    assert shapes["embed/columns/1/embedding"].shape == (5, 16)


def test_output_on_2x2x2_mesh_equals_one_device(model8, mesh8):
    cat, real, mask = inputs(4, batch=8)
    graphdef, state = nnx.split(model8)
    forward = forward_fn(graphdef)
    sharding = batch_sharding(mesh8)
    with activate(mesh8):
        sharded = forward(state, *(jax.device_put(x, sharding) for x in (cat, real, mask)))
    mesh1 = make_mesh(MeshSpec(), jax.devices()[:1])
    with activate(mesh1):
        single = forward(jax.device_put(state, param_shardings(state, mesh1)), cat, real, mask)
    for name in TARGETS:
        np.testing.assert_allclose(np.asarray(sharded[name]), np.asarray(single[name]), rtol=1e-5, atol=1e-5)


def test_a_seed_gives_the_same_parameters_on_any_mesh(model8, model1):
    sharded, single = flat(nnx.state(model8, nnx.Param)), flat(nnx.state(model1, nnx.Param))
    assert sharded.keys() == single.keys()
    for name in single:
        np.testing.assert_allclose(np.asarray(sharded[name]), np.asarray(single[name]), rtol=1e-6, atol=1e-6, err_msg=name)


def test_a_dimension_that_does_not_split_fails_naming_the_parameter(meta, mesh8):
    with pytest.raises(ValueError, match=r"attention/qkv/kernel of shape \(16, 1, 6, 4\)"):
        abstract_model(tiny_spec(kv_heads=1), meta, TARGETS, mesh8)
