"""`seqjax search`: the [search] section's checks, and a real study that is killed, re-run and continued,
prunes, shares preprocessing, writes a best.toml that runs, and opens in optuna-dashboard and `seqjax report`."""

import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import wsgiref.util

import optuna
import pytest
from tiny import ROOT, write_experiment

from seqjax import report
from seqjax import search as searching
from seqjax.search import trial as trials
from seqjax.spec import SpecError, load_spec
from seqjax.train.metrics import read

SEARCH = """
[search]
trials = 4
sampler = "grid"
pruner = { kind = "median", startup_trials = 1, warmup_evaluations = 0 }

[search.space]
data.stride = { kind = "choice", values = [2, 4] }
"train.eval_batches" = { kind = "int", low = 1, high = 2 }
"""


def seqjax(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "seqjax.cli", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def states(root: pathlib.Path) -> dict[int, str]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{root / 'study.db'}")
    return {t.number: t.state.name for t in study.trials}


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 4-trial study killed during its second trial and run again; returns (spec, root, outputs, killed trial)."""
    folder = tmp_path_factory.mktemp("search")
    spec = write_experiment(folder, steps=12, every=3, eval_every=3)
    spec.write_text(spec.read_text() + SEARCH)
    root = folder / "run"
    first = seqjax("search", str(spec), "--no-progress")
    deadline = time.time() + 240
    while time.time() < deadline and not (root / "trials" / "1" / "checkpoints" / "3").exists():
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL, "the search finished before it could be killed"
    before = states(root)
    running = [n for n, s in before.items() if s == "RUNNING"]
    assert running == [1], before
    finished = {n: (root / "trials" / str(n) / "metrics.jsonl").read_bytes() for n, s in before.items() if s != "RUNNING"}
    second = seqjax("search", str(spec), "--no-progress")
    output = second.communicate(timeout=400)[0]
    assert second.returncode == 0, output
    return spec, root, output, finished


def test_killed_search_continues_without_repeating_trials(searched):
    spec, root, output, finished = searched
    after = states(root)
    assert sorted(after) == [0, 1, 2, 3] and set(after.values()) <= {"COMPLETE", "PRUNED"}, after
    assert "trial 1: resuming" in output
    assert "resuming from the checkpoint at step" in (root / "trials" / "1" / "console.log").read_text()
    for n, metrics in finished.items():  # finished trials were not trained again
        assert (root / "trials" / str(n) / "metrics.jsonl").read_bytes() == metrics
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{root / 'study.db'}")
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4  # the grid, each point once
    assert "best: trial" in output and f"best spec: {root / 'best.toml'}" in output
    assert f"study: sqlite:///{root / 'study.db'}" in output
    # the table of trials lists every trial with its state and values
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["trial", "state", "loss"])
    assert lines[header].split()[3:] == ["step", "seconds", "data.stride", "train.eval_batches"]
    assert [line.split()[0] for line in lines[header + 1 : header + 5]] == ["0", "1", "2", "3"]


def test_pruned_trials_stop_at_the_evaluation_that_pruned_them(searched):
    _, root, _, _ = searched
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{root / 'study.db'}")
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    for t in pruned:
        evaluations = [r["step"] for r in read(root / "trials" / str(t.number) / "metrics.jsonl") if r["split"] == "valid"]
        assert evaluations[-1] == t.user_attrs["pruned_at"] == t.last_step < 12
        assert sorted(t.intermediate_values) == evaluations  # every evaluation fed the pruner
    for t in study.trials:
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert sorted(t.intermediate_values) == [3, 6, 9, 12]


def test_each_trial_is_a_run_with_its_own_data_and_tensorboard_files(searched):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, root, _, _ = searched
    for n in range(4):
        run = root / "trials" / str(n)
        assert (run / "spec.json").exists() and (run / "checkpoints").is_dir()
        assert not (run / "data").is_symlink()  # data.stride is searched: each trial preprocessed its own
        events = EventAccumulator(str(run / "tensorboard" / "valid"))
        events.Reload()
        assert [e.step for e in events.Scalars("loss")] == [r["step"] for r in read(run / "metrics.jsonl") if r["split"] == "valid"]


def test_best_toml_is_a_complete_spec_that_runs(searched):
    spec, root, _, _ = searched
    best = load_spec(root / "best.toml")
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{root / 'study.db'}")
    assert best.workdir == str(root / "trials" / str(study.best_trial.number))
    assert best.data.stride == study.best_trial.params["data.stride"] and not best.search.space
    assert "[search]" not in (root / "best.toml").read_text()
    result = subprocess.run([sys.executable, "-m", "seqjax.cli", "run", str(root / "best.toml"), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resuming from the checkpoint at step" in result.stdout and "predictions:" in result.stdout


def test_a_finished_study_runs_nothing_more(searched):
    spec, root, _, _ = searched
    result = searching.search(load_spec(spec), progress_bar=False)
    assert result.ran == 0 and len(result.records) == 4
    assert result.best["trial"] == optuna.load_study(study_name="tiny", storage=f"sqlite:///{root / 'study.db'}").best_trial.number


def test_the_study_opens_in_optuna_dashboard(searched):
    import optuna_dashboard

    _, root, _, _ = searched
    app = optuna_dashboard.wsgi(f"sqlite:///{root / 'study.db'}")

    def get(path: str) -> dict:
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
        wsgiref.util.setup_testing_defaults(environ)
        status = []
        body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
        assert status[0].startswith("200"), status
        return json.loads(body)

    summaries = get("/api/studies")["study_summaries"]
    assert [s["study_name"] for s in summaries] == ["tiny"]
    study = get(f"/api/studies/{summaries[0]['study_id']}")
    assert [t["number"] for t in study["trials"]] == [0, 1, 2, 3]
    assert {t["state"] for t in study["trials"]} <= {"Complete", "Pruned"}


def test_report_of_the_search_folder(searched):
    """The page and PNGs of the study's views (test_report.py opens such a page in a browser)."""
    _, root, _, _ = searched
    page = report.report([str(root)])["report"]
    text = page.read_text()
    for name in ("history", "importances", "parallel", "intermediate", "loss", "target-event"):
        assert (root / "report" / f"{name}.png").stat().st_size > 5000, name
        assert f'id="{name}"' in text, name


def test_shared_preprocessing_runs_once(tmp_path):
    spec_path = write_experiment(tmp_path, steps=12, every=3, eval_every=3)
    spec_path.write_text(spec_path.read_text() + SEARCH.replace("trials = 4", "trials = 1").replace('data.stride = { kind = "choice", values = [2, 4] }', ""))
    spec = load_spec(spec_path)
    assert trials.shares_data(spec)
    result = searching.search(spec, progress_bar=False)
    assert result.ran == 1
    for n in range(1):
        link = tmp_path / "run" / "trials" / str(n) / "data"
        assert link.is_symlink() and link.resolve() == (tmp_path / "run" / "data").resolve()


@pytest.mark.parametrize(
    "override, message",
    [
        ('search.space={"model.dimm"={kind="int", low=8, high=16}}', "search.space.\"model.dimm\": [model] has no field 'dimm'; did you mean 'dim'?"),
        ('search.space={"model.dim"={kind="float", low=8, high=16}}', "search.space.\"model.dim\".kind = 'float': model.dim is an integer; use kind = 'int'"),
        ('search.space={"model.position"={kind="choice", values=["rope", "rop"]}}', "search.space.\"model.position\".values[1]: model.position = 'rop': must be one of"),
        ('search.space={"model.dropout"={kind="float", low=0.0, high=1.5}}', 'search.space."model.dropout": model.dropout = 1.5: must be in [0, 1)'),
        ('search.space={"train.optimizer.lr"={kind="float", low=0.0, high=0.1, log=true}}', 'search.space."train.optimizer.lr".low = 0.0: must be positive with log = true'),
        ('search.space={"workdir"={kind="choice", values=["a"]}}', 'search.space."workdir": cannot be searched'),
        ('search.space={"model.dim"={kind="range"}}', "search.space.model.dim.kind = 'range': must be one of 'float', 'int', 'choice'"),
        ('search={sampler="grid", space={"train.optimizer.lr"={kind="float", low=0.001, high=0.01}}}', "the grid sampler needs a step"),
        ("search.metric='targets.amount.accuracy'", "search.metric = 'targets.amount.accuracy': accuracy needs a categorical target"),
        ("search.metric='acc'", "search.metric = 'acc': must be 'loss' or"),
        ("search.sampler='bayes'", "search.sampler = 'bayes': must be one of 'tpe', 'random', 'grid', 'cmaes'"),
    ],
)
def test_bad_search_sections_fail_at_load_naming_the_key(tmp_path, override, message):
    spec = write_experiment(tmp_path)
    with pytest.raises(SpecError) as error:
        load_spec(spec, [override])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_values_valid_only_together_are_accepted(tmp_path):
    """model.heads = 3 fails with dim 16 alone, but dim is searched too (48 takes 3 heads)."""
    spec = write_experiment(tmp_path)
    space = 'search.space={"model.heads"={kind="choice", values=[2, 3]}, "model.dim"={kind="choice", values=[16, 48]}}'
    assert set(load_spec(spec, [space]).search.space) == {"model.heads", "model.dim"}


def test_empty_space_and_empty_validation_are_one_line_errors(tmp_path):
    spec = write_experiment(tmp_path)
    result = subprocess.run([sys.executable, "-m", "seqjax.cli", "search", str(spec)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("seqjax: error: search.space is empty") and len(result.stderr.splitlines()) == 1
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    overrides = ["--set", 'search.space={"train.eval_batches"={kind="int", low=1, high=2}}', "--set", "data.split={fractions=[1.0, 0.0, 0.0]}"]
    result = subprocess.run([sys.executable, "-m", "seqjax.cli", "search", str(spec), *overrides], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 2, result.stderr
    assert "the validation split has no windows" in result.stderr and len(result.stderr.splitlines()) == 1


def test_two_processes_share_one_study(tmp_path):
    """Two searches started together on one spec (journal storage) split its trials; none runs twice."""
    spec = write_experiment(tmp_path, steps=12, every=3, eval_every=3)
    spec.write_text(spec.read_text() + SEARCH.replace('sampler = "grid"', 'sampler = "grid"\nstorage = "journal"').replace("trials = 4", "trials = 2"))
    processes = [seqjax("search", str(spec), "--no-progress") for _ in range(2)]
    outputs = [p.communicate(timeout=400)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    ran = [{int(line.split()[1].rstrip(":")) for line in out.splitlines() if line.startswith("trial ") and ": training in " in line} for out in outputs]
    assert not ran[0] & ran[1] and ran[0] | ran[1] == {0, 1}
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "run" / "study.journal")))
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert sorted(t.number for t in study.trials) == [0, 1] and all(t.state.is_finished() for t in study.trials)
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 2
