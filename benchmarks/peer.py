"""The peer tool, sequifier: its virtual environment, its YAML configs for the benchmark task, its logs.

sequifier's config format follows its own docs (`sequifier docs`, shipped in the package) and its
pydantic config classes (`sequifier/config/*.py` in the venv's site-packages).
"""

from __future__ import annotations

import csv
import datetime as dt
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
VENV = HERE / ".venv-sequifier"
TORCH = "torch==2.13.0"
"""Installed first: a CPU build of this version lies on disk here; a plain `torch` would pull a CUDA build."""
SEQUIFIER = "sequifier==3.1.1.0"

COLUMNS = {"event": "categorical", "channel": "categorical", "amount": "real", "duration": "real"}


def bin_path(name: str) -> pathlib.Path:
    return VENV / "bin" / name


def ensure_venv(say=print) -> None:
    """Create benchmarks/.venv-sequifier with torch (CPU) and sequifier, unless it already has them."""
    if bin_path("sequifier").exists():
        return
    say(f"creating {VENV} ({TORCH}, then {SEQUIFIER}) ...")
    if not bin_path("python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(bin_path("python")), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, SEQUIFIER], check=True)


def versions() -> dict:
    code = "import importlib.metadata as m, sys; print(sys.version.split()[0], m.version('torch'), m.version('sequifier'), m.version('onnxruntime'))"
    out = subprocess.run([str(bin_path("python")), "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"python": out[0], "torch": out[1], "sequifier": out[2], "onnxruntime": out[3]}


# ----------------------------------------------------------------------------- configs


def preprocess_yaml(*, data: str, context: int, stride: int, metadata: str | None = None, seed: int = 0, split_column: str | None = None) -> str:
    """`split_column`: an integer column (0 train, 1 valid, 2 test) that fixes each row's split instead of sequifier's seeded hash."""
    cat = [c for c, k in COLUMNS.items() if k == "categorical"]
    real = [c for c, k in COLUMNS.items() if k == "real"]
    split = (
        ["split_method: value_cutoff", f"split_column: {split_column}", "split_values: [1, 2]"]
        if split_column
        else ["split_ratios: [0.8, 0.1, 0.1]", "split_method: between_sequence"]
    )
    lines = [
        "project_root: .",
        f"preprocessing_data_path: {data}",
        "read_format: parquet",
        "write_format: parquet",
        f"selected_columns: [{', '.join(COLUMNS)}]",
        f"categorical_columns: [{', '.join(cat)}]",
        f"real_columns: [{', '.join(real)}]",
        *split,
        f"window_length: {context + 1}",
        "max_target_offset: 1",
        f"window_stride: {stride}",
        f"seed: {seed}",
    ]
    if metadata:
        lines.append(f"metadata_config_path: {metadata}")
    return "\n".join(lines) + "\n"


def train_yaml(
    *, name: str, metadata: str, context: int, batch: int, dim: int, layers: int, heads: int, mlp_dim: int, lr: float, epochs: int,
    prediction_length: int, log_interval: int, compile: str = "none", evaluation: bool = True, seed: int = 0,
    position: str = "rope", dropout: float = 0.0, clip: float = 1.0, weight_decay: float = 0.01, export: bool = True,
) -> str:
    """The benchmark model: pre-norm RMSNorm, RoPE, MHA, SwiGLU, no dropout, AdamW(0.9, 0.95), constant LR, clip 1
    (the defaults; `position` is rope or learned, `clip` 0 turns clipping off, `export` False skips the ONNX export)."""
    position_yaml = "{type: rope, theta: 10000}" if position == "rope" else f"{{type: {position}}}"
    clip_yaml = f"  gradient_clip: {clip}\n" if clip else ""
    width = dim // len(COLUMNS)
    widths = {c: width for c in COLUMNS}
    widths[next(iter(COLUMNS))] += dim - width * len(COLUMNS)  # widths must add up to the model width exactly
    names = ", ".join(COLUMNS)
    criterion = ", ".join(f"{c}: {'CrossEntropyLoss' if k == 'categorical' else 'MSELoss'}" for c, k in COLUMNS.items())
    return f"""project_root: .
model_name: {name}
device: cpu
seed: {seed}

global_training:
  read_format: parquet
  training_objective: causal
  context_length: {context}
  inference_batch_size: 256
  batch_size: {batch}
  learning_rate: {lr}
  optimizer: {{name: AdamW, weight_decay: {weight_decay}, betas: [0.9, 0.95]}}
  scheduler: {{name: StepLR, step_size: 1, gamma: 1.0}}
  scheduler_step_on: epoch
{clip_yaml}  log_interval: {log_interval}
  torch_compile: {compile}
  calculate_validation_loss_on_initialization: false

model:
  backbone:
    architecture:
      dim_model: {dim}
      max_context_length: {context}
      num_layers: {layers}
      attention: {{type: mha, n_heads: {heads}}}
      feed_forward: {{dim: {mlp_dim}, activation: swiglu}}
      normalization: {{type: rmsnorm, norm_first: true}}
      position_encoding: {position_yaml}
      dropout: {dropout}
  interface:
    input_columns: [{names}]
    target_columns: [{names}]
    ingestion: {{type: embedding, output_dim: {dim}, feature_embedding_dims: {{{', '.join(f'{c}: {w}' for c, w in widths.items())}}}}}
    decoder: {{type: linear, prediction_length: {prediction_length}}}

dataset:
  part: {{metadata_config_path: {metadata}}}
  criterion: {{{criterion}}}

training_plan: {{epochs: {epochs}}}

evaluation: {'true' if evaluation else 'false'}

export_generative_model: {'true' if export else 'false'}
export_embedding_model: false
"""


def infer_yaml(*, model: str, data: str, metadata: str, generation_steps: int = 0, batch: int = 256) -> str:
    lines = [
        "project_root: .",
        f"model_path: {model}",
        "model_type: generative",
        f"data_path: {data}",
        f"metadata_config_path: {metadata}",
        "device: cpu",
        f"inference_batch_size: {batch}",
        "write_format: parquet",
    ]
    if generation_steps:
        lines += ["autoregressive: true", f"generation_steps: {generation_steps}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- logs


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*\|(.*)$")


def log_span(text: str, start: str, end: str) -> float | None:
    """Seconds between the first log line containing `start` and the last containing `end`."""
    first = last = None
    for line in text.splitlines():
        m = _STAMP.match(line.strip())
        if not m:
            continue
        stamp = dt.datetime.fromisoformat(m.group(1))
        if first is None and start in m.group(2):
            first = stamp
        if end in m.group(2):
            last = stamp
    if first is None or last is None:
        return None
    return (last - first).total_seconds()


def _utc(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def training_rows(project: pathlib.Path, name: str) -> list[dict]:
    """Rows of `logs/<name>/<name>-training-full.csv` for the total loss, with a unix time."""
    path = project / "logs" / name / f"{name}-training-full.csv"
    if not path.exists():
        return []
    rows = [r for r in csv.DictReader(path.open()) if r["target"] == "__total__"]
    for r in rows:
        r["t"] = _utc(r["timestamp_utc"])
        for k in ("epoch", "batch", "batches_total", "global_step", "window_batches"):
            r[k] = int(r[k])
    return rows


def validation_losses(project: pathlib.Path, name: str) -> list[dict]:
    """[{epoch, global_step, total, targets: {name: loss}}] per evaluation."""
    path = project / "logs" / name / f"{name}-validation-full.csv"
    if not path.exists():
        return []
    evals: dict[str, dict] = {}
    for r in csv.DictReader(path.open()):
        if r["metric"] != "loss":
            continue
        e = evals.setdefault(r["evaluation_id"], {"epoch": int(r["epoch"]), "global_step": int(r["global_step"]), "targets": {}})
        if r["target"] == "__total__":
            e["total"] = float(r["value"])
        else:
            e["targets"][r["target"]] = float(r["value"])
    return sorted(evals.values(), key=lambda e: e["global_step"])


def steady_tokens_per_s(rows: list[dict], tokens_per_step: int) -> dict:
    """Median tokens/s over log intervals inside an epoch, leaving out each epoch's first interval
    (it holds the previous epoch's evaluation and checkpoint, or start-up and warm-up)."""
    import statistics

    rates = []
    for prev, cur in zip(rows, rows[1:]):
        if cur["epoch"] != prev["epoch"] or cur["t"] <= prev["t"]:
            continue
        rates.append((cur["global_step"] - prev["global_step"]) * tokens_per_step / (cur["t"] - prev["t"]))
    return {"tokens_per_s": statistics.median(rates) if rates else None, "tokens_per_s_max": max(rates) if rates else None, "intervals": len(rates)}


def newest(project: pathlib.Path, pattern: str) -> pathlib.Path | None:
    found = sorted(project.glob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None
