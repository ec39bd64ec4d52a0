"""The spec's sections: frozen, typed dataclasses that validate themselves on construction."""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Literal

from seqjax.spec.choices import (
    ColumnKind,
    DType,
    InferMode,
    Mlp,
    Norm,
    OutputFormat,
    Pooling,
    Position,
    ShardFormat,
    SplitBy,
)
from seqjax.spec.choices import fail as _fail
from seqjax.spec.choices import suggest as _suggest
from seqjax.spec.encoders import Encoder, LastPooling, PoolingSpec, TransformerEncoder
from seqjax.spec.encoders import check as check_encoder
from seqjax.spec.finetune import check_freeze
from seqjax.spec.objectives import NextObjective, ObjectiveSpec
from seqjax.spec.search import SearchSpec
from seqjax.train.select import parse as parse_select
from seqjax.workdir import Workdir


@dataclasses.dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    name: str
    """Column name in the input table."""
    kind: ColumnKind
    """`categorical` (strings, integers or booleans; one embedding table) or `real` (numbers; standardised)."""
    max_categories: int = 10000
    """Categorical: at most this many of the most frequent train values get their own id, the others the unknown id (0: no limit)."""
    min_count: int = 1
    """Categorical: values seen fewer times in the train split get the unknown id, so the model learns what to expect of values it has not seen."""

    def __post_init__(self):
        if self.max_categories < 0:
            _fail(f"data.columns[{self.name!r}].max_categories", self.max_categories, "must be 0 (no limit) or positive")
        if self.min_count < 1:
            _fail(f"data.columns[{self.name!r}].min_count", self.min_count, "must be at least 1")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SplitSpec:
    by: SplitBy = SplitBy.SEQUENCE
    """`sequence`: whole sequences by a seeded hash of the id; `time`: each sequence cut by position."""
    fractions: tuple[float, ...] = (0.8, 0.1, 0.1)
    """Train, validation and test fractions (of sequences, or of each sequence's items)."""

    def __post_init__(self):
        if len(self.fractions) != 3 or any(f < 0 for f in self.fractions):
            _fail("data.split.fractions", list(self.fractions), "must be three non-negative numbers (train, validation, test)")
        if not math.isclose(sum(self.fractions), 1.0, abs_tol=1e-6) or self.fractions[0] <= 0:
            _fail("data.split.fractions", list(self.fractions), "must sum to 1 with a positive train fraction")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSpec:
    input: str
    """A parquet or csv file, a folder of them, or a glob."""
    columns: tuple[ColumnSpec, ...]
    """Feature columns; every one is a model input."""
    context: int = 64
    """Items the model sees; a window holds `context + 1` items (inputs plus the next-item targets)."""
    stride: int = 0
    """Items between window starts; 0 means `context` (windows that do not overlap)."""
    start: bool = False
    """Next-item objective: predict each sequence's first item too, from a start slot before it (categorical ids 0,
    real values 0); `infer.mode = "score"` then scores every item. Off: an item is predicted only from items before it."""
    id_column: str = "sequenceId"
    """Column holding the sequence id (string or integer)."""
    position_column: str = "itemPosition"
    """Integer column ordering the items within a sequence."""
    split: SplitSpec = SplitSpec()
    """How items are divided into train, validation and test splits."""
    format: ShardFormat = ShardFormat.ARRAYRECORD
    """Shard file format: `arrayrecord`, one window or sequence per record (random access under shuffling; the only format)."""
    shard_windows: int = 65536
    """Windows (or sequences) per shard file."""
    labels: str = ""
    """A table of one row per sequence: the id column and label columns (and optionally `split_column`, static features)."""
    label_columns: tuple[ColumnSpec, ...] = ()
    """The labels table's columns to predict; empty: all its columns but the id, the split column and static features,
    strings, booleans and integers categorical, floats real."""
    static: tuple[ColumnSpec, ...] = ()
    """Features of a whole sequence: found in `static_input`, else the labels table, else the item table (constant within each sequence)."""
    static_input: str = ""
    """A table of one row per sequence with static features (optional)."""
    split_column: str = "split"
    """A column of the labels table holding `train`, `valid` or `test` per sequence (an official split); used when present."""
    max_length: int = 256
    """Whole sequences (objectives that read them): at most this many items each; longer ones are cut."""
    truncate: Literal["last", "first"] = "last"
    """Which items a sequence longer than `max_length` keeps: its last ones (the most recent) or its first ones."""
    buckets: tuple[int, ...] = ()
    """Whole sequences: batches come from length buckets with these upper boundaries (items); empty derives them from length quantiles."""
    bucket_count: int = 4
    """Whole sequences: buckets derived from the train split's length quantiles when `buckets` is empty."""

    def __post_init__(self):
        if self.context < 1:
            _fail("data.context", self.context, "must be at least 1")
        if self.stride < 0 or self.stride > self.context:
            _fail("data.stride", self.stride, f"must be 0 (= context) or in 1..data.context ({self.context}): a longer stride skips items")
        if self.shard_windows < 1:
            _fail("data.shard_windows", self.shard_windows, "must be at least 1")
        if not self.columns:
            _fail("data.columns", [], "needs at least one feature column")
        names = [c.name for c in self.columns]
        for name in names:
            if names.count(name) > 1:
                _fail("data.columns", name, "each column may appear only once")
            if name in (self.id_column, self.position_column):
                _fail("data.columns", name, f"must not repeat the id or position column ({self.id_column}, {self.position_column})")
        for label in self.label_columns:
            if label.name in names:
                _fail("data.label_columns", label.name, "is also an item column (data.columns); a label is one value per sequence")
        statics = [c.name for c in self.static]
        for name in statics:
            if statics.count(name) > 1 or name in [c.name for c in self.label_columns]:
                _fail("data.static", name, "each static feature may appear only once, and not as a label column")
        if self.max_length < 1:
            _fail("data.max_length", self.max_length, "must be at least 1")
        if list(self.buckets) != sorted(set(self.buckets)) or any(b < 1 for b in self.buckets):
            _fail("data.buckets", list(self.buckets), "must be increasing positive lengths")
        if self.bucket_count < 1:
            _fail("data.bucket_count", self.bucket_count, "must be at least 1")

    @property
    def window_stride(self) -> int:
        return self.stride or self.context

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSpec:
    encoder: Encoder = TransformerEncoder()
    """How items become per-item states; the other keys of [model] set its sizes."""
    pooling: PoolingSpec = LastPooling()
    """How per-item states become one vector per sequence."""
    dim: int = 128
    """Width of the residual stream."""
    layers: int = 4
    """Transformer blocks."""
    heads: int = 4
    """Attention heads; must divide `dim`."""
    kv_heads: int = 0
    """Key/value heads for grouped-query attention; 0 means `heads` (plain multi-head attention)."""
    mlp_ratio: float = 4.0
    """MLP hidden width as a multiple of `dim` (SwiGLU uses 2/3 of it per branch)."""
    position: Position = Position.ROPE
    """Position encoding: `rope`, `learned`, `sinusoidal` or `none`."""
    norm: Norm = Norm.RMSNORM
    """Normalisation layer: `rmsnorm` or `layernorm`."""
    mlp: Mlp = Mlp.SWIGLU
    """Feed-forward block: `swiglu` or `gelu`."""
    dropout: float = 0.0
    """Dropout rate on the input embedding and on attention and MLP outputs, during training."""
    dtype: DType = DType.FLOAT32
    """Compute dtype; parameters, optimizer state and losses stay float32."""
    rope_base: float = 10000.0
    """Base of the rotary position frequencies (position = rope)."""
    remat: bool = False
    """Recompute each block's activations in the backward pass instead of storing them (less memory, more compute)."""

    def __post_init__(self):
        for key in ("dim", "layers", "heads"):
            if getattr(self, key) < 1:
                _fail(f"model.{key}", getattr(self, key), "must be at least 1")
        if self.dim % self.heads:
            _fail("model.heads", self.heads, f"must divide model.dim ({self.dim})")
        if self.kv_heads < 0 or self.heads % self.num_kv_heads:
            _fail("model.kv_heads", self.kv_heads, f"must be 0 or divide model.heads ({self.heads})")
        if (self.dim // self.heads) % 2 and self.position == Position.ROPE:
            _fail("model.heads", self.heads, f"rope needs an even head width; model.dim / model.heads = {self.dim // self.heads}")
        if not 0.0 <= self.dropout < 1.0:
            _fail("model.dropout", self.dropout, "must be in [0, 1)")
        if self.mlp_ratio <= 0:
            _fail("model.mlp_ratio", self.mlp_ratio, "must be positive")

    @property
    def num_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def mlp_dim(self) -> int:
        width = self.mlp_ratio * self.dim * (2 / 3 if self.mlp == Mlp.SWIGLU else 1)
        return max(8, int(round(width / 8)) * 8)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdamW:
    """AdamW with global gradient-norm clipping."""

    kind: Literal["adamw"] = "adamw"
    lr: float = 3e-4
    """Peak learning rate."""
    weight_decay: float = 0.01
    """Decoupled weight decay."""
    b1: float = 0.9
    """Decay rate of the first-moment (mean) estimate."""
    b2: float = 0.95
    """Decay rate of the second-moment (variance) estimate."""
    clip: float = 1.0
    """Global gradient-norm clip; 0 turns clipping off."""

    def __post_init__(self):
        if self.lr <= 0:
            _fail("train.optimizer.lr", self.lr, "must be positive")
        if self.clip < 0:
            _fail("train.optimizer.clip", self.clip, "must be 0 (off) or positive")

    def build(self, schedule):
        import optax

        adamw = optax.adamw(schedule, b1=self.b1, b2=self.b2, weight_decay=self.weight_decay)
        return optax.chain(optax.clip_by_global_norm(self.clip), adamw) if self.clip else adamw


@dataclasses.dataclass(frozen=True, kw_only=True)
class Cosine:
    """Linear warmup, then cosine decay to `final` times the peak at the last step."""

    kind: Literal["cosine"] = "cosine"
    warmup: int = 100
    """Steps of linear warmup from 0 to the peak."""
    final: float = 0.1
    """Learning rate at the last step, as a fraction of the peak."""

    def __post_init__(self):
        if self.warmup < 0:
            _fail("train.schedule.warmup", self.warmup, "must be 0 or positive")

    uses_steps = True
    """The learning rate at a step depends on `train.steps`."""

    def build(self, peak: float, steps: int):
        import optax

        warmup = min(self.warmup, max(steps - 1, 0))
        return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, max(steps, warmup + 1), peak * self.final)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Constant:
    """Linear warmup, then the peak learning rate throughout."""

    kind: Literal["constant"] = "constant"
    warmup: int = 0
    """Steps of linear warmup from 0 to the peak; 0 starts at the peak."""

    uses_steps = False

    def __post_init__(self):
        if self.warmup < 0:
            _fail("train.schedule.warmup", self.warmup, "must be 0 or positive")

    def build(self, peak: float, steps: int):
        import optax

        if not self.warmup:
            return optax.constant_schedule(peak)
        return optax.join_schedules([optax.linear_schedule(0.0, peak, self.warmup), optax.constant_schedule(peak)], [self.warmup])


@dataclasses.dataclass(frozen=True, kw_only=True)
class EarlyStopping:
    patience: int = 0
    """Evaluations without a better validation loss before training stops; 0 never stops early."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainSpec:
    targets: tuple[str, ...]
    """Columns the objective predicts (`next`: item columns, each one item ahead; `contrastive`: none, `[]`)."""
    objective: ObjectiveSpec = NextObjective()
    """What the run learns."""
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    """Loss weight per target (default 1)."""
    batch_size: int = 64
    """Global batch, split over the `data` and `fsdp` mesh axes."""
    steps: int = 1000
    """Optimizer steps to train for."""
    optimizer: AdamW = AdamW()
    """The optimizer and its settings."""
    schedule: Cosine | Constant = Cosine()
    """Learning-rate schedule over `steps`, peaking at `optimizer.lr`."""
    accumulate: int = 1
    """Micro-batches per optimizer step (gradient accumulation); `batch_size` stays the global batch per step."""
    eval_every: int = 200
    """Steps between evaluations on the validation split (one also runs at the last step)."""
    eval_batches: int = 0
    """Validation batches per evaluation; 0 evaluates the whole validation split."""
    log_every: int = 50
    """Steps between training-loss lines in metrics.jsonl and TensorBoard."""
    early_stopping: EarlyStopping = EarlyStopping()
    """Stop when the selected validation figure (`select`) stops improving."""
    select: str = "valid.loss"
    """The validation figure that picks the best checkpoint and drives early stopping: `valid.loss`, `valid.<metric>`
    (mean over targets, e.g. `valid.accuracy`) or `valid.targets.<target>.<metric>`; metrics loss, log_loss, mae,
    rmse, accuracy, balanced_accuracy, macro_f1, roc_auc, r2."""
    init: str = ""
    """A trained run (its folder or spec file) whose input embeddings, encoder and pooling start this run (fine-tuning);
    heads and static fusion start fresh. Empty: a fresh initialisation."""
    freeze: tuple[str, ...] = ()
    """Parts kept fixed while training (no optimizer state): `embed` (input embeddings), `encoder` (all of it),
    `layer.<index>` (one encoder layer), `pooling`, `statics`, `heads`."""

    def __post_init__(self):
        for key in ("batch_size", "steps", "accumulate", "eval_every", "log_every"):
            if getattr(self, key) < 1:
                _fail(f"train.{key}", getattr(self, key), "must be at least 1")
        if not self.targets and getattr(self.objective, "needs_targets", True):
            _fail("train.targets", [], "needs at least one target column")
        if self.batch_size % self.accumulate:
            _fail("train.accumulate", self.accumulate, f"must divide train.batch_size ({self.batch_size})")
        try:
            target, _ = parse_select(self.select)
        except ValueError as error:
            _fail("train.select", self.select, str(error))
        if target is not None and target not in self.targets:
            _fail("train.select", self.select, f"{target!r} is not a target; targets are {list(self.targets)}{_suggest(target, self.targets)}")
        check_freeze(self.freeze)
        for name, weight in self.weights.items():
            if name not in self.targets:
                _fail(f"train.weights.{name}", weight, f"names no target; targets are {list(self.targets)}")
            if weight < 0:
                _fail(f"train.weights.{name}", weight, "must be 0 or positive")

    def weight(self, target: str) -> float:
        return self.weights.get(target, 1.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeshSpec:
    """Device mesh sizes; -1 takes all devices left over by the other axes."""

    data: int = -1
    """Data-parallel size: devices that each train on their own part of the batch."""
    fsdp: int = 1
    """Fully sharded size: parameters and optimizer state split over these devices."""
    tensor: int = 1
    """Tensor-parallel size: attention heads and MLP width split over these devices."""
    cpu_devices: int = 0
    """On a host without accelerators, the devices the `seqjax` command makes of its cores: 0 chooses (one
    single-threaded device per core on 2-4 cores when the batch splits over them, else one), 1 keeps one device,
    N makes N; the environment variable SEQJAX_CPU_DEVICES wins over it. See seqjax/cpu.py."""

    def __post_init__(self):
        if self.cpu_devices < 0:
            _fail("mesh.cpu_devices", self.cpu_devices, "must be 0 (automatic), 1 (one device) or a device count")
        sizes = {"data": self.data, "fsdp": self.fsdp, "tensor": self.tensor}
        for key, size in sizes.items():
            if size == 0 or size < -1:
                _fail(f"mesh.{key}", size, "must be a positive size or -1 (all remaining devices)")
        if list(sizes.values()).count(-1) > 1:
            _fail("mesh", sizes, "at most one axis may be -1")

    @property
    def fixed(self) -> bool:
        """Every axis has a fixed size (none takes the remaining devices)."""
        return -1 not in (self.data, self.fsdp, self.tensor)

    def shape(self, devices: int) -> tuple[int, int, int]:
        sizes = [self.data, self.fsdp, self.tensor]
        fixed = math.prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if devices % fixed:
                _fail("mesh", dict(zip(("data", "fsdp", "tensor"), sizes)), f"fixed axes ({fixed}) must divide the {devices} devices")
            sizes[sizes.index(-1)] = devices // fixed
        elif fixed != devices:
            _fail("mesh", dict(zip(("data", "fsdp", "tensor"), sizes)), f"sizes multiply to {fixed} but there are {devices} devices")
        return tuple(sizes)

    def check(self, model: ModelSpec, batch_size: int, sizes: tuple[int, int, int] | None = None) -> None:
        """The model's widths split evenly over the axes: `tensor` divides the heads, kv heads and MLP width,
        `fsdp` the model width, and `data x fsdp` the batch. `sizes` are the resolved sizes; without them only
        the fixed (not -1) sizes are checked, as `seqjax validate` can before the devices are known."""
        data, fsdp, tensor = sizes or (self.data, self.fsdp, self.tensor)
        if tensor > 1:
            for key, width in (("model.heads", model.heads), ("model.kv_heads", model.num_kv_heads), ("model.mlp_ratio (MLP width)", model.mlp_dim)):
                if width % tensor:
                    _fail("mesh.tensor", tensor, f"must divide {key} = {width}")
        if fsdp > 1 and model.dim % fsdp:
            _fail("mesh.fsdp", fsdp, f"must divide model.dim = {model.dim}")
        if data > 0 and fsdp > 0 and batch_size % (data * fsdp):
            _fail("train.batch_size", batch_size, f"must be divisible by the {data * fsdp} devices of the mesh axes ('data', 'fsdp') ({data} x {fsdp})")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckpointSpec:
    every: int = 500
    """Steps between checkpoints (a final one is always written)."""
    keep: int = 3
    """Latest checkpoints kept, besides the best one."""

    def __post_init__(self):
        if self.every < 1:
            _fail("checkpoint.every", self.every, "must be at least 1")
        if self.keep < 1:
            _fail("checkpoint.keep", self.keep, "must be at least 1")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampling:
    temperature: float = 0.0
    """0 is greedy (argmax); otherwise logits are divided by it before sampling."""
    top_k: int = 0
    """Sample among the k most likely classes; 0 keeps all."""
    top_p: float = 1.0
    """Sample among the most likely classes whose probabilities add up to p; 1 keeps all."""
    seed: int = 0
    """Seed of the draws; a sequence's draws depend only on it, the sequence, the step and the column."""

    def __post_init__(self):
        if self.temperature < 0:
            _fail("infer.sampling.temperature", self.temperature, "must be 0 (greedy) or positive")
        if self.top_k < 0:
            _fail("infer.sampling.top_k", self.top_k, "must be 0 (all classes) or positive")
        if not 0.0 < self.top_p <= 1.0:
            _fail("infer.sampling.top_p", self.top_p, "must be in (0, 1]")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmbedSpec:
    layer: int = -1
    """Which block's output to embed: 0..layers-1, or -1 for the final (normed) hidden state."""
    pooling: Pooling = Pooling.LAST
    """`last`: the last item's state; `mean`: the mean over real items."""
    per: Literal["sequence", "window", "item"] = "sequence"
    """One vector per sequence (its last window), one per window, or one per item (`next` and `masked` objectives)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InferSpec:
    mode: InferMode = InferMode.PREDICT
    """What to compute: `predict`, `probabilities`, `generate`, `embed` or `score` (every item's log-probability or error)."""
    split: Literal["train", "valid", "test"] = "test"
    """Which preprocessed split to read when no `input` is given."""
    input: str = ""
    """Raw long-format data (file, folder or glob) to infer on instead of a split; stored vocabularies and statistics apply."""
    static: str = ""
    """Sequence objectives on new data: a table of one row per sequence with its static features (else they are
    read from constant columns of the input)."""
    output: str = ""
    """Where results go; default `workdir/predictions/<split>.<format>` for predict on a split, else `workdir/predictions/<mode>-<split or input name>.<format>`."""
    format: OutputFormat = OutputFormat.PARQUET
    """Output file format: `parquet` or `csv`."""
    batch_size: int = 256
    """Windows per inference batch (the largest of the padded batch sizes)."""
    steps: int = 10
    """Items to generate per sequence (mode = generate)."""
    sampling: Sampling = Sampling()
    """How generated categorical items are drawn (mode = generate)."""
    embed: EmbedSpec = EmbedSpec()
    """Which states become embeddings (mode = embed)."""

    def __post_init__(self):
        if self.batch_size < 1:
            _fail("infer.batch_size", self.batch_size, "must be at least 1")
        suffix = pathlib.Path(self.output).suffix
        if self.output and suffix != f".{self.format.value}":
            _fail("infer.output", self.output, f"must end in .{self.format.value} (infer.format = {self.format.value!r}; set both to write another format)")
        if self.steps < 1:
            _fail("infer.steps", self.steps, "must be at least 1")
        if self.mode == InferMode.SCORE and self.split == "train" and not self.input:
            _fail("infer.split", self.split, "infer.mode 'score' scores each item once: use 'valid' or 'test' (train windows overlap), or infer.input")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PreprocessSpec:
    workers: int = 1
    """Worker processes; each reads, sorts, windows and writes its own buckets of sequences."""
    buckets: int = 0
    """Buckets of sequences (id ranges of about equal row counts) processed one at a time per worker (bounds memory); 0 picks from the input size."""

    def __post_init__(self):
        if self.workers < 1:
            _fail("preprocess.workers", self.workers, "must be at least 1")
        if self.buckets < 0:
            _fail("preprocess.buckets", self.buckets, "must be 0 (automatic) or positive")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistributedSpec:
    """Multi-process jobs; left empty, JAX detects SLURM, Open MPI and Cloud TPU by itself."""

    coordinator_address: str = ""
    """host:port of process 0; empty reads JAX_COORDINATOR_ADDRESS or auto-detects."""
    num_processes: int = 0
    """0 reads JAX_NUM_PROCESSES or auto-detects."""
    process_id: int = -1
    """-1 reads JAX_PROCESS_ID or auto-detects."""
    cpu_collectives: Literal["gloo", "mpi", "none"] = "gloo"
    """Collectives between CPU processes (tests and CPU clusters)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Spec:
    """An experiment: the data, the model, how to train it, what to infer, and optionally a search over these."""

    data: DataSpec
    """The input table and how it becomes windows."""
    train: TrainSpec
    """What to learn and how to optimise it."""
    name: str = "seqjax"
    """Name of the experiment (also the default study name of `seqjax search`)."""
    seed: int = 0
    """Seed of the split, the initialisation, dropout and data order."""
    workdir: str = "runs/seqjax"
    """Where shards, checkpoints, metrics and predictions go."""
    compilation_cache: bool = True
    """Keep compiled programs in the user's cache folder between commands (see the README)."""
    model: ModelSpec = ModelSpec()
    """The network: encoder, pooling and sizes."""
    mesh: MeshSpec = MeshSpec()
    """How the devices split the work."""
    checkpoint: CheckpointSpec = CheckpointSpec()
    """When checkpoints are written and how many are kept."""
    infer: InferSpec = InferSpec()
    """What `seqjax infer` computes, on which data, and where it writes."""
    preprocess: PreprocessSpec = PreprocessSpec()
    """Speed and memory of preprocessing (never its output)."""
    distributed: DistributedSpec = DistributedSpec()
    """How the processes of a multi-host job find each other; usually left empty."""
    search: SearchSpec = SearchSpec()
    """A hyperparameter study over the other keys (`seqjax search`); `seqjax run` ignores it."""

    def __post_init__(self):
        self.train.objective.check(self)
        check_encoder(self.model, self.train.objective.kind)
        check_freeze(self.train.freeze, self.model.layers)
        self.mesh.check(self.model, self.train.batch_size)
        layers = self.model.layers
        if not -1 <= self.infer.embed.layer < layers:
            _fail("infer.embed.layer", self.infer.embed.layer, f"must be -1 (final normed state) or a block index 0..{layers - 1}")
        self.search.check(self)

    @property
    def workpath(self) -> pathlib.Path:
        return pathlib.Path(self.workdir)

    @property
    def paths(self) -> Workdir:
        """Every path under the workdir."""
        return Workdir(self.workpath)
