"""Orbax checkpoints of {train state, data iterator, progress}, keeping the best and the latest N."""

from __future__ import annotations

import pathlib
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp

from seqjax.spec import CheckpointSpec

SCORE = "score"
"""The selected validation figure of a checkpoint, lower is better (seqjax.train.select.score)."""

# Replicas write disjoint slices of an array in parallel only where a slice is large: for small
# arrays the per-shape slicing programs cost more to compile than the parallel write saves.
ocp.type_handlers.register_type_handler(
    jax.Array, ocp.type_handlers.ArrayHandler(min_slice_bytes_for_replica_parallel=32 * 2**20), override=True
)


def manager(directory: pathlib.Path, spec: CheckpointSpec | None = None, *, read_only: bool = False) -> ocp.CheckpointManager:
    """Latest `keep` checkpoints plus the one with the best selected validation figure are preserved."""
    policies = [ocp.checkpoint_managers.BestN(get_metric_fn=lambda m: m[SCORE], reverse=True, n=1, keep_checkpoints_without_metrics=False)]
    if spec is not None:
        policies.append(ocp.checkpoint_managers.LatestN(spec.keep))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
        read_only=read_only,
        create=not read_only,
        cleanup_tmp_directories=not read_only,  # what a killed save left behind
    )
    return ocp.CheckpointManager(pathlib.Path(directory).absolute(), options=options)


def save(mngr: ocp.CheckpointManager, step: int, state: Any, iterator: Any, progress: dict, score: float | None) -> None:
    """Save asynchronously; arrays are copied off the devices before this returns."""
    import grain

    args = {"state": ocp.args.StandardSave(state), "progress": ocp.args.JsonSave(progress)}
    if iterator is not None:
        args["data"] = grain.checkpoint.CheckpointSave(iterator)
    metrics = {SCORE: score} if score is not None else None
    mngr.save(step, args=ocp.args.Composite(**args), metrics=metrics, force=True)


def abstract(tree: Any) -> Any:
    """Shapes, dtypes and shardings of a live tree: the target a restore lays arrays out on."""
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def restore(mngr: ocp.CheckpointManager, step: int, state_like: Any, iterator: Any = None) -> tuple[Any, dict]:
    """(state, progress) of `step`, laid out like `state_like`; restores `iterator` in place when given."""
    import grain

    args = {"state": ocp.args.StandardRestore(abstract(state_like)), "progress": ocp.args.JsonRestore()}
    if iterator is not None:
        args["data"] = grain.checkpoint.CheckpointRestore(iterator)
    restored = mngr.restore(step, args=ocp.args.Composite(**args))
    return restored["state"], restored["progress"]


def remove_unfinished(directory: pathlib.Path) -> None:
    """Delete the temporary folders of checkpoint saves that failed (Orbax would at its next start)."""
    for path in pathlib.Path(directory).glob("*orbax-checkpoint-tmp*"):
        shutil.rmtree(path, ignore_errors=True)


def read_progress(mngr: ocp.CheckpointManager, step: int) -> dict:
    return mngr.restore(step, args=ocp.args.Composite(progress=ocp.args.JsonRestore()))["progress"]


def best_step(mngr: ocp.CheckpointManager) -> int | None:
    """The checkpoint with the lowest validation loss, else the latest (as the newest readable progress records)."""
    steps = sorted(mngr.all_steps(), reverse=True)
    for step in steps:
        try:
            best = read_progress(mngr, step).get("best_step")
        except Exception:  # an unreadable checkpoint: the next older one says
            continue
        return best if best in steps else step
    return steps[0] if steps else None
