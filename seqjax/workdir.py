"""Every path under a run's workdir, in one place.

    workdir/
      data/            shards, sequence tables, metadata.json (seqjax preprocess)
      checkpoints/     Orbax checkpoints (seqjax train)
      metrics.jsonl    training and validation metrics
      spec.json        the resolved spec (seqjax.load needs nothing else)
      export/          jax.export artifacts, weights, model.json
      predictions/     inference results
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import pathlib
from typing import Iterator

from seqjax.errors import UserError

_held: dict[pathlib.Path, int] = {}
"""Workdirs this process holds the lock of, with how many steps hold it (a `run` nests its steps)."""


class WorkdirBusy(UserError):
    """Another seqjax command is working in the same workdir."""


@dataclasses.dataclass(frozen=True)
class Workdir:
    root: pathlib.Path

    def __post_init__(self):
        object.__setattr__(self, "root", pathlib.Path(self.root))

    @property
    def data(self) -> pathlib.Path:
        return self.root / "data"

    @property
    def metadata_file(self) -> pathlib.Path:
        return self.data / "metadata.json"

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.root / "checkpoints"

    @property
    def metrics(self) -> pathlib.Path:
        return self.root / "metrics.jsonl"

    @property
    def spec_file(self) -> pathlib.Path:
        return self.root / "spec.json"

    @property
    def export(self) -> pathlib.Path:
        return self.root / "export"

    @property
    def predictions(self) -> pathlib.Path:
        return self.root / "predictions"

    @property
    def lock_file(self) -> pathlib.Path:
        return self.root / ".lock"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the workdir for one command: a second command on the same workdir fails at once, naming the first.

        The lock is an flock on `workdir/.lock`, released when the process ends, however it ends.
        """
        key = self.root.resolve()
        if key in _held:
            _held[key] += 1
            try:
                yield
            finally:
                _held[key] -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WorkdirBusy(f"{self.root}: another seqjax command (process {holder}) is working in this workdir; wait for it to finish or use another workdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.close(fd)  # releases the flock

    def metadata(self):
        """The preprocessed data's Metadata; missing, damaged or other-version data is a MetadataError saying what to run."""
        from seqjax.data.metadata import Metadata

        return Metadata.read(self.data)
