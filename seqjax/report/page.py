"""The report page: one self-contained HTML file (plotly.js inlined, no network) with a section per figure."""

from __future__ import annotations

import html
from typing import Sequence

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.figure { border: 1px solid #ddd; border-radius: 4px; padding: 0.5rem; margin: 0.5rem 0 1.5rem; }
.note { color: #666; font-style: italic; }
table { border-collapse: collapse; font-size: 0.9rem; } td, th { padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; text-align: right; }
"""


def figure_html(figure, element_id: str) -> str:
    """A plotly figure as a div, drawn by the page's one inlined copy of plotly.js."""
    return figure.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=element_id, config={"displaylogo": False, "responsive": True})


def section(title: str, body: str, png: str | None = None) -> str:
    link = f' <a href="{html.escape(png)}">PNG</a>' if png else ""
    return f'<section><h2>{html.escape(title)}{link}</h2><div class="figure">{body}</div></section>'


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def document(title: str, intro: str, sections: Sequence[str]) -> str:
    from plotly.offline import get_plotlyjs

    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>\n'
        f"<body><h1>{html.escape(title)}</h1>{intro}\n" + "\n".join(sections) + "\n</body></html>\n"
    )
