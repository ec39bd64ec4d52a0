"""Training metrics: a JSON-lines log (resume-aware), mirrored as TensorBoard events, and console lines under a progress bar."""

from __future__ import annotations

import json
import pathlib
import time

from seqjax import files
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
        kept = [json.dumps(r) for r in _records(self.path.read_text()) if r.get("step", 0) <= step]
        files.write_text(self.path, "".join(line + "\n" for line in kept))
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


def _records(text: str) -> list[dict]:
    """The log's records; a line cut short by a kill (the last one) is skipped."""
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def read(path: pathlib.Path) -> list[dict]:
    path = pathlib.Path(path)
    return _records(path.read_text()) if path.exists() else []


def describe_eval(step: int, report: dict) -> str:
    """One console line: total loss, then loss/accuracy against the naive baseline per target."""
    parts = [f"step {step}: valid loss {report['loss']:.4f}"]
    for name, t in report["targets"].items():
        text = f"{name} loss {t['loss']:.4f} (baseline {t['baseline_loss']:.4f})"
        if "accuracy" in t:
            text += f" acc {t['accuracy']:.3f} (baseline {t['baseline_accuracy']:.3f})"
        parts.append(text)
    return " | ".join(parts)
