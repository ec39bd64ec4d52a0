"""The pure train and eval steps, and their jit-compiled, sharded forms."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from seqjax.train import objective
from seqjax.train.objective import Target

TrainState = dict
"""{"step": int32 scalar, "params": nnx.State of parameters, "opt": optax state}."""


def init_state(params: nnx.State, tx: optax.GradientTransformation) -> TrainState:
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt": tx.init(params)}


def make_train_step(graphdef, tx: optax.GradientTransformation, targets: tuple[Target, ...], seed: int) -> Callable:
    """train_step(state, rest, batch) -> (state, metrics): one optimizer update on a global batch."""

    def train_step(state: TrainState, rest: nnx.State, batch: dict):
        model = nnx.merge(graphdef, state["params"], rest)
        # Dropout masks come from (seed, step) alone, so a resumed run replays them exactly.
        nnx.reseed(model, dropout=jax.random.fold_in(jax.random.key(seed), state["step"]))

        def loss_fn(model):
            outputs = model(**objective.model_inputs(batch), deterministic=False)[0]
            per_target = objective.sums(outputs, batch, targets)
            return objective.total_loss(per_target, targets), per_target

        grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, nnx.Param), has_aux=True)
        (loss, per_target), grads = grad_fn(model)
        updates, opt = tx.update(grads, state["opt"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads)}
        metrics.update({f"{t.name}_loss": per_target[t.name]["loss"] / jnp.maximum(per_target[t.name]["count"], 1.0) for t in targets})
        return {"step": state["step"] + 1, "params": params, "opt": opt}, metrics

    return train_step


def make_eval_step(graphdef, targets: tuple[Target, ...]) -> Callable:
    """eval_step(params, rest, batch) -> per-target sums (added up over batches on the host)."""

    def eval_step(params: nnx.State, rest: nnx.State, batch: dict):
        model = nnx.merge(graphdef, params, rest)
        outputs = model(**objective.model_inputs(batch), deterministic=True)[0]
        return objective.sums(outputs, batch, targets)

    return eval_step


def shardings_of(tree) -> object:
    """The sharding of every array in a tree of live arrays."""
    return jax.tree.map(lambda x: x.sharding, tree)


def jit_train_step(train_step, state_shardings, rest_shardings, batch_sharding, replicated):
    """Compile once with explicit shardings; the old state's buffers are donated to the new one."""
    return jax.jit(
        train_step,
        in_shardings=(state_shardings, rest_shardings, batch_sharding),
        out_shardings=(state_shardings, replicated),
        donate_argnums=0,
    )
