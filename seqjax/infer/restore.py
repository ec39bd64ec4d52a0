"""What inference needs from a run: its spec, its metadata and the best checkpoint's parameters."""

from __future__ import annotations

import dataclasses
import json
import pathlib

from seqjax import spec as spec_module
from seqjax.errors import RunError
from seqjax.files import write_json
from seqjax.spec import Spec, SpecError
from seqjax.workdir import Workdir


class InferenceError(RunError):
    """Inference cannot run (no data or checkpoint yet); the message names the path."""


def write_spec(spec: Spec) -> pathlib.Path:
    """Save the resolved spec as `workdir/spec.json` (atomically)."""
    path = spec.paths.spec_file
    write_json(spec_module.to_dict(spec), path)
    return path


def spec_of(path: str | pathlib.Path) -> Spec:
    """A spec from a TOML file, or from the `spec.json` in a run folder (its workdir becomes that folder)."""
    path = pathlib.Path(path)
    if not path.is_dir():
        return spec_module.load_spec(path)
    saved = Workdir(path).spec_file
    if not saved.exists():
        raise SpecError(f"{path}: not a run folder (no {saved.name}); pass the spec's TOML file instead")
    spec = spec_module.spec_from_dict(json.loads(saved.read_text()), str(saved))
    return dataclasses.replace(spec, workdir=str(path.resolve()))


def restore_params(spec: Spec, params_abstract):
    """(parameters of the best checkpoint laid out like `params_abstract`, its step); optimizer state is not read."""
    import orbax.checkpoint as ocp

    from seqjax.train import checkpoint
    directory = spec.paths.checkpoints
    missing = InferenceError(f"{directory}: no checkpoint; run `seqjax train` (or `seqjax run`) first")
    if not directory.exists():
        raise missing
    mngr = checkpoint.manager(directory, read_only=True)
    try:
        step = checkpoint.best_step(mngr)
        if step is None:
            raise missing
        target = {"params": params_abstract}
        args = ocp.args.PyTreeRestore(item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target), partial_restore=True)
        try:
            restored = mngr.restore(step, args=ocp.args.Composite(state=args))
        except (ValueError, KeyError) as error:
            raise InferenceError(f"{directory}: the checkpoint at step {step} does not fit the spec's model ({str(error).splitlines()[0]})") from None
    finally:
        mngr.close()
    return restored["state"]["params"], step
