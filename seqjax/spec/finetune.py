"""`[train] init` and `freeze`: which parts of a model a name means (checked at load, no JAX needed).

A parameter's path starts with its part: `embed` (the input embedding), `pooling`, `statics` (static
feature fusion), `heads`; everything else belongs to the encoder, whose layers sit in a numbered list
(`blocks` of a transformer, `layers` of a convolution or aggregation, `forward` / `backward` of a
recurrent encoder), so `layer.1` is each family's second layer.
"""

from __future__ import annotations

from seqjax.spec.choices import SpecError

PARTS = ("embed", "encoder", "pooling", "statics", "heads")
"""Names `train.freeze` takes besides `layer.<index>`."""

SIDE = ("embed", "pooling", "statics", "heads")
"""Parts outside the encoder (the first key of their parameters' paths)."""

LAYER_LISTS = ("blocks", "layers", "forward", "backward")
"""Where encoder families keep their numbered layers."""


def layer_index(name: str) -> int | None:
    """The index of `layer.<i>`, else None."""
    prefix, _, index = name.partition(".")
    return int(index) if prefix == "layer" and index.isdigit() else None


def check_freeze(freeze: tuple[str, ...], layers: int | None = None) -> None:
    """Every name is a part or `layer.<i>` with i < `layers` (when known), each once."""
    for name in freeze:
        index = layer_index(name)
        if name not in PARTS and index is None:
            raise SpecError(f"train.freeze = {list(freeze)!r}: {name!r} is not a part; parts are {list(PARTS)} and 'layer.<index>'")
        if index is not None and layers is not None and index >= layers:
            raise SpecError(f"train.freeze = {list(freeze)!r}: {name!r}: model.layers = {layers}, so layers are 0..{layers - 1}")
        if freeze.count(name) > 1:
            raise SpecError(f"train.freeze = {list(freeze)!r}: {name!r} appears more than once")


def part_of(path: tuple[str, ...]) -> str:
    """The part a parameter path belongs to."""
    return path[0] if path[0] in SIDE else "encoder"


def is_frozen(path: tuple[str, ...], freeze: tuple[str, ...]) -> bool:
    """Whether `freeze` names the parameter at `path` (its part, or its encoder layer)."""
    if part_of(path) in freeze:
        return True
    return len(path) > 1 and path[0] in LAYER_LISTS and f"layer.{path[1]}" in freeze
