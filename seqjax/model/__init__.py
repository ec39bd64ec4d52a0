"""The model: per-column embeddings -> causal transformer -> per-target heads, sharded by logical names."""

from seqjax.model.attention import KVCache
from seqjax.model.sharding import RULES, activate, batch_sharding, local_rows, logical_spec, make_mesh, param_shardings
from seqjax.model.transformer import Model, abstract_model, create_model

__all__ = [
    "KVCache",
    "Model",
    "RULES",
    "abstract_model",
    "activate",
    "batch_sharding",
    "create_model",
    "local_rows",
    "logical_spec",
    "make_mesh",
    "param_shardings",
]
