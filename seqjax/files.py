"""Writing files so that nothing half-written or foreign is ever lost or left behind.

- Everything is written under a temporary name in the same folder (`.<name>.tmp-<pid>`) and renamed
  into place, so a killed run leaves no partial file under a final name.
- Temporary files and folders of runs that were killed (their process no longer exists) are
  removed by the next run that writes beside them.
- A folder seqjax writes (data/, export/, a folder of result parts) holds a marker file; seqjax
  replaces only folders that hold it, and refuses to replace anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
from typing import Iterator

from seqjax.errors import UserError

MARKER = ".seqjax"
"""File in every folder seqjax writes; its content says what the folder is."""
_LEFTOVER = re.compile(r"^\..+\.(tmp|old)-(\d+)$")


class ForeignPathError(UserError):
    """A path seqjax would replace holds something seqjax did not write."""


def temporary(path: pathlib.Path) -> pathlib.Path:
    """The temporary name `path` is written under before it is renamed into place."""
    path = pathlib.Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(folder: pathlib.Path) -> None:
    """Delete the temporary files and folders that killed runs left in `folder`."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        match = _LEFTOVER.match(entry.name)
        if match and int(match.group(2)) != os.getpid() and not _alive(int(match.group(2))):
            remove(entry)


def remove(path: pathlib.Path) -> None:
    """Delete a file or a folder, if there."""
    path = pathlib.Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic(path: pathlib.Path) -> Iterator[pathlib.Path]:
    """Yield a temporary path to write; on success it replaces `path`, on failure it is removed."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def write_text(path: pathlib.Path, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text)


def write_json(obj, path: pathlib.Path) -> None:
    write_text(path, json.dumps(obj, indent=1))


# ----------------------------------------------------------------------------- folders seqjax owns


_LEGACY = {"metadata.json": "fingerprint", "model.json": "format_version"}
"""Folders written before the marker existed: the file seqjax wrote there, and a key only seqjax writes in it."""


def owned(path: pathlib.Path) -> bool:
    """`path` is a folder seqjax wrote: it holds the marker (or, from older versions, seqjax's own metadata)."""
    path = pathlib.Path(path)
    if (path / MARKER).is_file():
        return True
    for name, key in _LEGACY.items():
        try:
            if key in json.loads((path / name).read_text()):
                return True
        except (OSError, ValueError, TypeError):
            continue
    return False


def check_replaceable(path: pathlib.Path, *, folder: bool = True) -> None:
    """Fail, naming the path, unless `path` is absent, an empty folder, or something seqjax wrote.

    With `folder` False, `path` is to become a file: an existing file may be replaced, a folder may not
    (unless it is a folder of result parts seqjax wrote there).
    """
    path = pathlib.Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        if owned(path) or not any(path.iterdir()):
            return
        raise ForeignPathError(
            f"{path}: is a folder that seqjax did not write (no {MARKER} file in it); seqjax replaces only what it wrote: "
            "move it away or choose another path"
        )
    if folder:
        raise ForeignPathError(f"{path}: is a file, where seqjax writes a folder; move it away or choose another path")


def new_folder(path: pathlib.Path, what: str) -> pathlib.Path:
    """A fresh temporary folder, marked as seqjax's (`what` it holds), to fill and then `publish` as `path`."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent)
    tmp = temporary(path)
    remove(tmp)
    tmp.mkdir()
    (tmp / MARKER).write_text(what + "\n")
    return tmp


def publish(tmp: pathlib.Path, path: pathlib.Path) -> None:
    """Swap a finished temporary folder in for `path`; the old one moves aside first, so a crash never mixes the two."""
    path = pathlib.Path(path)
    check_replaceable(path)
    if not os.path.lexists(path):
        os.replace(tmp, path)
        return
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    remove(old)
    os.replace(path, old)
    os.replace(tmp, path)
    remove(old)


@contextlib.contextmanager
def building(path: pathlib.Path, what: str) -> Iterator[pathlib.Path]:
    """Yield a temporary marked folder; on success it replaces `path`, on failure it is removed."""
    check_replaceable(path)
    tmp = new_folder(path, what)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        remove(tmp)
        raise
