"""`[search]`: a hyperparameter study over spec keys, run by `seqjax search spec.toml`.

```toml
[search]
trials = 12
[search.space]
"train.optimizer.lr" = { kind = "float", low = 1e-4, high = 1e-2, log = true }
"model.layers" = { kind = "int", low = 1, high = 3 }
"model.position" = { kind = "choice", values = ["rope", "learned"] }
```
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import typing
from typing import Any, Literal

from seqjax.spec.choices import ColumnKind, SpecError
from seqjax.spec.choices import fail as _fail
from seqjax.spec.choices import suggest as _suggest

NOT_SEARCHED = ("workdir", "search")
"""Keys a study sets itself: each trial has its own workdir, and trials do not search."""


class Sampler(enum.StrEnum):
    TPE = "tpe"
    """Tree-structured Parzen estimator: samples where earlier good trials are denser than bad ones."""
    RANDOM = "random"
    """Independent uniform draws (log-uniform for `log = true`)."""
    GRID = "grid"
    """Every combination once, in random order; float ranges need a `step`."""
    CMAES = "cmaes"
    """CMA-ES over the float and int ranges; choices are drawn at random."""


class Direction(enum.StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


def _quoted(key: str) -> str:
    return f'search.space."{key}"'


@dataclasses.dataclass(frozen=True, kw_only=True)
class FloatRange:
    """A number between `low` and `high`."""

    kind: Literal["float"] = "float"
    low: float
    """Smallest value."""
    high: float
    """Largest value."""
    log: bool = False
    """Sample the logarithm uniformly (learning rates, weight decay)."""
    step: float = 0.0
    """Only multiples of `step` above `low`; 0 is continuous. The grid sampler needs a step."""

    def validate(self, where: str) -> None:
        if not self.low <= self.high:
            _fail(f"{where}.high", self.high, f"must be at least low ({self.low})")
        if self.log and self.low <= 0:
            _fail(f"{where}.low", self.low, "must be positive with log = true")
        if self.step < 0 or (self.step and self.log):
            _fail(f"{where}.step", self.step, "must be 0 (continuous) or positive, and 0 with log = true")

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step or None)

    def grid(self) -> list | None:
        if not self.step:
            return None
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [self.low + i * self.step for i in range(count)]

    def bounds(self) -> list:
        return [self.low, self.high]


@dataclasses.dataclass(frozen=True, kw_only=True)
class IntRange:
    """An integer between `low` and `high` (both included)."""

    kind: Literal["int"] = "int"
    low: int
    """Smallest value."""
    high: int
    """Largest value."""
    step: int = 1
    """Only `low`, `low + step`, ... up to `high`."""
    log: bool = False
    """Sample the logarithm uniformly (needs step = 1)."""

    def validate(self, where: str) -> None:
        if not self.low <= self.high:
            _fail(f"{where}.high", self.high, f"must be at least low ({self.low})")
        if self.step < 1 or (self.log and self.step != 1):
            _fail(f"{where}.step", self.step, "must be at least 1, and 1 with log = true")
        if self.log and self.low < 1:
            _fail(f"{where}.low", self.low, "must be at least 1 with log = true")

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> list:
        return list(range(self.low, self.high + 1, self.step))

    def bounds(self) -> list:
        return [self.low, self.high]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Choice:
    """One of a list of values: numbers, strings, booleans, lists or tables (e.g. whole `train.schedule` variants)."""

    kind: Literal["choice"] = "choice"
    values: tuple[Any, ...]
    """The values to choose from, each valid for the key."""

    def validate(self, where: str) -> None:
        if not self.values:
            _fail(f"{where}.values", [], "needs at least one value")

    @property
    def encoded(self) -> bool:
        """Lists and tables travel through the study as JSON text (optuna stores plain values only)."""
        return any(isinstance(v, (list, dict, tuple)) for v in self.values)

    def suggest(self, trial, name: str) -> Any:
        if not self.encoded:
            return trial.suggest_categorical(name, list(self.values))
        return json.loads(trial.suggest_categorical(name, [json.dumps(v) for v in self.values]))

    def grid(self) -> list:
        return [json.dumps(v) for v in self.values] if self.encoded else list(self.values)

    def bounds(self) -> list:
        return list(self.values)


Param = FloatRange | IntRange | Choice


@dataclasses.dataclass(frozen=True, kw_only=True)
class MedianPruner:
    """Stop a trial whose best metric so far is worse than the median of the finished trials at the same step."""

    kind: Literal["median"] = "median"
    startup_trials: int = 5
    """Finished trials before any trial is pruned."""
    warmup_evaluations: int = 1
    """Evaluations of each trial that are never pruned."""

    def __post_init__(self):
        for key in ("startup_trials", "warmup_evaluations"):
            if getattr(self, key) < 0:
                _fail(f"search.pruner.{key}", getattr(self, key), "must be 0 or positive")

    def build(self, eval_every: int):
        import optuna

        warmup = self.warmup_evaluations * eval_every + 1 if self.warmup_evaluations else 0
        return optuna.pruners.MedianPruner(n_startup_trials=self.startup_trials, n_warmup_steps=warmup)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HalvingPruner:
    """Asynchronous successive halving: at evaluations 1, r, r^2, ... (times `min_evaluations`) only the best 1/r go on."""

    kind: Literal["halving"] = "halving"
    min_evaluations: int = 1
    """Evaluations every trial gets before the first cut."""
    reduction_factor: int = 3
    """r: the share of trials kept at each rung is 1/r."""

    def __post_init__(self):
        if self.min_evaluations < 1:
            _fail("search.pruner.min_evaluations", self.min_evaluations, "must be at least 1")
        if self.reduction_factor < 2:
            _fail("search.pruner.reduction_factor", self.reduction_factor, "must be at least 2")

    def build(self, eval_every: int):
        import optuna

        return optuna.pruners.SuccessiveHalvingPruner(min_resource=self.min_evaluations * eval_every, reduction_factor=self.reduction_factor)


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoPruner:
    """Every trial trains to the end (or to early stopping)."""

    kind: Literal["none"] = "none"

    def build(self, eval_every: int):
        import optuna

        return optuna.pruners.NopPruner()


@dataclasses.dataclass(frozen=True, kw_only=True)
class SearchSpec:
    """A study over spec keys; each trial is a run in `workdir/trials/<n>/`."""

    trials: int = 20
    """Trials of the study in all (finished, pruned or failed), over every re-run and process."""
    sampler: Sampler = Sampler.TPE
    """How the next trial's values are chosen."""
    startup_trials: int = 0
    """Trials drawn at random before `tpe` or `cmaes` learn from the results; 0 takes a third of `trials` (2 to 10)."""
    direction: Direction = Direction.MINIMIZE
    """Whether a lower or a higher metric is better."""
    metric: str = "loss"
    """`loss` (the validation loss a run picks its best checkpoint on), or `targets.<target>.loss` / `targets.<target>.accuracy`; a trial's value is the metric at its best checkpoint."""
    space: dict[str, Param] = dataclasses.field(default_factory=dict)
    """Dotted spec key -> `{kind = "float", low, high, log}`, `{kind = "int", low, high, step}` or `{kind = "choice", values = [...]}`."""
    pruner: MedianPruner | HalvingPruner | NoPruner = MedianPruner()
    """Stops unpromising trials; it sees the metric of every evaluation."""
    storage: Literal["sqlite", "journal"] = "sqlite"
    """Where the study lives in the workdir: `study.db` (sqlite) or `study.journal` (a journal file, for processes on several machines sharing a filesystem)."""
    study: str = ""
    """Study name in the storage; empty uses the spec's `name`."""
    seed: int = -1
    """Seed of the sampler; -1 uses the spec's `seed`."""

    def __post_init__(self):
        if self.trials < 1:
            _fail("search.trials", self.trials, "must be at least 1")
        if self.startup_trials < 0:
            _fail("search.startup_trials", self.startup_trials, "must be 0 (a third of trials) or positive")
        for key, param in self.space.items():
            param.validate(_quoted(key))
            if self.sampler == Sampler.GRID and param.grid() is None:
                _fail(_quoted(key) + ".step", 0.0, "the grid sampler needs a step for float ranges (or use kind = 'choice')")

    def check(self, spec) -> None:
        """Every searched key names a spec field whose type takes the values; the metric names a target."""
        self._check_metric(spec)
        for key, param in self.space.items():
            if key.split(".")[0] in NOT_SEARCHED:
                raise SpecError(f"{_quoted(key)}: cannot be searched (each trial has its own workdir and searches nothing)")
            field_type = _field_type(spec, key)
            _check_type(key, param, field_type)
            for value in param.bounds():
                _check_alone(spec, key, value, [k for k in self.space if k != key])

    def _check_metric(self, spec) -> None:
        parts = self.metric.split(".")
        if self.metric == "loss":
            return
        allowed = "must be 'loss' or 'targets.<target>.loss' / 'targets.<target>.accuracy' with a target of train.targets"
        if len(parts) != 3 or parts[0] != "targets" or parts[2] not in ("loss", "accuracy"):
            _fail("search.metric", self.metric, allowed)
        if parts[1] not in spec.train.targets:
            _fail("search.metric", self.metric, f"{parts[1]!r} is not a target; targets are {list(spec.train.targets)}{_suggest(parts[1], spec.train.targets)}")
        if parts[2] == "accuracy" and spec.data.column(parts[1]).kind != ColumnKind.CATEGORICAL:
            _fail("search.metric", self.metric, f"accuracy needs a categorical target; {parts[1]!r} is real")

    @property
    def random_trials(self) -> int:
        return self.startup_trials or min(10, max(2, self.trials // 3))

    @property
    def grid_size(self) -> int:
        return math.prod(len(p.grid()) for p in self.space.values())


def _field_type(spec, key: str):
    """The declared type of the spec field a dotted key names, or a SpecError naming the key."""
    node, tp = spec, type(spec)
    parts = key.split(".")
    for i, part in enumerate(parts):
        if typing.get_origin(tp) is dict and i == len(parts) - 1:
            return typing.get_args(tp)[1]
        if not dataclasses.is_dataclass(node):
            _fail(_quoted(key), ".".join(parts[:i]), "names a value, not a table; search the whole value with kind = 'choice'")
        names = [f.name for f in dataclasses.fields(node) if f.init]
        if part not in names:
            section = f"[{'.'.join(parts[:i])}]" if i else "the top level"
            raise SpecError(f"{_quoted(key)}: {section} has no field {part!r}{_suggest(part, names)}")
        tp = typing.get_type_hints(type(node))[part]
        node = getattr(node, part)
    return tp


def _check_type(key: str, param: Param, tp) -> None:
    """A range needs a number field (float ranges a float one); every choice must convert to the field's type."""
    from seqjax.spec.loading import _convert, _type_name

    if isinstance(param, FloatRange) and tp is not float:
        _fail(_quoted(key) + ".kind", "float", f"{key} is {_type_name(tp)}; use " + ("kind = 'int'" if tp is int else "kind = 'choice'"))
    if isinstance(param, IntRange) and tp not in (int, float):
        _fail(_quoted(key) + ".kind", "int", f"{key} is {_type_name(tp)}; use kind = 'choice'")
    if isinstance(param, Choice):
        for i, value in enumerate(param.values):
            _convert(value, tp, key, f"{_quoted(key)}.values[{i}]")


def _check_alone(spec, key: str, value: Any, others: list[str]) -> None:
    """Set one value into the spec; refuse it when the key's own check rejects it whatever the other searched keys are."""
    from seqjax.spec.loading import apply_values, spec_from_dict, to_dict

    table = to_dict(spec)
    table.pop("search")
    try:
        spec_from_dict(apply_values(table, {key: value}), "")
    except SpecError as error:
        text = str(error).removeprefix(": ")
        own = any(text.startswith(key + end) for end in (" ", ".", "["))
        if own and not any(other in text for other in others):
            raise SpecError(f"{_quoted(key)}: {text}") from None
