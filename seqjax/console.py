"""What commands tell the user: plain lines (the default), JSON lines for pipelines, or only warnings and errors.

    text    lines as written; progress bars on stderr
    json    one JSON object per line on stdout ({"event": ..., "message": ..., more fields}); errors and
            warnings as JSON objects on stderr; no progress bars
    quiet   nothing on stdout and no progress bars; warnings and errors still go to stderr

Lines that modules print themselves become `{"event": "log", "message": line}` in json mode and vanish
in quiet mode, so every module keeps using print() and only the command line chooses the format.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any, Iterator, TextIO

MODES = ("text", "json", "quiet")
_mode = "text"
_out: TextIO | None = None


class _JsonLines(io.TextIOBase):
    """A stdout stand-in that turns each printed line into a JSON object on the real stdout."""

    def __init__(self, target: TextIO):
        self.target, self.pending = target, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.strip():
                _emit(self.target, {"event": "log", "message": line})
        return len(text)

    def flush(self) -> None:
        self.target.flush()


class _Discard(io.TextIOBase):
    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def configured(mode: str) -> Iterator[None]:
    """Run a command in `mode` (one of MODES): stdout is wrapped for json and discarded for quiet."""
    global _mode, _out
    previous = _mode, _out, sys.stdout
    _mode, _out = mode, sys.stdout
    if mode != "text":
        sys.stdout = _JsonLines(_out) if mode == "json" else _Discard()
    try:
        yield
    finally:
        sys.stdout.flush()
        _mode, _out, sys.stdout = previous


def mode() -> str:
    return _mode


def progress(enabled: bool = True) -> bool:
    """Whether to draw progress bars: asked for, and in text mode."""
    return enabled and _mode == "text"


def _emit(stream: TextIO, record: dict) -> None:
    stream.write(json.dumps(record, default=str) + "\n")
    stream.flush()


def say(message: str, *, event: str = "info", **fields: Any) -> None:
    """One message for the user; `fields` are the figures and paths it states, for the JSON form."""
    if _mode == "quiet":
        return
    if _mode == "json":
        _emit(_out or sys.stdout, {"event": event, "message": message, **fields})
    else:
        print(message, file=_out or sys.stdout, flush=True)


def outputs(**paths: Any) -> None:
    """Where a command's results went, one `name: path` line each."""
    for name, path in paths.items():
        say(f"{name.replace('_', ' ')}: {path}", event="output", name=name, path=str(path))


def warn(message: str) -> None:
    if _mode == "json":
        _emit(sys.stderr, {"event": "warning", "message": message})
    else:
        print(f"seqjax: warning: {message}", file=sys.stderr)


def error(message: str, code: int) -> None:
    if _mode == "json":
        _emit(sys.stderr, {"event": "error", "message": message, "exit_code": code})
    else:
        print(f"seqjax: error: {message}", file=sys.stderr)


def interrupted() -> None:
    if _mode == "json":
        _emit(sys.stderr, {"event": "interrupted", "exit_code": 130})
    else:
        print("seqjax: interrupted", file=sys.stderr)
