"""Multi-process jobs: which launcher a process belongs to, and two processes on localhost
(2 CPU devices each, gloo collectives) preprocessing once and training exactly like one process with 4 devices."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from tiny import ROOT, write_experiment

from seqjax import distributed, experiment
from seqjax.spec import DistributedSpec, SpecError, load_spec
from seqjax.train.metrics import read

LAUNCH_VARIABLES = (
    "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_NTASKS", "SLURM_JOB_ID", "SLURM_STEP_NODELIST",
    "SLURM_PROCID", "SLURM_LOCALID", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES", "MEGASCALE_COORDINATOR_ADDRESS",
)


@pytest.fixture
def clean_env(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_one_process_needs_no_runtime(clean_env):
    assert distributed.detect() == distributed.Job("single")
    clean_env.setenv("JAX_NUM_PROCESSES", "1")
    clean_env.setenv("JAX_COORDINATOR_ADDRESS", "localhost:1234")
    assert not distributed.detect().multi_process


def test_explicit_job_from_environment_and_spec(clean_env):
    clean_env.setenv("JAX_COORDINATOR_ADDRESS", "node0:1234")
    clean_env.setenv("JAX_NUM_PROCESSES", "4")
    clean_env.setenv("JAX_PROCESS_ID", "3")
    assert distributed.detect() == distributed.Job("explicit", "node0:1234", 4, 3)
    spec = DistributedSpec(coordinator_address="head:9999", num_processes=2, process_id=0)
    assert distributed.detect(spec) == distributed.Job("explicit", "head:9999", 2, 0)  # the spec wins
    clean_env.setenv("JAX_PROCESS_ID", "4")
    with pytest.raises(SpecError, match=r"JAX_PROCESS_ID\) = 4: must be in \[0, 4\)"):
        distributed.detect()


def test_cluster_launchers_are_left_to_jax_auto_detection(clean_env):
    slurm = {"SLURM_NTASKS": "8", "SLURM_JOB_ID": "77", "SLURM_STEP_NODELIST": "gpu[01-02]", "SLURM_PROCID": "5", "SLURM_LOCALID": "1"}
    for name, value in slurm.items():
        clean_env.setenv(name, value)
    assert distributed.detect() == distributed.Job("slurm")
    clean_env.setenv("SLURM_NTASKS", "1")
    assert distributed.detect().launcher == "single"
    clean_env.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert distributed.detect() == distributed.Job("openmpi")
    clean_env.delenv("OMPI_COMM_WORLD_SIZE")
    clean_env.setenv("TPU_WORKER_HOSTNAMES", "t0,t1")
    assert distributed.detect() == distributed.Job("tpu")


WORKER = """
import sys
from seqjax import distributed, experiment
from seqjax.spec import load_spec

spec = load_spec(sys.argv[1], sys.argv[2:])
job = distributed.initialize(spec.distributed)
assert distributed.initialize(spec.distributed) is job  # idempotent
import jax

assert job.launcher == "explicit" and jax.process_count() == 2 and jax.device_count() == 4, (job, jax.device_count())
from seqjax.model import batch_sharding, local_rows, make_mesh

rows = local_rows(batch_sharding(make_mesh(spec.mesh)), spec.train.batch_size)  # each process loads its own half
assert rows == list(range(8 * jax.process_index(), 8 * jax.process_index() + 8)), rows
experiment.train(spec, progress_bar=False)
experiment.export(spec)  # parameters split over both processes; process 0 gathers and writes
"""


def final_params(run_dir, like=None):
    """The latest checkpoint's parameters on this process's first device; `like` gives the tree for
    checkpoints written by other processes (whose device ids this process does not have)."""
    mngr = ocp.CheckpointManager(run_dir / "checkpoints", options=ocp.CheckpointManagerOptions(read_only=True))
    one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = None if like is None else jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=one), like)
    state = mngr.restore(mngr.latest_step(), args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))["state"]
    mngr.close()
    return state


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_job(script: str, *args: str, processes: int = 2) -> list[subprocess.Popen]:
    """`processes` Pythons running `script` with `args` as one jax.distributed job on localhost, 2 CPU devices each."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    env.update(JAX_COORDINATOR_ADDRESS=f"localhost:{free_port()}", JAX_NUM_PROCESSES=str(processes))
    return [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env={**env, "JAX_PROCESS_ID": str(i)}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(processes)
    ]


def finish(workers: list[subprocess.Popen], timeout: float = 600) -> list[str]:
    """The workers' output once all have exited (killed after `timeout` seconds)."""
    try:
        return [w.communicate(timeout=timeout)[0] for w in workers]
    finally:
        for w in workers:
            w.kill()


PREPROCESS_WORKER = """
import sys
from seqjax import cli

print("exit", cli.main(["preprocess", sys.argv[1], "--set", sys.argv[2]]), flush=True)
print("exit", cli.main(["preprocess", sys.argv[1], "--set", sys.argv[2], "--set", "data.input='missing.parquet'"]), flush=True)
"""


def files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_process_zero_preprocesses_and_the_others_wait(tmp_path):
    path = write_experiment(tmp_path)
    workers = start_job(PREPROCESS_WORKER, str(path), "workdir='multi'")
    try:
        single = experiment.preprocess(load_spec(path))  # the reference, meanwhile in this process
    finally:
        outputs = finish(workers, timeout=300)
    assert [w.returncode for w in workers] == [0, 0], "\n".join(outputs)
    data = tmp_path / "multi" / "data"
    assert f"data: {data}\n" in outputs[0] and "data:" not in outputs[1]  # results are reported by process 0 alone
    assert sum("preprocess: wrote" in output for output in outputs) == 1  # written once, by process 0
    assert (data / "metadata.json").exists()
    written, reference = files(data), files(single)
    assert any(name.suffix == ".array_record" for name in written)
    assert written.keys() == reference.keys() and written == reference
    assert sorted(p.name for p in (tmp_path / "multi").iterdir()) == [".lock", "data"]  # no temporary folder left; the workdir's lock
    # a failure in process 0 is raised there and reported by the process that waited for it
    missing = tmp_path / "missing.parquet"
    assert f"seqjax: error: {missing}: no such file or folder\nexit 2\n" in outputs[0], outputs[0]
    assert f"seqjax: error: process 0 failed to preprocess: PreprocessError: {missing}: no such file or folder\nexit 1\n" in outputs[1], outputs[1]


def test_two_processes_train_like_one_process_with_all_devices(tmp_path):
    path = write_experiment(tmp_path, steps=4, every=2, eval_every=2, dropout=0.1)
    experiment.preprocess(load_spec(path))  # once, before the job: every process reads the same shards
    common = ["mesh={data=1, fsdp=2, tensor=2}", "train.log_every=1"]
    (tmp_path / "multi").mkdir()
    os.symlink(tmp_path / "run" / "data", tmp_path / "multi" / "data")
    workers = start_job(WORKER, str(path), "workdir='multi'", *common)
    try:
        one = load_spec(path, ["workdir='run'", *common])  # the reference, in this process on 4 of its devices
        experiment.train(one, progress_bar=False, devices=jax.devices()[:4])
        outputs = finish(workers)
    finally:
        for w in workers:
            w.kill()
    assert [w.returncode for w in workers] == [0, 0], "\n".join(outputs)
    multi, single = read(tmp_path / "multi" / "metrics.jsonl"), read(tmp_path / "run" / "metrics.jsonl")
    assert [(r["step"], r["split"]) for r in multi] == [(r["step"], r["split"]) for r in single]  # written once, by process 0
    assert len([r for r in multi if r["split"] == "train"]) == 4 and len([r for r in multi if r["split"] == "valid"]) == 2
    np.testing.assert_allclose([r["loss"] for r in multi], [r["loss"] for r in single], rtol=1e-5)
    single_state = final_params(tmp_path / "run")
    multi_state = final_params(tmp_path / "multi", like=single_state)
    pairs = list(zip(jax.tree.leaves(multi_state["params"]), jax.tree.leaves(single_state["params"])))
    assert len(pairs) > 10
    for a, b in pairs:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    experiment.export(load_spec(path, ["workdir='run'"]))
    assert sorted(p.name for p in (tmp_path / "multi").iterdir() if p.name.startswith(".")) == [".lock"]  # no temporary export folder; the workdir's lock
    multi_weights, single_weights = np.load(tmp_path / "multi" / "export" / "weights.npz"), np.load(tmp_path / "run" / "export" / "weights.npz")
    assert sorted(multi_weights) == sorted(single_weights)
    for name in single_weights:
        np.testing.assert_allclose(multi_weights[name], single_weights[name], rtol=1e-4, atol=1e-6, err_msg=name)
