"""Named points where a test can kill seqjax at an exact moment, to prove that a kill there loses nothing.

`SEQJAX_KILL_AT=point` (or `point@n` for the n-th time it is reached) makes the process send itself
SIGKILL at that point; unset, a point costs one dictionary lookup. The points:

    preprocess.shard   a shard file was written, the data folder is not yet in place
    train.step         a training step was dispatched (its checkpoint not yet written)
    checkpoint.save    a checkpoint save was started and is being written in the background
    infer.part         a result file was written under its temporary name, not yet renamed
    export.artifact    an exported function was written into the temporary export folder
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def reached(point: str) -> None:
    """Kill this process here if SEQJAX_KILL_AT names `point` (and this is the n-th time)."""
    target = os.environ.get("SEQJAX_KILL_AT")
    if not target:
        return
    name, _, nth = target.partition("@")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
