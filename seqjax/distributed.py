"""Joining a multi-process job (several hosts, or several processes on one host) before any JAX work.

Every process runs the same command on the same spec. `initialize` decides from the spec's
`[distributed]` table and the environment whether the job has several processes, and if so
starts JAX's distributed runtime; afterwards `jax.devices()` lists the devices of all processes
and one mesh spans them. Where the job's processes come from:

- explicit: `distributed.coordinator_address` / `num_processes` / `process_id`, or the variables
  JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID (spec values win);
- SLURM (`srun`, SLURM_NTASKS > 1), Open MPI (`mpirun`, OMPI_COMM_WORLD_SIZE > 1) and Cloud TPU
  VMs: JAX reads the job's layout itself (`jax.distributed.initialize()` with no arguments).

One process (none of the above) needs nothing and nothing is started.

Steps that write shared files (preprocess, export) run in process 0 alone while the others wait
(`lead_only`); the workdir must be on a filesystem that every process sees.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import os
import sys
from typing import Callable, TypeVar

from seqjax.errors import RunError
from seqjax.spec import DistributedSpec, SpecError

_joined: "Job | None" = None
_lead_calls = itertools.count()
_DONE = "done"
_WAIT_MS = 24 * 3600 * 1000
"""How long the other processes wait for process 0 to finish a step; past it they fail."""

T = TypeVar("T")


class LeadError(RunError):
    """Process 0 failed a step that the other processes of the job were waiting for."""


@dataclasses.dataclass(frozen=True)
class Job:
    """How this process was started: `explicit`, `slurm`, `openmpi`, `tpu` or `single`."""

    launcher: str
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    @property
    def multi_process(self) -> bool:
        return self.launcher != "single"


def _int_env(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise SpecError(f"environment variable {name} = {value!r}: must be an integer") from None


def _on_cloud_tpu() -> bool:
    """A Cloud TPU VM (JAX's own check when it is imported) or a GKE TPU pod (its worker variables)."""
    if os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return True
    if importlib.util.find_spec("libtpu") is None:  # JAX's check needs libtpu; without it, importing jax is not worth it
        return False
    from jax._src import (
        cloud_tpu_init,  # set when jax is imported; importing starts no computation
    )

    return bool(getattr(cloud_tpu_init, "running_in_cloud_tpu_vm", False))


def detect(spec: DistributedSpec = DistributedSpec()) -> Job:
    """The job this process belongs to, from the spec and the environment; starts nothing."""
    address = spec.coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS", "").strip() or None
    count = spec.num_processes or _int_env("JAX_NUM_PROCESSES")
    index = spec.process_id if spec.process_id >= 0 else _int_env("JAX_PROCESS_ID")
    if count is not None and count < 1:
        raise SpecError(f"distributed.num_processes (or JAX_NUM_PROCESSES) = {count}: must be at least 1")
    if count is not None and index is not None and not 0 <= index < count:
        raise SpecError(f"distributed.process_id (or JAX_PROCESS_ID) = {index}: must be in [0, {count}) for {count} processes")
    if count == 1:
        return Job("single")
    if address is not None or count is not None:
        # Values left out (e.g. the process id under srun) are filled in by JAX's cluster detection.
        return Job("explicit", address, count, index)
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID", "SLURM_LOCALID")
    if (_int_env("SLURM_NTASKS") or 1) > 1 and all(name in os.environ for name in slurm):
        return Job("slurm")
    if (_int_env("OMPI_COMM_WORLD_SIZE") or 1) > 1:
        return Job("openmpi")
    if _on_cloud_tpu():
        return Job("tpu")
    return Job("single")


def initialize(spec: DistributedSpec = DistributedSpec()) -> Job:
    """Start JAX's distributed runtime when this process is one of several; call before any JAX computation.

    Idempotent: later calls return the job found by the first one.
    """
    global _joined
    if _joined is not None:
        return _joined
    job = detect(spec)
    if job.multi_process:
        import jax

        if not jax.distributed.is_initialized():
            if spec.cpu_collectives != "none":
                # Collectives between processes for CPU devices (tests, CPU clusters); accelerators use their own.
                jax.config.update("jax_cpu_collectives_implementation", spec.cpu_collectives)
            try:
                jax.distributed.initialize(job.coordinator_address, job.num_processes, job.process_id)
            except RuntimeError as error:
                if "before any JAX" in str(error):
                    raise RuntimeError("seqjax.distributed.initialize() must run before any JAX computation in this process") from error
                raise
            except ValueError as error:
                if job.launcher != "tpu":
                    raise
                # A TPU VM whose metadata names no workers: a single-host TPU, which needs no runtime.
                print(f"seqjax: running as one process on this TPU VM ({error})", file=sys.stderr)
                job = Job("single")
    _joined = job
    return job


def is_lead() -> bool:
    """Whether this is process 0 of its job (or a process alone): the one that writes and reports."""
    return "jax" not in sys.modules or sys.modules["jax"].process_index() == 0


def lead_only(step: str, work: Callable[[], T]) -> T | None:
    """Run `work` in process 0 alone while the job's other processes wait; its result there, None elsewhere.

    An error in process 0 is raised there, and as a LeadError with its message in every other
    process, so none waits for a step that will not finish. (A process 0 that dies without raising
    ends the job through the distributed runtime's heartbeats.)
    """
    if "jax" not in sys.modules:  # nothing has started a JAX runtime, so this process is alone
        return work()
    import jax

    if jax.process_count() == 1:
        return work()
    from jax._src.distributed import global_state

    client = global_state.client  # the coordination service of jax.distributed: a key-value store all processes reach
    if client is None:  # a runtime started without jax.distributed: a device barrier (no error reaches the others)
        from jax.experimental import multihost_utils

        result = work() if jax.process_index() == 0 else None
        multihost_utils.sync_global_devices(f"seqjax-{step}")
        return result
    key = f"seqjax/{step}/{next(_lead_calls)}"  # every process takes the same steps in the same order
    if jax.process_index() == 0:
        try:
            result = work()
        except BaseException as error:
            client.key_value_set(key, f"{type(error).__name__}: {error}")
            raise
        client.key_value_set(key, _DONE)
        return result
    outcome = client.blocking_key_value_get(key, _WAIT_MS)
    if outcome != _DONE:
        raise LeadError(f"process 0 failed to {step}: {outcome}")
    return None
