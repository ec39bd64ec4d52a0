"""Next-item predictions for every window of a split, written in long format with a quality summary."""

from __future__ import annotations

import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from seqjax.data import pipeline
from seqjax.data.metadata import RESERVED, sequences_file
from seqjax.infer.decode import decode_categorical, decode_real
from seqjax.spec import Spec
from seqjax.train import checkpoint, objective
from seqjax.train.step import shardings_of


class InferenceError(RuntimeError):
    """Inference cannot run (no checkpoint yet); the message names the path."""


def restored_trainer(spec: Spec):
    """A Trainer whose state holds the best checkpoint's parameters."""
    from seqjax.train.loop import Trainer, checkpoint_dir

    directory = checkpoint_dir(spec)
    mngr = checkpoint.manager(directory, read_only=True) if directory.exists() else None
    step = checkpoint.best_step(mngr) if mngr is not None else None
    if step is None:
        raise InferenceError(f"{directory}: no checkpoint; run `seqjax train` (or `seqjax run`) first")
    trainer = Trainer(spec)
    trainer.state, _ = checkpoint.restore(mngr, step, trainer.state)
    mngr.close()
    return trainer, step


def make_predict_step(graphdef, targets: tuple[objective.Target, ...]):
    """predict_step(params, rest, batch) -> the model's next item after each window, beside the truth."""

    def predict_step(params, rest, batch):
        from flax import nnx

        model = nnx.merge(graphdef, params, rest)
        outputs = model(**objective.model_inputs(batch), deterministic=True)[0]
        out = {"position": batch["position"][:, -1], "sequence": batch["sequence"], "valid": batch["target"][:, -1] & batch["mask"][:, -2]}
        for t in targets:
            if t.kind == "categorical":
                # Never predict padding or "unknown": argmax over the user's own classes.
                logits_BV = outputs[t.name][:, -1].at[:, :RESERVED].set(-jnp.inf)
                out[t.name] = jnp.argmax(logits_BV, axis=-1)
                out[f"{t.name}.truth"], out[f"{t.name}.last"] = batch["cat"][:, -1, t.index], batch["cat"][:, -2, t.index]
            else:
                out[t.name] = outputs[t.name][:, -1]
                out[f"{t.name}.truth"], out[f"{t.name}.last"] = batch["real"][:, -1, t.index], batch["real"][:, -2, t.index]
        return out

    return predict_step


def predict(spec: Spec, *, split: str | None = None, progress_bar: bool = True) -> tuple[pathlib.Path, dict]:
    """Write predictions for `split` (default `infer.split`) and return (path, quality summary)."""
    from seqjax.model import activate

    split = split or spec.infer.split
    trainer, step = restored_trainer(spec)
    with activate(trainer.mesh):
        return _predict(spec, split, trainer, step, progress_bar)


def _predict(spec: Spec, split: str, trainer, step: int, progress_bar: bool) -> tuple[pathlib.Path, dict]:
    meta = trainer.meta
    step_fn = jax.jit(
        make_predict_step(trainer.graphdef, trainer.targets),
        in_shardings=(shardings_of(trainer.state["params"]), shardings_of(trainer.rest), trainer.batch_sharding),
        out_shardings=trainer.replicated,
    )
    batch_size = _round_up(spec.infer.batch_size, trainer.batch_sharding.mesh.shape["data"] * trainer.batch_sharding.mesh.shape["fsdp"])
    chunks = []
    windows = meta.splits[split].windows
    bar = _bar(progress_bar and jax.process_index() == 0, windows)
    for batch in pipeline.eval_batches(meta, trainer.data_dir, split, global_batch=batch_size, process_index=jax.process_index(), process_count=jax.process_count()):
        out = jax.device_get(step_fn(trainer.state["params"], trainer.rest, trainer.device_batch(batch)))
        keep = out.pop("valid")
        chunks.append({k: v[keep] for k, v in out.items()})
        if bar is not None:
            bar.update(min(batch_size, windows - bar.n))
    if bar is not None:
        bar.close()
    columns = {k: np.concatenate([c[k] for c in chunks]) if chunks else np.zeros(0) for k in (chunks[0] if chunks else {})}
    frame = _long_format(meta, trainer.data_dir, split, trainer.targets, columns)
    quality = _quality(meta, trainer.targets, columns) if chunks else {}
    path = spec.workpath / "predictions" / f"{split}.{spec.infer.format.value}"
    if jax.process_index() == 0:
        write_frame(frame, path)
        write_json({"checkpoint_step": step, "split": split, "rows": frame.height, "targets": quality}, spec.workpath / "predictions" / f"{split}-quality.json")
    return path, quality


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _long_format(meta, data_dir, split, targets, columns) -> pl.DataFrame:
    ids = pl.read_parquet(pathlib.Path(data_dir) / sequences_file(split)).to_series()
    sequence = columns.get("sequence", np.zeros(0, np.int64))
    series = [ids.gather(sequence).alias(meta.id_column), pl.Series(meta.position_column, columns.get("position", np.zeros(0, np.int64)))]
    for t in targets:
        column = meta.column(t.name)
        values = columns.get(t.name, np.zeros(0))
        series.append(decode_categorical(column, values) if t.kind == "categorical" else decode_real(column, values))
    return pl.DataFrame(series)


def _quality(meta, targets, columns) -> dict:
    """Model against naive baselines on the predicted items: most frequent class / last value."""
    report = {}
    for t in targets:
        pred, truth, last = columns[t.name], columns[f"{t.name}.truth"], columns[f"{t.name}.last"]
        if t.kind == "categorical":
            counts = np.bincount(truth, minlength=t.vocab_size)
            report[t.name] = {
                "accuracy": float(np.mean(pred == truth)),
                "most_frequent_accuracy": float(counts.max() / max(len(truth), 1)),
                "last_value_accuracy": float(np.mean(last == truth)),
            }
        else:
            std = meta.column(t.name).std
            report[t.name] = {
                "mae": float(np.mean(np.abs(pred - truth)) * std),
                "last_value_mae": float(np.mean(np.abs(last - truth)) * std),
                "mean_value_mae": float(np.mean(np.abs(truth)) * std),
            }
    return report


def describe_quality(quality: dict) -> list[str]:
    lines = []
    for name, q in quality.items():
        if "accuracy" in q:
            lines.append(f"  {name}: accuracy {q['accuracy']:.3f} (most frequent class {q['most_frequent_accuracy']:.3f}, last value {q['last_value_accuracy']:.3f})")
        else:
            lines.append(f"  {name}: mean absolute error {q['mae']:.4g} (last value {q['last_value_mae']:.4g}, mean {q['mean_value_mae']:.4g})")
    return lines


def write_frame(frame: pl.DataFrame, path: pathlib.Path) -> None:
    """Parquet or csv by suffix, written to a temporary name and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if path.suffix == ".csv":
        frame.write_csv(tmp)
    else:
        frame.write_parquet(tmp)
    os.replace(tmp, path)


def write_json(obj, path: pathlib.Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _bar(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="predict", unit="window", dynamic_ncols=True, mininterval=1.0)
