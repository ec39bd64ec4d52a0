"""`seqjax report RUN [RUN...]`: training curves of runs, overlaid, or a search's study, as one HTML page plus PNGs.

    <output>/index.html     self-contained (plotly.js inlined): opens with no network
    <output>/<figure>.png   each figure again, drawn by matplotlib

A RUN is a run folder (a workdir with metrics.jsonl), a spec's TOML file (its workdir), or a search's
workdir (its study.db or study.journal): then the page shows the study's views and the best trial's curves.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Sequence

from seqjax.errors import UserError


class ReportError(UserError):
    """A run that cannot be reported on, or plotting libraries not installed; the message says which."""


def _require_plotting() -> None:
    try:
        import matplotlib  # noqa: F401
        import plotly  # noqa: F401
    except ImportError as error:
        raise ReportError(f"seqjax report needs plotly and matplotlib ({error.name} is missing): pip install 'seqjax[report]'") from None


def resolve(argument: str) -> pathlib.Path:
    """The folder a RUN argument names: itself, or a TOML spec's workdir."""
    path = pathlib.Path(argument)
    if path.is_file() and path.suffix == ".toml":
        from seqjax.spec import load_spec

        return load_spec(path).workpath
    if not path.is_dir():
        raise ReportError(f"{argument}: no such run folder or spec file")
    return path.resolve()


def default_output(folders: Sequence[pathlib.Path]) -> pathlib.Path:
    return folders[0] / "report" if len(folders) == 1 else pathlib.Path("report").resolve()


def report(arguments: Sequence[str], output: str | None = None) -> dict[str, pathlib.Path]:
    """Write the page and PNGs; returns {"report": index.html, "figures": its folder}."""
    _require_plotting()
    from seqjax.report import build

    folders = [resolve(a) for a in arguments]
    target = pathlib.Path(output).resolve() if output else default_output(folders)
    if target.exists() and any(target.iterdir()) and not (target / "index.html").exists():
        raise ReportError(f"{target}: exists and is not a report folder; choose another --output")
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        build.write(folders, temporary)
        _replace(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return {"report": target / "index.html", "figures": target}


def _replace(temporary: pathlib.Path, target: pathlib.Path) -> None:
    """Swap the finished folder in, so a killed report never leaves a half-written page."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        temporary.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        temporary.rename(target)
