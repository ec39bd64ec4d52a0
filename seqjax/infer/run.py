"""`seqjax infer`: one inference mode over a split or new data, streamed to long-format files."""

from __future__ import annotations

import dataclasses
import pathlib

import jax

from seqjax import files
from seqjax.files import write_json
from seqjax.infer import inputs, modes, score, sequences, writers
from seqjax.infer.api import Predictor
from seqjax.infer.sources import encoded_source, split_source
from seqjax.infer.writers import PartWriter
from seqjax.spec import InferMode, Spec


@dataclasses.dataclass(frozen=True)
class InferResult:
    path: pathlib.Path
    mode: InferMode
    rows: int
    quality: dict
    """Model vs naive baselines (mode = predict on a split), the summary of mode = score; empty otherwise."""


def source_name(spec: Spec) -> str:
    """What output files are named after: the split, or the new input (see inputs.input_name)."""
    return inputs.input_name(spec.infer.input) if spec.infer.input else spec.infer.split


def source_of(spec: Spec, predictor: Predictor):
    """The windows (or whole sequences) to infer on: new data when `infer.input` is set, else the split."""
    whole = predictor.objective.view == "sequences"
    if spec.infer.input:
        if whole:
            return predictor.source(inputs.read_table(spec.infer.input), spec.infer.static or None, spec.infer.input)
        frame = inputs.read_input(predictor.meta, spec.infer.input)
        encoded = inputs.encode(predictor.meta, frame, spec.infer.input)
        inputs.warn_unseen(encoded.unseen)
        return encoded_source(predictor.meta, encoded)
    if whole:
        return sequences.split_source(predictor.meta, spec.paths.data, spec.infer.split)
    return split_source(predictor.meta, spec.paths.data, spec.infer.split)


def output_path(spec: Spec, name: str) -> pathlib.Path:
    """`infer.output`, else `workdir/predictions/<name>.<format>` (predict) or `<mode>-<name>.<format>`."""
    if spec.infer.output:
        return pathlib.Path(spec.infer.output)
    stem = name if spec.infer.mode == InferMode.PREDICT else f"{spec.infer.mode.value}-{name}"
    return spec.paths.predictions / f"{stem}.{spec.infer.format.value}"


def infer(spec: Spec, *, progress_bar: bool = True, devices=None, predictor: Predictor | None = None) -> InferResult:
    """Run `infer.mode` with the best checkpoint (or an already loaded `predictor` of the same run) and write its output."""
    job = modes.Job.of(spec.infer)
    name = source_name(spec)
    path = output_path(spec, name)
    lead = jax.process_index() == 0
    if lead:  # before any work: refuse to replace what seqjax did not write
        files.check_replaceable(path, folder=False)
    predictor = predictor or Predictor(spec, devices=devices)
    job.check(predictor.objective, spec.model.layers)
    source = source_of(spec, predictor)
    quality = None
    if job.mode == InferMode.SCORE:
        quality = score.Tally(predictor.objective, len(source.ids))
    elif job.mode == InferMode.PREDICT and source.known_last:
        quality = sequences.Quality(predictor.objective) if predictor.objective.view == "sequences" else predictor.objective.quality()
    writer = PartWriter(path, enabled=lead)
    bar = _bar(progress_bar and lead, job, source)
    try:
        for frame in modes.frames(predictor.functions, predictor.objective, source, job, quality=quality, bar=bar):
            writer.add(frame)
        path = writer.close(modes.empty(predictor.functions, predictor.objective, job))
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    summary = quality.summary() if quality is not None else {}
    if job.mode == InferMode.SCORE:
        if lead:  # beside the items: one row per sequence, and the summary
            writers.write_frame(quality.sequences(predictor.meta, source.ids), path.with_name(f"{path.stem}-sequences{path.suffix}"))
            write_json({"checkpoint_step": predictor.step, "source": name, **summary}, path.with_name(f"{path.stem}-summary.json"))
    elif quality is not None and lead:
        report = {"checkpoint_step": predictor.step, "split": name, "rows": writer.rows, "targets": summary}
        write_json(report, path.with_name(f"{path.stem}-quality.json"))
    return InferResult(path, job.mode, writer.rows, summary)


def _bar(enabled: bool, job: modes.Job, source):
    if not enabled:
        return None
    from tqdm import tqdm

    per_window = not isinstance(source, sequences.SequenceSource) and (job.per_window or job.mode == InferMode.SCORE or (job.next_item and source.known_last))
    total, unit = (source.counts[0], "window") if per_window else (source.counts[1], "sequence")
    return tqdm(total=total, desc=job.mode.value, unit=unit, dynamic_ncols=True, mininterval=1.0)
