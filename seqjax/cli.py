"""`seqjax run|preprocess|train|infer|export|validate|search spec.toml [--set key=value ...]`,
`seqjax report RUN...`, `seqjax init DIR --data FILE`, `seqjax schema`."""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import signal
import sys
import warnings

from seqjax import console, distributed
from seqjax.errors import RunError, Stopped, UserError
from seqjax.spec import InferMode, load_spec

COMMANDS = {
    "run": "preprocess, train, export and infer",
    "preprocess": "validate the input table and write shards + metadata.json",
    "train": "train (resuming from the latest checkpoint if there is one)",
    "infer": "run infer.mode (predict, probabilities, generate, embed, score) with the best checkpoint; long-format results",
    "export": "write jax.export artifacts, weights and metadata to workdir/export",
    "validate": "check a spec without running anything",
    "search": "hyperparameter search over [search] space; each trial a run in workdir/trials/<n>",
}
OTHERS = {
    "report": "an HTML page and PNGs of runs' training curves, or of a search",
    "init": "a new project folder with a spec inferred from a data file",
    "schema": "the spec's JSON Schema (for TOML editors) or its Markdown reference",
}


def _output_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    options.add_argument("--log-format", choices=["text", "json"], default="text", help="json: one JSON object per line, for pipelines")
    return options


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="seqjax", description="Causal transformers on multivariate sequences, from one TOML spec.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    output = _output_options()
    for name, text in COMMANDS.items():
        command = commands.add_parser(name, help=text, description=text, parents=[output])
        command.add_argument("spec", help="the experiment's TOML spec")
        command.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a spec key, TOML value syntax (e.g. --set model.dim=64)")
        if name != "validate":
            command.add_argument("--no-progress", action="store_true", help="no progress bars")
        if name in ("run", "train"):
            command.add_argument("--restart", action="store_true", help="delete the run's checkpoints and metrics and train from the start")
        if name == "infer":
            command.add_argument("--input", metavar="PATH", help="new long-format data (file, folder or glob) instead of a split; same as --set infer.input=PATH")
            command.add_argument("--mode", choices=[m.value for m in InferMode], help="same as --set infer.mode=MODE")
            command.add_argument("--static", metavar="PATH", help="static features of the --input sequences (one row per sequence); same as --set infer.static=PATH")
    _other_commands(commands, output)
    return root


def _other_commands(commands, output: argparse.ArgumentParser) -> None:
    report = commands.add_parser("report", help=OTHERS["report"], description=OTHERS["report"], parents=[output])
    report.add_argument("runs", nargs="+", metavar="RUN", help="run folders (workdirs), their TOML specs, or a search's workdir")
    report.add_argument("--output", metavar="DIR", help="where index.html and the PNGs go (default: RUN/report, or ./report for several runs)")
    init = commands.add_parser("init", help=OTHERS["init"], description=OTHERS["init"], parents=[output])
    init.add_argument("folder", metavar="DIR", help="the project folder to create (or fill)")
    init.add_argument("--data", required=True, metavar="FILE", help="a long-format parquet/csv file, folder or glob")
    init.add_argument("--id-column", default="sequenceId", help="the sequence id column (default: sequenceId)")
    init.add_argument("--position-column", default="itemPosition", help="the item position column (default: itemPosition)")
    init.add_argument("--force", action="store_true", help="replace an existing spec.toml")
    schema = commands.add_parser("schema", help=OTHERS["schema"], description=OTHERS["schema"])
    schema.add_argument("--format", choices=["json", "markdown"], default="json", help="json: JSON Schema (default); markdown: the reference of docs/spec.md")
    schema.add_argument("--output", metavar="FILE", help="write to FILE instead of printing")


def _overrides(args: argparse.Namespace) -> list[str]:
    """--set values, then the infer flags as overrides (a relative --input is relative to the working directory)."""
    overrides = list(args.overrides)
    if getattr(args, "input", None):
        overrides.append(f"infer.input={json.dumps(os.path.abspath(args.input))}")
    if getattr(args, "mode", None):
        overrides.append(f"infer.mode={json.dumps(args.mode)}")
    if getattr(args, "static", None):
        overrides.append(f"infer.static={json.dumps(os.path.abspath(args.static))}")
    return overrides


def execute(args: argparse.Namespace) -> None:
    if args.command in OTHERS:
        return _execute_other(args)
    spec = load_spec(args.spec, _overrides(args))
    if args.command in ("run", "train", "infer", "export", "search"):
        cpu_devices(spec)
        compilation_cache(enabled=spec.compilation_cache)
    if args.command == "validate":
        console.say(f"{args.spec}: ok ({spec.name}: {len(spec.data.columns)} columns, targets {', '.join(spec.train.targets)}, workdir {spec.workdir})")
        return
    import logging

    logging.getLogger("absl").setLevel(logging.CRITICAL)  # library chatter and failures: the command reports its own, in one line
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # a failed async checkpoint write is reported once, by us
    from seqjax import experiment

    progress = console.progress(not args.no_progress)
    if args.command == "search":
        from seqjax import search

        return search.describe(search.search(spec, progress_bar=progress))
    if args.command == "preprocess":
        outputs = {"data": experiment.preprocess(spec, progress_bar=progress)}
    elif args.command == "train":
        result = experiment.train(spec, progress_bar=progress, restart=args.restart)
        _say_trained(result)
        outputs = _run_outputs(spec)
    elif args.command == "export":
        outputs = {"export": experiment.export(spec)}
    else:
        result = experiment.run(spec, progress_bar=progress, restart=args.restart) if args.command == "run" else experiment.infer(spec, progress_bar=progress)
        if distributed.is_lead():
            _describe(result)
        outputs = {**_run_outputs(spec), "export": spec.paths.export} if args.command == "run" else {}
    if distributed.is_lead():  # the other processes of a job write nothing either
        console.outputs(**outputs)


def _execute_other(args: argparse.Namespace) -> None:
    if args.command == "schema":
        from seqjax import schema

        text = schema.json_text() if args.format == "json" else schema.markdown()
        if args.output:
            schema.write(text, args.output)
        else:
            sys.stdout.write(text)
    elif args.command == "init":
        from seqjax import scaffold

        scaffold.describe(scaffold.init(args.folder, args.data, id_column=args.id_column, position_column=args.position_column, force=args.force))
    else:
        from seqjax import report

        console.outputs(**report.report(args.runs, args.output))


def _say_trained(result) -> None:
    if distributed.is_lead():
        best = f"best {result.select} {result.best_value:.6g}" if result.best_value is not None else "no validation"
        text = f"trained to step {result.step}; {best} at step {result.best_step}"
        console.say(text, event="trained", step=result.step, best_step=result.best_step, best_loss=result.best_loss, best_value=result.best_value)


def _run_outputs(spec) -> dict:
    paths = spec.paths
    return {"checkpoints": paths.checkpoints, "metrics": paths.metrics, "tensorboard": paths.root / "tensorboard"}


def _describe(result) -> None:
    from seqjax.infer.quality import describe_quality

    label = "predictions" if result.mode == InferMode.PREDICT else result.mode.value
    lines = [f"{label}: {result.path} ({result.rows:,} rows)"]
    if result.mode == InferMode.SCORE:
        from seqjax.infer.score import describe

        lines += ["scores over every scored item:", *describe(result.quality)]
    elif result.quality:
        lines += ["quality on the predicted items (model vs naive baselines):", *describe_quality(result.quality)]
    console.say("\n".join(lines), event="inferred", mode=result.mode.value, path=str(result.path), rows=result.rows, quality=result.quality)


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. unseen categories) as one line on stderr, without a source location."""
    console.warn(str(message))


def cpu_devices(spec) -> None:
    """On a CPU-only host, the devices JAX makes of the cores (seqjax.cpu); before JAX starts."""
    from seqjax import cpu, distributed

    multi_process = distributed.detect(spec.distributed).multi_process
    cpu.configure(spec.mesh.cpu_devices, spec.train.batch_size, spec.mesh.fixed, multi_process=multi_process)


def compilation_cache(environ=os.environ, enabled: bool = True) -> None:
    """Keep compiled programs between commands, so a second `seqjax train` or `infer` skips most compiling.

    The cache holds native code that JAX loads and runs, so it lives in a folder only this user can
    write: `~/.cache/seqjax/jax` (under $XDG_CACHE_HOME when set), made with mode 0700; a folder there
    that another user owns or others may write is not used (with a warning). JAX_COMPILATION_CACHE_DIR
    names another folder (empty: no cache), and the spec's `compilation_cache = false` turns it off.
    Programs that took 0.2 s or more to compile are kept (JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS).
    """
    if "JAX_COMPILATION_CACHE_DIR" in environ:
        return
    import jax

    if not enabled:
        jax.config.update("jax_enable_compilation_cache", False)
        return
    if not jax.config.jax_compilation_cache_dir:
        base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "seqjax", "jax")
        problem = _unsafe(folder)
        if problem:
            warnings.warn(f"not using the compilation cache {folder}: {problem}", stacklevel=2)
            jax.config.update("jax_enable_compilation_cache", False)
            return
        jax.config.update("jax_compilation_cache_dir", folder)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def _unsafe(folder: str) -> str:
    """Why `folder` may not hold code this user runs ("" when it may): made private if missing."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError as error:
        return error.strerror or str(error)
    if info.st_uid != os.getuid():
        return f"it belongs to user id {info.st_uid}"
    if info.st_mode & 0o022:
        return f"others may write to it (mode {info.st_mode & 0o777:o})"
    return ""


_DISK_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file too large for this device or limit",
                errno.EROFS: "read-only file system", errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}  # fmt: skip


def _disk_error(error: BaseException) -> str | None:
    """One line for a failed write (disk full, quota, permissions), found in the error or its causes."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in _DISK_ERRORS:
            where = f"{error.filename}: " if error.filename else ""
            return f"{where}{_DISK_ERRORS[error.errno]} ({os.strerror(error.errno)})"
        text = str(error)
        if "No space left on device" in text:  # tensorstore (Orbax) says it in its own words
            path = re.search(r'"(/[^"]+)"', text)
            return f"{path.group(1) + ': ' if path else ''}no space left on the device"
        error = error.__cause__ or error.__context__
    return None


STOPPED = 128 + signal.SIGTERM
"""Exit code after SIGTERM stopped training with its checkpoint saved (as if the signal had ended it)."""


def _quiet_unraisable(unraisable) -> None:
    """After a failed asynchronous checkpoint write, tensorstore's callbacks find their event loop closed;
    that is a consequence of the failure the command reports, not news."""
    if isinstance(unraisable.exc_value, RuntimeError) and "Event loop is closed" in str(unraisable.exc_value):
        return
    sys.__unraisablehook__(unraisable)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sys.unraisablehook = _quiet_unraisable
    mode = "quiet" if getattr(args, "quiet", False) else getattr(args, "log_format", "text")
    with console.configured(mode):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _print_warning
                execute(args)
        except KeyboardInterrupt:
            console.interrupted()
            return 130
        except Exception as error:
            disk = _disk_error(error)
            if disk is None and not isinstance(error, (UserError, RunError)):
                raise
            code = STOPPED if isinstance(error, Stopped) else 2 if disk or isinstance(error, UserError) else 1
            console.error(disk or str(error), code)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
