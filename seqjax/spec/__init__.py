"""The experiment spec: frozen, typed dataclasses loaded from TOML and validated on load.

Relative paths in a spec resolve against the folder that holds the spec file, so
`seqjax run specs/example.toml` works from any working directory.
"""

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
    SpecError,
    SplitBy,
)
from seqjax.spec.encoders import (
    AggregateEncoder,
    AttentionEncoder,
    ConvEncoder,
    DecayEncoder,
    LinearEncoder,
    PositionalEncoder,
    RecurrentEncoder,
    TransformerEncoder,
)
from seqjax.spec.loading import (
    load_spec,
    parse_override,
    resolve_paths,
    spec_from_dict,
    to_dict,
)
from seqjax.spec.objectives import (
    ContrastiveObjective,
    NextObjective,
    SequenceObjective,
)
from seqjax.spec.representations import AutoencodeObjective, MaskedObjective
from seqjax.spec.sections import (
    AdamW,
    CheckpointSpec,
    ColumnSpec,
    Constant,
    Cosine,
    DataSpec,
    DistributedSpec,
    EarlyStopping,
    EmbedSpec,
    InferSpec,
    MeshSpec,
    ModelSpec,
    PreprocessSpec,
    Sampling,
    Spec,
    SplitSpec,
    TrainSpec,
)

__all__ = [
    "AggregateEncoder", "AttentionEncoder", "ContrastiveObjective", "ConvEncoder", "DecayEncoder", "NextObjective", "PositionalEncoder", "RecurrentEncoder",
    "SequenceObjective", "TransformerEncoder",
    "AutoencodeObjective", "LinearEncoder", "MaskedObjective",
    "AdamW", "CheckpointSpec", "ColumnKind", "ColumnSpec", "Constant", "Cosine", "DType", "DataSpec", "DistributedSpec",
    "EarlyStopping", "EmbedSpec", "InferMode", "InferSpec", "MeshSpec", "Mlp", "ModelSpec", "Norm", "OutputFormat", "Pooling",
    "Position", "PreprocessSpec", "Sampling", "ShardFormat", "Spec", "SpecError", "SplitBy", "SplitSpec", "TrainSpec",
    "load_spec", "parse_override", "resolve_paths", "spec_from_dict", "to_dict",
]
