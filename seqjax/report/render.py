"""Panels drawn twice from the same lines: plotly figures for the HTML page, matplotlib PNGs beside it."""

from __future__ import annotations

import pathlib

from seqjax.report.curves import Line, Panel

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
DASH = {"train": "solid", "valid": "solid", "baseline": "dash"}
MPL_STYLE = {"solid": "-", "dash": "--"}


def _colour(line: Line) -> str:
    return COLOURS[line.run % len(COLOURS)]


def plotly_figure(panel: Panel):
    """An interactive figure: hover shows step and value, the legend toggles lines."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for line in panel.lines:
        figure.add_trace(
            go.Scatter(
                x=line.x, y=line.y, name=line.label, mode="lines+markers" if line.style == "valid" else "lines",
                line={"color": _colour(line), "dash": DASH[line.style], "width": 1.5 if line.style == "train" else 2},
                opacity=0.6 if line.style == "train" and any(o.style == "valid" for o in panel.lines) else 1.0,
            )
        )  # fmt: skip
    figure.update_layout(title=panel.title, xaxis_title="step", yaxis_title=panel.ylabel, template="plotly_white", height=380, margin={"t": 50, "b": 40})
    return figure


def write_png(panel: Panel, path: pathlib.Path) -> pathlib.Path:
    """The panel as a PNG, drawn with matplotlib's Agg canvas (no display, no global figure state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    faint = any(line.style == "valid" for line in panel.lines)
    for line in panel.lines:
        alpha = 0.6 if faint and line.style == "train" else 1.0
        marker = "o" if line.style == "valid" else None
        axes.plot(line.x, line.y, MPL_STYLE[DASH[line.style]], color=_colour(line), alpha=alpha, label=line.label, marker=marker, markersize=3)
    axes.set(title=panel.title, xlabel="step", ylabel=panel.ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.savefig(path)
    return path
