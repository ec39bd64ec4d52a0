"""`seqjax report`: the page renders in a real browser with no network, PNGs are real images, runs overlay,
and a search folder shows its study."""

import pathlib
import struct
import subprocess
import sys

import optuna
import pytest
from report_browser import drawn, rendered, traces
from tiny import ROOT

from seqjax import report
from seqjax.train.metrics import MetricsLog

TARGETS = {"event": True, "amount": False}


def fake_run(folder: pathlib.Path, scale: float = 1.0, steps: int = 6) -> pathlib.Path:
    """A run folder whose metrics.jsonl looks like training's: train lines every step, evaluations every 2."""
    log = MetricsLog(folder / "metrics.jsonl")
    folder.mkdir(parents=True, exist_ok=True)
    for step in range(1, steps + 1):
        losses = {f"{t}_loss": scale * (2.0 / step + 0.1) for t in TARGETS}
        log.write({"step": step, "split": "train", "lr": 0.001 * step, "tokens_per_s": 900.0 + step, "grad_norm": 1.0 / step, **losses, "loss": sum(losses.values())})
        if step % 2 == 0:
            targets = {t: {"loss": scale * 2.2 / step, "baseline_loss": 2.5, "targets": 10, **({"accuracy": 0.1 * step, "baseline_accuracy": 0.2} if cat else {})} for t, cat in TARGETS.items()}
            log.write({"step": step, "split": "valid", "loss": sum(v["loss"] for v in targets.values()), "targets": targets})
    log.close()
    return folder


def png_size(path: pathlib.Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_run_report_renders_every_panel_in_a_browser(tmp_path):
    run = fake_run(tmp_path / "run")
    paths = report.report([str(run)])
    page = paths["report"]
    assert page == run / "report" / "index.html"
    body = page.read_text().partition("</script>")[2]  # after the inlined plotly.js: the page's own markup
    assert "src=" not in body and "http" not in body.replace("http://www.w3.org", "")
    names = ["loss", "target-event", "accuracy-event", "target-amount", "lr", "grad-norm", "throughput"]
    for name in names:
        width, height = png_size(run / "report" / f"{name}.png")
        assert width > 300 and height > 200
    assert not (run / "report" / "accuracy-amount.png").exists()  # real targets have no accuracy
    dom = rendered(page)
    for name in names:
        markup = drawn(dom, name)
        assert 'class="main-svg"' in markup, f"{name} was not drawn"
        assert traces(markup) >= 1
    assert "naive baseline" in drawn(dom, "target-event")


def test_several_runs_overlay(tmp_path):
    a, b = fake_run(tmp_path / "a"), fake_run(tmp_path / "b", scale=0.5)
    out = tmp_path / "both"
    report.report([str(a), str(b)], str(out))
    dom = rendered(out / "index.html")
    loss = drawn(dom, "loss")
    assert "a train" in loss and "b valid" in loss
    # the page is replaced whole on the next report
    report.report([str(a)], str(out))
    assert "b valid" not in (out / "index.html").read_text()


def fake_search(folder: pathlib.Path) -> pathlib.Path:
    """A search folder as `seqjax search` leaves it: study.db with complete and pruned trials, and their runs."""
    folder.mkdir(parents=True)
    study = optuna.create_study(storage=f"sqlite:///{folder / 'study.db'}", study_name="fake", direction="minimize")
    study.set_user_attr("metric", "loss")
    for n, (lr, layers) in enumerate([(0.001, 1), (0.01, 2), (0.003, 1), (0.03, 2), (0.002, 2)]):
        trial = study.ask({"train.optimizer.lr": optuna.distributions.FloatDistribution(1e-4, 0.1, log=True), "model.layers": optuna.distributions.IntDistribution(1, 2)})
        trial.set_user_attr("workdir", str(folder / "trials" / str(n)))
        fake_run(folder / "trials" / str(n), scale=1 + n / 3)
        for step in (2, 4, 6):
            trial.report((1 + n / 3) * 2.2 / step, step)
        if n == 3:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            trial.set_user_attr("best_step", 6)
            study.tell(trial, (1 + n / 3) * 2.2 / 6 + lr)
    return folder


def test_search_report_shows_the_study(tmp_path):
    folder = fake_search(tmp_path / "search")
    page = report.report([str(folder)])["report"]
    for name in ("history", "importances", "parallel", "intermediate", "loss"):
        assert png_size(folder / "report" / f"{name}.png")[0] > 300, name
    dom = rendered(page)
    for name in ("history", "importances", "parallel", "intermediate", "loss"):
        markup = drawn(dom, name)
        assert 'class="main-svg"' in markup, f"{name} was not drawn"
        assert traces(markup) >= 1, name
    assert "pruned" in dom and "trial 0" in dom  # the trials table, and the best trial's curves


def test_bad_arguments_are_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    command = [sys.executable, "-m", "seqjax.cli", "report", str(tmp_path / "empty")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"seqjax: error: {tmp_path / 'empty'}: no metrics.jsonl nor study; pass a run folder, its spec, or a search's workdir"
    result = subprocess.run([*command[:-1], str(tmp_path / "nope")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "no such run folder or spec file" in result.stderr
    with pytest.raises(report.ReportError, match="is not a report folder"):
        report.report([str(fake_run(tmp_path / "run"))], str(tmp_path / "empty" / ".."))
