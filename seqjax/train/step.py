"""The pure train and eval steps, and their jit-compiled, sharded forms."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from seqjax.model.sharding import constrain


class TrainState(NamedTuple):
    """What an optimizer step updates (and a checkpoint saves); fields read by name too (`state["params"]`)."""

    step: Any
    """int32 scalar: updates done."""
    params: Any
    """nnx.State of the parameters."""
    opt: Any
    """optax state."""

    def __getitem__(self, key):
        return getattr(self, key) if isinstance(key, str) else tuple.__getitem__(self, key)


def init_state(params: nnx.State, tx: optax.GradientTransformation) -> TrainState:
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params))


def state_shardings(params: nnx.State, params_shardings: nnx.State, tx: optax.GradientTransformation, mesh: Mesh) -> TrainState:
    """Where each part of the train state lives: every optimizer moment exactly like its parameter, counts replicated.

    `params` may be live or abstract; `params_shardings` comes from the rules table (sharding.param_shardings).
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    abstract_opt = jax.eval_shape(tx.init, params)
    def masked(x) -> bool:  # the place of a frozen parameter in a masked state (train.freeze): no moment there
        return isinstance(x, optax.MaskedNode)

    def like_param(moment, sharding):
        return moment if masked(moment) else sharding

    opt = optax.tree_map_params(tx, like_param, abstract_opt, params_shardings, transform_non_params=lambda _: replicated, is_leaf=masked)
    return TrainState(replicated, params_shardings, opt)


def forward(objective, model, batch, key: jax.Array | None, *, deterministic: bool):
    """What the objective's loss reads: its own forward pass (given the step's key; None when evaluating),
    else the model's outputs on the objective's inputs."""
    own = getattr(objective, "forward", None)
    if own is not None:
        return own(model, batch, key, deterministic=deterministic)
    return model(**objective.inputs(batch), deterministic=deterministic)[0]


def make_train_step(graphdef, tx: optax.GradientTransformation, objective, seed: int, *, accumulate: int = 1, params_shardings=None) -> Callable:
    """train_step(state, rest, batch) -> (state, metrics): one optimizer update on a global batch.

    With `accumulate` > 1 the batch is cut into that many micro-batches whose gradients are
    summed; each micro-batch's loss divides by the whole batch's target counts, so the update
    equals the one of a single big batch (up to float rounding) with 1/accumulate of the activations.
    """

    def grad_fn(params: nnx.State, rest: nnx.State, batch, counts: dict, key: jax.Array):
        """((loss, per-target sums), grads) of one (micro-)batch; the loss divides by `counts`."""
        # Fresh Variables at this trace level (inside a scan too): nnx refuses to mutate ones from an outer trace.
        model = nnx.merge(graphdef, *jax.tree.map(lambda x: x, (params, rest)))
        nnx.reseed(model, dropout=key)

        def loss_fn(model):
            outputs = forward(objective, model, batch, key, deterministic=False)
            per_target = objective.sums(outputs, batch)
            return objective.loss(per_target, counts), per_target

        return nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, nnx.Param), has_aux=True)(model)

    def train_step(state: TrainState, rest: nnx.State, batch):
        # Dropout masks come from (seed, step) alone, so a resumed run replays them exactly.
        key = jax.random.fold_in(jax.random.key(seed), state.step)
        counts = objective.counts(batch)  # of the whole batch; they do not depend on the parameters
        if accumulate == 1:
            (loss, per_target), grads = grad_fn(state.params, rest, batch, counts, key)
        else:
            (loss, per_target), grads = _accumulated(grad_fn, state.params, rest, batch, counts, key, accumulate, params_shardings)
        updates, opt = tx.update(grads, state.opt, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads), **objective.step_metrics(per_target, counts)}
        return TrainState(state.step + 1, params, opt), metrics

    return train_step


def micro_batches(x_B: jax.Array, accumulate: int) -> jax.Array:
    """[B, ...] -> [accumulate, B / accumulate, ...]; micro-batch a takes rows a, a + accumulate, ...

    Interleaving keeps every micro-batch spread over all devices: each device's block of rows
    holds rows of every micro-batch, so the split moves no data between devices.
    """
    B = x_B.shape[0]
    if B % accumulate:
        raise ValueError(f"a batch of {B} rows cannot be split into {accumulate} micro-batches")
    x_AM = jnp.swapaxes(x_B.reshape(B // accumulate, accumulate, *x_B.shape[1:]), 0, 1)
    return constrain(x_AM, (None, "batch") + (None,) * (x_B.ndim - 1))


def _accumulated(grad_fn, params, rest, batch, counts, key, accumulate: int, params_shardings):
    """((loss, per-target sums), grads) summed over micro-batches with a scan (one micro-batch's activations live at a time)."""
    micro = jax.tree.map(lambda x: micro_batches(x, accumulate), batch)
    first = jax.tree.map(lambda x: x[0], micro)
    sums, zero_grads = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(grad_fn, params, rest, first, counts, key))

    def like_params(grads):
        # The running sum stays sharded like the parameters (with FSDP, never a whole copy per device).
        return grads if params_shardings is None else jax.lax.with_sharding_constraint(grads, params_shardings)

    def add(total, i_and_batch):
        i, micro_batch = i_and_batch
        (loss, per_target), grads = grad_fn(params, rest, micro_batch, counts, jax.random.fold_in(key, i))
        return jax.tree.map(jnp.add, total, ((loss, per_target), like_params(grads))), None

    total, _ = jax.lax.scan(add, (sums, like_params(zero_grads)), (jnp.arange(accumulate), micro))
    return total


def make_eval_step(graphdef, objective) -> Callable:
    """eval_step(params, rest, batch) -> what the objective adds up over evaluation batches on the host."""

    def eval_step(params: nnx.State, rest: nnx.State, batch):
        model = nnx.merge(graphdef, params, rest)
        outputs = forward(objective, model, batch, None, deterministic=True)
        return objective.eval_outputs(outputs, batch)

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
