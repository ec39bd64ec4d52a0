"""The devices the `seqjax` command makes of a CPU-only host: chosen before JAX starts, overridable, and
training alike on them and on one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tiny import ROOT, train_losses, write_experiment

from seqjax import cpu
from seqjax.spec import MeshSpec, SpecError


def count(setting=0, batch=64, fixed=False, cores=2, **environ):
    return cpu.device_count(setting, batch, fixed, host_cores=cores, environ=environ)


def test_a_few_cores_get_one_device_each_when_the_batch_splits():
    assert count(cores=2) == 2 and count(cores=4) == 4
    assert count(cores=1) is None and count(cores=16) is None  # not measured there: XLA's one device
    assert count(batch=63) is None  # the batch would not split over the devices


def test_the_spec_and_the_environment_override_the_choice():
    assert count(setting=1) is None and count(setting=3, cores=16) == 3
    assert count(setting=3, SEQJAX_CPU_DEVICES="1") is None  # the environment wins
    assert count(SEQJAX_CPU_DEVICES="6", cores=16) == 6
    with pytest.raises(SpecError, match=r"SEQJAX_CPU_DEVICES = 'two': must be 0 \(automatic\), 1 \(one device\) or a device count"):
        count(SEQJAX_CPU_DEVICES="two")
    with pytest.raises(SpecError, match=r"mesh.cpu_devices = -2: must be 0 \(automatic\), 1 \(one device\) or a device count"):
        MeshSpec(cpu_devices=-2)


def test_hosts_and_meshes_it_leaves_alone():
    assert count(XLA_FLAGS="--xla_force_host_platform_device_count=8") is None
    assert count(JAX_PLATFORMS="cuda") is None and count(JAX_PLATFORMS="cpu") == 2
    assert count(fixed=True) is None and count(setting=2, fixed=True) == 2
    assert cpu.device_count(0, 64, False, host_cores=2, environ={}, multi_process=True) is None


def test_configure_sets_the_flags_once_and_keeps_the_users():
    environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    assert cpu.configure(2, 64, False, environ=environ) == 2
    flags = environ["XLA_FLAGS"].split()
    assert flags[0] == "--xla_dump_to=/tmp/x" and "--xla_force_host_platform_device_count=2" in flags
    assert ("--xla_cpu_multi_thread_eigen=false" in flags) == (2 >= cpu.cores())
    assert cpu.configure(2, 64, False, environ=environ) is None  # a count is set now: left alone


TRAIN = """
import json, sys
from seqjax import cli
from seqjax.spec import load_spec
cli.cpu_devices(load_spec(sys.argv[1]))
import jax
print(json.dumps({"devices": jax.device_count()}))
where = ["--set", f"workdir={sys.argv[2]!r}", "--no-progress"]
sys.exit(cli.main(["preprocess", sys.argv[1], *where]) or cli.main(["train", sys.argv[1], *where]))
"""


def train_with(spec, workdir: str, devices: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "SEQJAX_CPU_DEVICES")} | {"SEQJAX_CPU_DEVICES": devices}
    result = subprocess.run([sys.executable, "-c", TRAIN, str(spec), workdir], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[0])["devices"]


def test_the_automatic_setting_trains_like_one_device(tmp_path):
    spec = write_experiment(tmp_path, steps=6, every=6, eval_every=6, dropout=0.0)
    automatic = "0" if cpu.AUTO_CORES[0] <= cpu.cores() <= cpu.AUTO_CORES[1] else "2"  # elsewhere: as it would be on 2 cores
    assert train_with(spec, "auto", automatic) > 1
    assert train_with(spec, "one", "1") == 1
    auto, one = train_losses(tmp_path / "auto"), train_losses(tmp_path / "one")
    assert len(auto) == len(one) == 3  # logged every 2 steps
    np.testing.assert_allclose(auto, one, rtol=1e-5)  # the same global batch, summed over 2 devices instead of 1
