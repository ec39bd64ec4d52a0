"""Training metrics: a JSON-lines log (resume-aware), mirrored as TensorBoard events, and console lines under a progress bar."""

from __future__ import annotations

import json
import os
import pathlib
import time

from seqjax.train.tensorboard import FOLDER, EventLog


class MetricsLog:
    """Appends one JSON object per line, and the same as TensorBoard events beside it; only the first process writes."""

    def __init__(self, path: pathlib.Path, *, enabled: bool = True):
        self.path = pathlib.Path(path)
        self.enabled = enabled
        self.started = time.time()
        self.board: EventLog | None = None

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after `step`, the checkpoint a resumed run restarts from."""
        if not (self.enabled and self.path.exists()):
            return
        kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, self.path)
        self.close()
        self._events()

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        record = {**record, "time": round(time.time() - self.started, 3)}
        events = self._events()
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        events.add(record)

    def _events(self) -> EventLog:
        """The TensorBoard mirror, first rewritten from what the log already holds."""
        if self.board is None:
            self.board = EventLog(self.path.parent / FOLDER)
            self.board.rebuild(read(self.path))
        return self.board

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None


def read(path: pathlib.Path) -> list[dict]:
    path = pathlib.Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []


def describe_eval(step: int, report: dict) -> str:
    """One console line: total loss, then loss/accuracy against the naive baseline per target."""
    parts = [f"step {step}: valid loss {report['loss']:.4f}"]
    for name, t in report["targets"].items():
        text = f"{name} loss {t['loss']:.4f} (baseline {t['baseline_loss']:.4f})"
        if "accuracy" in t:
            text += f" acc {t['accuracy']:.3f} (baseline {t['baseline_accuracy']:.3f})"
        parts.append(text)
    return " | ".join(parts)
