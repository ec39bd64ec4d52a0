"""A search's study views, drawn by optuna.visualization (plotly for the page, matplotlib for PNGs):
the optimisation history, parameter importances, parallel coordinates, and each trial's evaluations
(the curves pruning cut short)."""

from __future__ import annotations

import dataclasses
import pathlib
import warnings
from typing import Any, Callable

import optuna

from seqjax.errors import UserError

STORAGES = ("study.db", "study.journal")


class StudyError(UserError):
    """A search folder whose study cannot be read; the message names the file."""


@dataclasses.dataclass(frozen=True)
class View:
    name: str
    title: str
    figure: Any | None
    """A plotly figure, or None when the study cannot show this yet (see `note`)."""
    draw_png: Callable[[pathlib.Path], None] | None
    note: str = ""


def is_search(folder: pathlib.Path) -> bool:
    return any((folder / name).exists() for name in STORAGES)


def load(folder: pathlib.Path) -> optuna.Study:
    """The study in a search's workdir (the latest one, if the storage holds several)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = next(folder / name for name in STORAGES if (folder / name).exists())
    if path.suffix == ".db":
        storage: Any = f"sqlite:///{path}"
    else:
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if not summaries:
        raise StudyError(f"{path}: holds no study yet; run `seqjax search` first")
    latest = max(summaries, key=lambda s: s._study_id)
    return optuna.load_study(study_name=latest.study_name, storage=storage)


def views(study: optuna.Study) -> list[View]:
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot, which optuna's matplotlib views import
    from optuna import visualization as plotly_views
    from optuna.visualization import matplotlib as png_views

    metric = study.user_attrs.get("metric", "value")
    importance = {"evaluator": optuna.importance.PedAnovaImportanceEvaluator()}
    specs = (
        ("history", "Optimisation history", "plot_optimization_history", {"target_name": metric}),
        ("importances", "Parameter importances (PED-ANOVA)", "plot_param_importances", importance),
        ("parallel", "Parallel coordinates", "plot_parallel_coordinate", {"target_name": metric}),
        ("intermediate", f"Every trial's {metric} at each evaluation", "plot_intermediate_values", {}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna marks its matplotlib views and PED-ANOVA experimental
        return [_view(study, name, title, getattr(plotly_views, fn), getattr(png_views, fn), kwargs) for name, title, fn, kwargs in specs]


def _view(study: optuna.Study, name: str, title: str, plotly_fn, png_fn, kwargs: dict) -> View:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if name == "importances" and len(complete) < 2:
        return View(name, title, None, None, "parameter importances need at least 2 completed trials")
    try:
        figure = plotly_fn(study, **kwargs)
    except (ValueError, RuntimeError) as error:
        return View(name, title, None, None, f"not drawn: {str(error).splitlines()[0]}")
    figure.update_layout(title=title, template="plotly_white", height=420)
    return View(name, title, figure, lambda path: _png(study, png_fn, kwargs, path, title))


def _png(study: optuna.Study, png_fn, kwargs: dict, path: pathlib.Path, title: str) -> None:
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        axes = png_fn(study, **kwargs)
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    first.set_title(title)  # instead of optuna's own title
    figure = first.figure
    figure.set_size_inches(9, 4.5)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
