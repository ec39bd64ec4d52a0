"""What goes on a report page: the study views of each search, then the curve panels of the runs."""

from __future__ import annotations

import html
import pathlib
from typing import Sequence

from seqjax.report import curves, page, render
from seqjax.report import study as studies


def labels(folders: Sequence[pathlib.Path]) -> list[str]:
    """Folder names, with their parent's name where two would read the same."""
    names = [f.name for f in folders]
    return [f"{f.parent.name}/{f.name}" if names.count(f.name) > 1 else f.name for f in folders]


def write(folders: Sequence[pathlib.Path], out: pathlib.Path) -> None:
    """index.html and one PNG per figure into `out`."""
    from seqjax.report import ReportError

    sections, runs, described = [], [], []
    for folder, label in zip(folders, labels(folders)):
        if studies.is_search(folder):
            study = studies.load(folder)
            sections += _study_sections(study, out)
            best = _best(study)
            described.append(f"search {label}: study {study.study_name!r}, {len(study.trials)} trials")
            if best is not None:
                runs.append(curves.read_run(folder / "trials" / str(best.number), f"{label} trial {best.number}"))
                described[-1] += f", best trial {best.number} ({best.value:.4f})"
        elif (folder / "metrics.jsonl").exists():
            runs.append(curves.read_run(folder, label))
            described.append(f"run {label}: {folder}")
        else:
            raise ReportError(f"{folder}: no metrics.jsonl nor study; pass a run folder, its spec, or a search's workdir")
    for panel in curves.panels(runs):
        png = render.write_png(panel, out / f"{panel.name}.png").name
        sections.append(page.section(panel.title, page.figure_html(render.plotly_figure(panel), panel.name), png))
    intro = "<ul>" + "".join(f"<li>{html.escape(d)}</li>" for d in described) + "</ul>"
    intro += page.note("Solid lines: training (faint) and validation (with markers); dashed: the naive baseline (most frequent class or last value).")
    title = "seqjax report: " + ", ".join(labels(folders))
    (out / "index.html").write_text(page.document(title, intro, sections))


def _best(study):
    from seqjax.search.summary import best_trial

    return best_trial(study)


def _study_sections(study, out: pathlib.Path) -> list[str]:
    from seqjax.search.summary import cell, rows

    records = rows(study, study.user_attrs.get("metric", "value"))
    columns = list(dict.fromkeys(k for r in records for k in r if k != "error"))
    sections = [page.section(f"Trials of study {study.study_name!r}", page.table(columns, [[cell(r.get(c)) for c in columns] for r in records]))]
    for view in studies.views(study):
        if view.figure is None:
            sections.append(page.section(view.title, page.note(view.note)))
            continue
        png = f"{view.name}.png"
        view.draw_png(out / png)
        sections.append(page.section(view.title, page.figure_html(view.figure, view.name), png))
    return sections
