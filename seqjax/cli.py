"""`seqjax run|preprocess|train|infer|validate spec.toml [--set key=value ...]`."""

from __future__ import annotations

import argparse
import sys

from seqjax.spec import SpecError, load_spec

COMMANDS = {
    "run": "preprocess, train and predict",
    "preprocess": "validate the input table and write shards + metadata.json",
    "train": "train (resuming from the latest checkpoint if there is one)",
    "infer": "predict with the best checkpoint and write long-format results",
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
    return root


def _user_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean bad input: one line, exit code 2."""
    errors: list[type[Exception]] = [SpecError]
    if "seqjax.preprocess" in sys.modules:
        errors.append(sys.modules["seqjax.preprocess"].PreprocessError)
    return tuple(errors)


def _runtime_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = []
    if "seqjax.train.loop" in sys.modules:
        errors.append(sys.modules["seqjax.train.loop"].TrainingError)
    if "seqjax.infer.predict" in sys.modules:
        errors.append(sys.modules["seqjax.infer.predict"].InferenceError)
    return tuple(errors)


def execute(args: argparse.Namespace) -> None:
    spec = load_spec(args.spec, args.overrides)
    if args.command == "validate":
        print(f"{args.spec}: ok ({spec.name}: {len(spec.data.columns)} columns, targets {', '.join(spec.train.targets)}, workdir {spec.workdir})")
        return
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)  # library chatter; our own output is print()
    from seqjax import experiment

    progress = not args.no_progress
    if args.command == "preprocess":
        print(f"data: {experiment.preprocess(spec)}")
    elif args.command == "train":
        result = experiment.train(spec, progress_bar=progress)
        print(f"trained to step {result.step}; best validation loss {result.best_loss} at step {result.best_step}")
    else:
        run = experiment.run if args.command == "run" else experiment.infer
        path, quality = run(spec, progress_bar=progress)
        from seqjax.infer.predict import describe_quality

        print(f"predictions: {path}")
        print("quality on the predicted items (model vs naive baselines):")
        print("\n".join(describe_quality(quality)))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        execute(args)
    except KeyboardInterrupt:
        print("seqjax: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if isinstance(error, _user_errors()):
            print(f"seqjax: error: {error}", file=sys.stderr)
            return 2
        if isinstance(error, _runtime_errors()):
            print(f"seqjax: error: {error}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
