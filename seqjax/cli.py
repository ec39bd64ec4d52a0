"""`seqjax run|preprocess|train|infer|export|validate spec.toml [--set key=value ...]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from seqjax import distributed
from seqjax.errors import RunError, UserError
from seqjax.spec import InferMode, load_spec

COMMANDS = {
    "run": "preprocess, train, export and infer",
    "preprocess": "validate the input table and write shards + metadata.json",
    "train": "train (resuming from the latest checkpoint if there is one)",
    "infer": "run infer.mode (predict, probabilities, generate, embed) with the best checkpoint; long-format results",
    "export": "write jax.export artifacts, weights and metadata to workdir/export",
    "validate": "check a spec without running anything",
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="seqjax", description="Causal transformers on multivariate sequences, from one TOML spec.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("spec", help="the experiment's TOML spec")
        command.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a spec key, TOML value syntax (e.g. --set model.dim=64)")
        if name != "validate":
            command.add_argument("--no-progress", action="store_true", help="no progress bars")
        if name == "infer":
            command.add_argument("--input", metavar="PATH", help="new long-format data (file, folder or glob) instead of a split; same as --set infer.input=PATH")
            command.add_argument("--mode", choices=[m.value for m in InferMode], help="same as --set infer.mode=MODE")
    return root


def _overrides(args: argparse.Namespace) -> list[str]:
    """--set values, then the infer flags as overrides (a relative --input is relative to the working directory)."""
    overrides = list(args.overrides)
    if getattr(args, "input", None):
        overrides.append(f"infer.input={json.dumps(os.path.abspath(args.input))}")
    if getattr(args, "mode", None):
        overrides.append(f"infer.mode={json.dumps(args.mode)}")
    return overrides


def execute(args: argparse.Namespace) -> None:
    spec = load_spec(args.spec, _overrides(args))
    if args.command == "validate":
        print(f"{args.spec}: ok ({spec.name}: {len(spec.data.columns)} columns, targets {', '.join(spec.train.targets)}, workdir {spec.workdir})")
        return
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)  # library chatter; our own output is print()
    from seqjax import experiment

    progress = not args.no_progress
    if args.command == "preprocess":
        report = f"data: {experiment.preprocess(spec)}"
    elif args.command == "train":
        result = experiment.train(spec, progress_bar=progress)
        report = f"trained to step {result.step}; best validation loss {result.best_loss} at step {result.best_step}"
    elif args.command == "export":
        report = f"export: {experiment.export(spec)}"
    else:
        run = experiment.run if args.command == "run" else experiment.infer
        report = _describe(run(spec, progress_bar=progress))
    if distributed.is_lead():  # the other processes of a job write nothing either
        print(report)


def _describe(result) -> str:
    from seqjax.infer.quality import describe_quality

    label = "predictions" if result.mode == InferMode.PREDICT else result.mode.value
    lines = [f"{label}: {result.path} ({result.rows:,} rows)"]
    if result.quality:
        lines += ["quality on the predicted items (model vs naive baselines):", *describe_quality(result.quality)]
    return "\n".join(lines)


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. unseen categories) as one line on stderr, without a source location."""
    print(f"seqjax: warning: {message}", file=sys.stderr)


def compilation_cache(environ=os.environ) -> None:
    """Keep compiled programs between commands, so a second `seqjax train` or `infer` skips most compiling.

    In the user's cache folder unless JAX_COMPILATION_CACHE_DIR says where (empty: no cache); programs
    that took 0.2 s or more to compile are kept (JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS to change it).
    """
    if "JAX_COMPILATION_CACHE_DIR" in environ:
        return
    import jax

    if not jax.config.jax_compilation_cache_dir:
        base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        jax.config.update("jax_compilation_cache_dir", os.path.join(base, "seqjax", "jax"))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in ("run", "train", "infer", "export"):
        compilation_cache()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _print_warning
            execute(args)
    except KeyboardInterrupt:
        print("seqjax: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if not isinstance(error, (UserError, RunError)):
            raise
        print(f"seqjax: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, UserError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
