"""What each step's output depends on, as settings that can be compared key by key and digested.

Preprocessing records its settings (the data spec, the seed, the input files' identities) in
metadata.json; training records the run's settings (data fingerprint, model, objective, optimizer,
batch cutting) with every checkpoint. A later step compares the settings it would use with the
recorded ones and fails, naming what changed, instead of silently mixing the two.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any


def digest(settings: dict) -> str:
    """sha256 of the settings' canonical JSON."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def file_identities(files: list[pathlib.Path]) -> list[list]:
    """(absolute path, size, modification time) of each input file."""
    out = []
    for f in files:
        stat = f.stat()
        out.append([str(f.resolve()), stat.st_size, stat.st_mtime_ns])
    return out


def changes(recorded: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, as `key: recorded -> current` (nested tables compared key by key)."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(recorded) | set(current), key=str):
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if key not in recorded:
                out.append(f"{dotted}: (none) -> {_short(current[key])}")
            elif key not in current:
                out.append(f"{dotted}: {_short(recorded[key])} -> (none)")
            else:
                out.extend(changes(recorded[key], current[key], dotted))
        return out
    return [] if recorded == current else [f"{prefix or 'value'}: {_short(recorded)} -> {_short(current)}"]


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(recorded: Any, current: Any, most: int = 3) -> str:
    """The first few changes, joined for a one-line message."""
    found = changes(recorded, current)
    more = f" (and {len(found) - most} more)" if len(found) > most else ""
    return "; ".join(found[:most]) + more
