"""Runs' metrics.jsonl -> panels of lines, independent of any plotting library.

One panel per quantity, each run's lines overlaid in the run's colour:
    loss              training and validation loss
    target-<name>     a target's training and validation loss, with its naive baseline dashed
    accuracy-<name>   a categorical target's validation accuracy, with its baseline
    lr, grad-norm, throughput
"""

from __future__ import annotations

import dataclasses
import pathlib

from seqjax.train.metrics import read


@dataclasses.dataclass(frozen=True)
class Line:
    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    run: int
    """Index of the run: its colour."""
    style: str = "train"
    """`train` (solid), `valid` (solid with markers) or `baseline` (dashed)."""


@dataclasses.dataclass(frozen=True)
class Panel:
    name: str
    """File stem of its PNG and id of its HTML element."""
    title: str
    ylabel: str
    lines: tuple[Line, ...]


@dataclasses.dataclass(frozen=True)
class Run:
    label: str
    folder: pathlib.Path
    records: tuple[dict, ...]

    @property
    def train(self) -> list[dict]:
        return [r for r in self.records if r.get("split") == "train"]

    @property
    def valid(self) -> list[dict]:
        return [r for r in self.records if r.get("split") == "valid"]

    @property
    def targets(self) -> list[str]:
        """Target names, from the evaluations (or the per-target training losses before the first one)."""
        if self.valid:
            return list(self.valid[-1]["targets"])
        return [k[: -len("_loss")] for k in self.train[-1] if k.endswith("_loss")] if self.train else []


def read_run(folder: pathlib.Path, label: str) -> Run:
    return Run(label, folder, tuple(read(folder / "metrics.jsonl")))


def _series(records: list[dict], get) -> tuple[tuple, tuple]:
    points = [(r["step"], get(r)) for r in records]
    points = [(x, y) for x, y in points if isinstance(y, (int, float))]
    return tuple(p[0] for p in points), tuple(float(p[1]) for p in points)


def _line(records: list[dict], get, label: str, run: int, style: str) -> list[Line]:
    x, y = _series(records, get)
    return [Line(label, x, y, run, style)] if x else []


def _target(targets: dict | None, name: str, key: str):
    return (targets or {}).get(name, {}).get(key)


def panels(runs: list[Run]) -> list[Panel]:
    """Every panel for these runs, in page order; a panel no run has data for is left out."""
    many = len(runs) > 1
    name = (lambda run, text: f"{run.label} {text}") if many else (lambda run, text: text)
    out = [_panel("loss", "Loss", "loss", [
        line for i, run in enumerate(runs)
        for line in _line(run.train, lambda r: r.get("loss"), name(run, "train"), i, "train") + _line(run.valid, lambda r: r.get("loss"), name(run, "valid"), i, "valid")
    ])]  # fmt: skip
    targets = list(dict.fromkeys(t for run in runs for t in run.targets))
    for t in targets:
        lines = []
        for i, run in enumerate(runs):
            lines += _line(run.train, lambda r: r.get(f"{t}_loss"), name(run, "train"), i, "train")
            lines += _line(run.valid, lambda r: _target(r.get("targets"), t, "loss"), name(run, "valid"), i, "valid")
            lines += _line(run.valid, lambda r: _target(r.get("targets"), t, "baseline_loss"), name(run, "naive baseline"), i, "baseline")
        out.append(_panel(f"target-{t}", f"{t}: loss", "loss", lines))
        lines = []
        for i, run in enumerate(runs):
            lines += _line(run.valid, lambda r: _target(r.get("targets"), t, "accuracy"), name(run, "valid"), i, "valid")
            lines += _line(run.valid, lambda r: _target(r.get("targets"), t, "baseline_accuracy"), name(run, "naive baseline"), i, "baseline")
        out.append(_panel(f"accuracy-{t}", f"{t}: validation accuracy", "accuracy", lines))
    for key, stem, title, unit in (("lr", "lr", "Learning rate", "learning rate"), ("grad_norm", "grad-norm", "Gradient norm", "global norm"), ("tokens_per_s", "throughput", "Throughput", "items per second")):
        lines = [line for i, run in enumerate(runs) for line in _line(run.train, lambda r: r.get(key), name(run, "train") if many else unit, i, "train")]
        out.append(_panel(stem, title, unit, lines))
    return [p for p in out if p.lines]


def _panel(name: str, title: str, ylabel: str, lines: list[Line]) -> Panel:
    return Panel(name, title, ylabel, tuple(lines))
