"""The model: per-column embeddings -> an encoder family -> per-target heads, sharded by logical names."""

from seqjax.model.attention import KVCache
from seqjax.model.base import SequenceModel
from seqjax.model.create import Model, abstract_model, create_model
from seqjax.model.sharding import (
    RULES,
    activate,
    batch_sharding,
    local_rows,
    logical_spec,
    make_mesh,
    param_shardings,
)

__all__ = [
    "KVCache",
    "Model",
    "RULES",
    "SequenceModel",
    "abstract_model",
    "activate",
    "batch_sharding",
    "create_model",
    "local_rows",
    "logical_spec",
    "make_mesh",
    "param_shardings",
]
