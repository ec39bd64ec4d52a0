"""How many devices a CPU-only host gives JAX, decided before JAX starts.

XLA's CPU backend makes one device whose matmuls split over every core. The models seqjax
trains on a CPU are small, so those matmuls are memory-bound and the threads spend much of a
step joining; on a host of a few cores, one single-threaded device per core in a data-parallel
mesh runs the same step faster (benchmarks/RESULTS.md, "CPU devices"). So the `seqjax` command,
on a host without accelerators, makes one device per core when there are 2 to 4 cores and the
batch splits evenly over them. `mesh.cpu_devices` (or SEQJAX_CPU_DEVICES, which wins) sets the
count instead: 1 keeps XLA's single device, N > 1 makes N single-threaded ones.

Left alone: XLA_FLAGS that already set a device count, JAX_PLATFORMS naming anything but cpu,
an installed accelerator plugin (CUDA, ROCm, TPU), a job of several processes, and a mesh
whose sizes are all fixed. Called before the first JAX computation (it only sets flags).
"""

from __future__ import annotations

import importlib.metadata
import os

from seqjax.spec import SpecError

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
SINGLE_THREADED = "--xla_cpu_multi_thread_eigen=false"
AUTO_CORES = (2, 4)
"""Hosts of this many cores (inclusive) get one device per core by default; others keep one device."""
ACCELERATOR_PACKAGES = ("jax-cuda12-plugin", "jax-cuda13-plugin", "jax-rocm60-plugin", "jax-rocm7-plugin", "libtpu", "libtpu-nightly")


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def accelerator_installed() -> bool:
    for name in ACCELERATOR_PACKAGES:
        try:
            importlib.metadata.version(name)
            return True
        except importlib.metadata.PackageNotFoundError:
            continue
    return False


def requested(setting: int, environ=os.environ) -> int:
    """The count asked for: SEQJAX_CPU_DEVICES if set, else the spec's `mesh.cpu_devices` (0: automatic)."""
    value = environ.get("SEQJAX_CPU_DEVICES", "").strip()
    if not value:
        return setting
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise SpecError(f"environment variable SEQJAX_CPU_DEVICES = {value!r}: must be 0 (automatic), 1 (one device) or a device count")
    return count


def device_count(setting: int, batch_size: int, mesh_fixed: bool, *, host_cores: int, environ=os.environ, multi_process: bool = False) -> int | None:
    """The CPU devices to make, or None to leave JAX's defaults alone."""
    flags = environ.get("XLA_FLAGS", "")
    platforms = environ.get("JAX_PLATFORMS", "").strip().lower()
    if DEVICE_COUNT_FLAG in flags or (platforms and platforms != "cpu") or multi_process:
        return None
    count = requested(setting, environ)
    if count == 0:
        if mesh_fixed or accelerator_installed() or not AUTO_CORES[0] <= host_cores <= AUTO_CORES[1] or batch_size % host_cores:
            return None
        count = host_cores
    return count if count > 1 else None


def configure(setting: int, batch_size: int, mesh_fixed: bool, *, multi_process: bool = False, environ=os.environ) -> int | None:
    """Set XLA_FLAGS for the chosen count (one single-threaded device each, when there are no more devices than
    cores); returns the count, or None when nothing was changed."""
    host_cores = cores()
    count = device_count(setting, batch_size, mesh_fixed, host_cores=host_cores, environ=environ, multi_process=multi_process)
    if count is None:
        return None
    flags = [environ.get("XLA_FLAGS", "").strip(), f"{DEVICE_COUNT_FLAG}={count}"]
    if count >= host_cores and "xla_cpu_multi_thread_eigen" not in flags[0]:
        flags.append(SINGLE_THREADED)
    environ["XLA_FLAGS"] = " ".join(f for f in flags if f)
    return count
