"""Fine-tuning: parameters that start from another run (`train.init`) and parts kept fixed (`train.freeze`).

`train.init` reads the best checkpoint of a finished run and carries over its input embeddings, encoder
and pooling; heads and static fusion start fresh. Every carried encoder and embedding parameter must
exist here with the same shape (the first that does not is named); a categorical embedding table is
matched by value, so a value both vocabularies hold keeps its row and a value only this run knows
starts fresh. Pooling parameters that the other run lacks start fresh.

`train.freeze` wraps the optimizer in `optax.multi_transform`: frozen parameters get `set_to_zero`
(no state: no moments are allocated for them), the others the spec's optimizer over their subset only.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
import optax
from flax import nnx

from seqjax.data.metadata import RESERVED, Metadata
from seqjax.errors import UserError
from seqjax.spec import Spec
from seqjax.spec.finetune import is_frozen, part_of

CARRIED = ("embed", "encoder", "pooling")
"""Parts `train.init` carries over."""


class InitError(UserError):
    """`train.init` names a run that cannot start this one; the message names the parameter or column."""


def _key(entry) -> str:
    for attribute in ("key", "idx", "name"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


def path_of(path) -> tuple[str, ...]:
    """A pytree key path of nnx.State (or its pure dict) as strings: ("blocks", "0", "attention", ...)."""
    return tuple(_key(e) for e in path if _key(e) != "value")


def flat(tree) -> dict[tuple[str, ...], object]:
    return {path_of(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def labels(params, freeze: tuple[str, ...]):
    """The params tree with "frozen" or "train" at every leaf."""
    return jax.tree_util.tree_map_with_path(lambda p, _: "frozen" if is_frozen(path_of(p), freeze) else "train", params)


def optimizer(tx: optax.GradientTransformation, params, freeze: tuple[str, ...]) -> optax.GradientTransformation:
    """`tx` for the trained parameters and zero updates (and no state) for the frozen ones."""
    if not freeze:
        return tx
    marks = labels(params, freeze)
    missing = [name for name in freeze if not any(is_frozen(p, (name,)) for p in flat(params))]
    if missing:
        raise InitError(f"train.freeze = {list(freeze)!r}: {missing[0]!r} names no parameter of this model")
    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, marks)


def _name(path: tuple[str, ...]) -> str:
    return ".".join(path)


def pretrained(spec: Spec, params, meta: Metadata, mesh) -> nnx.State:
    """`params` with the embeddings, encoder and pooling of the run `spec.train.init` (placed like `params`)."""
    from seqjax.infer.restore import restore_params, spec_of
    from seqjax.model import abstract_model

    where = f"train.init = {spec.train.init!r}"
    if not pathlib.Path(spec.train.init).exists():
        raise InitError(f"{where}: no such run folder or spec file")
    other = spec_of(spec.train.init)
    other_meta = other.paths.metadata()
    _check_columns(where, meta, other_meta)
    readout = other.train.objective.build(other_meta, other.train).readout
    _, abstract = abstract_model(other.model, other_meta, readout, mesh, other.seed)
    old_abstract, _ = nnx.split_state(abstract, nnx.Param, ...)
    old, _ = restore_params(other, old_abstract, other_meta)
    old_flat, new_flat = flat(old), flat(params)
    replaced = {}
    for path, value in old_flat.items():
        if part_of(path) not in CARRIED:
            continue
        if path not in new_flat:
            raise InitError(f"{where}: parameter {_name(path)} {tuple(value.shape)} of that run is not in this model; the encoders differ")
        replaced[path] = _carried(where, path, np.asarray(value), new_flat[path], other_meta, meta)
    for path in new_flat:
        if part_of(path) in ("embed", "encoder") and path not in old_flat:
            raise InitError(f"{where}: parameter {_name(path)} of this model is not in that run; the encoders differ")
    leaves = [replaced.get(path_of(p), leaf) for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), leaves)


def _carried(where: str, path: tuple[str, ...], old: np.ndarray, new: jax.Array, old_meta: Metadata, meta: Metadata) -> jax.Array:
    """The other run's value for `path`, shaped and placed like `new` (embedding rows matched by value)."""
    if path[:2] == ("embed", "columns") and path[-1] == "embedding" and old.shape[1:] == new.shape[1:]:
        old = _rows_by_value(old, np.asarray(new), old_meta.categorical[int(path[2])], meta.categorical[int(path[2])])
    if old.shape != tuple(new.shape):
        raise InitError(f"{where}: parameter {_name(path)} has shape {old.shape} there and {tuple(new.shape)} here")
    return jax.device_put(old.astype(new.dtype), new.sharding)


def _rows_by_value(old_VD: np.ndarray, new_VD: np.ndarray, old_column, column) -> np.ndarray:
    """This run's table: reserved rows and rows of values the other run knew from there, the rest as initialised."""
    out = new_VD.copy()
    out[:RESERVED] = old_VD[:RESERVED]
    index = {value: i for i, value in enumerate(old_column.vocab)}
    for i, value in enumerate(column.vocab):
        if value in index:
            out[i + RESERVED] = old_VD[index[value] + RESERVED]
    return out


def _check_columns(where: str, meta: Metadata, other: Metadata) -> None:
    """The same item columns, of the same kinds, in the same order."""
    mine = [(c.name, c.kind.value) for c in meta.columns]
    theirs = [(c.name, c.kind.value) for c in other.columns]
    if mine != theirs:
        first = next((a, b) for a, b in zip(mine + [None] * len(theirs), theirs + [None] * len(mine)) if a != b)
        raise InitError(f"{where}: that run's item columns are {theirs}, this run's {mine} (first difference: {first[1]} there, {first[0]} here)")
