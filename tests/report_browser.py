"""Open a report page in headless Chromium and count what plotly drew (shared by the report and search tests)."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium on PATH (Debian: apt-get install chromium); the page is not checked in a browser")


def rendered(page: pathlib.Path) -> str:
    """The page's DOM after its scripts ran, with every network request refused (the page must need none)."""
    command = [
        browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=20000", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def drawn(dom: str, element_id: str) -> str:
    """The rendered markup of one figure's element (empty when plotly did not draw it)."""
    start = dom.find(f'id="{element_id}"')
    if start < 0:
        return ""
    end = dom.find("</section>", start)
    return dom[start:end]


def traces(markup: str) -> int:
    """Plotted traces in a figure's SVG: scatter lines, bars, or parallel-coordinate axes."""
    return len(re.findall(r'class="(?:trace scatter|trace bars|point|scatterlayer|parcoords|y-axis)', markup))
