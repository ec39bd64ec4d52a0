"""Print a digest of a run's latest checkpointed parameters, to prove a refactor changed no number.

    python tools/params_digest.py runs/example            # one sha256 over every parameter, in path order
    python tools/params_digest.py runs/example --each     # and one line per parameter

Two runs of the same spec on CPU before and after a change must print the same digest; the second
line ignores parameter names, for a change that only moves modules.
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp


def parameters(run: pathlib.Path) -> dict[str, np.ndarray]:
    """The latest checkpoint's parameters as host arrays keyed by their "/"-joined path."""
    mngr = ocp.CheckpointManager((run / "checkpoints").absolute(), options=ocp.CheckpointManagerOptions(read_only=True))
    try:
        step = mngr.latest_step()
        if step is None:
            raise SystemExit(f"{run}: no checkpoint")
        state = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
    finally:
        mngr.close()
    flat = jax.tree_util.tree_flatten_with_path(state["params"])[0]
    return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): np.asarray(v) for path, v in flat}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=pathlib.Path, help="a run folder (the spec's workdir)")
    parser.add_argument("--each", action="store_true", help="also print one digest per parameter")
    args = parser.parse_args(argv)
    params = parameters(args.run)
    total, values = hashlib.sha256(), []
    for name in sorted(params):
        value = np.ascontiguousarray(params[name])
        digest = hashlib.sha256(value.tobytes()).hexdigest()
        total.update(name.encode() + b"\0" + digest.encode())
        values.append(digest)
        if args.each:
            print(f"{digest[:16]}  {name} {value.dtype} {list(value.shape)}")
    print(f"{total.hexdigest()}  {len(params)} parameters of {args.run}")
    # the same values under other names (a module moved): equal here, different above
    print(f"{hashlib.sha256(''.join(sorted(values)).encode()).hexdigest()}  values only, names ignored")


if __name__ == "__main__":
    main()
