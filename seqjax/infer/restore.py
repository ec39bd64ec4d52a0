"""What inference needs from a run: its spec, its metadata and the best checkpoint's parameters."""

from __future__ import annotations

import dataclasses
import json
import pathlib

from seqjax import spec as spec_module
from seqjax.data.metadata import Metadata
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


def restore_params(spec: Spec, params_abstract, meta: Metadata):
    """(parameters laid out like `params_abstract`, their step): the best checkpoint's, or when it cannot be read
    the newest intact one's (with a warning); optimizer state is not read. The checkpoint must have been
    trained on `meta`'s data."""
    import orbax.checkpoint as ocp

    from seqjax.train import checkpoint, resume

    directory = spec.paths.checkpoints
    missing = InferenceError(f"{directory}: no checkpoint; run `seqjax train` (or `seqjax run`) first")
    if not directory.exists():
        raise missing
    mngr = checkpoint.manager(directory, read_only=True)
    target = {"params": params_abstract}
    args = ocp.args.PyTreeRestore(item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target), partial_restore=True)

    def load(step: int):
        resume.check_data(directory, checkpoint.read_progress(mngr, step), meta)
        try:
            return mngr.restore(step, args=ocp.args.Composite(state=args))["state"]["params"]
        except (ValueError, KeyError) as error:
            if "shape" in str(error).lower() or isinstance(error, KeyError):
                raise resume.CheckpointMismatch(f"{directory}: the checkpoint at step {step} does not fit the spec's model ({str(error).splitlines()[0]})") from None
            raise

    try:
        best = checkpoint.best_step(mngr)
        if best is None:
            raise missing
        steps = [best] + [s for s in sorted(mngr.all_steps(), reverse=True) if s != best]
        found = resume.newest_intact_in_order(steps, load, directory)
    finally:
        mngr.close()
    return found[1], found[0]
