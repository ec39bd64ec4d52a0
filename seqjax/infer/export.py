"""`seqjax export`: serialized (jax.export / StableHLO) inference functions that run with jax + numpy only.

`workdir/export/` holds:
  model.json      what each function takes and returns, column order, vocabularies, statistics
  metadata.json   a copy of the run's data metadata
  weights.npz     parameters as plain arrays, keyed by their path ("blocks/0/attention/q/kernel");
                  load with `dict(np.load(path))` (numpy's default allow_pickle=False)
  <name>.jax      `jax.export` artifacts; the batch dimension is symbolic ("b")
Use: `jax.export.deserialize(bytearray(open("next.jax", "rb").read())).call(weights, cat, real, mask)`.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from seqjax import faults, files
from seqjax.infer import generate
from seqjax.infer.api import Predictor
from seqjax.model import KVCache
from seqjax.spec import Spec

FORMAT_VERSION = 1


def flat_weights(params: nnx.State) -> dict[str, np.ndarray]:
    """Parameters as host arrays keyed by "/"-joined paths."""
    return {"/".join(map(str, path)): np.asarray(jax.device_get(var.get_value())) for path, var in nnx.to_flat_state(params)}


def _rebuilder(params: nnx.State):
    """weights dict -> nnx.State shaped like `params` (used inside the exported functions)."""
    flat = list(nnx.to_flat_state(params))

    def rebuild(weights: dict[str, jax.Array]) -> nnx.State:
        return nnx.from_flat_state([(path, var.replace(weights["/".join(map(str, path))])) for path, var in flat])

    return rebuild


def _stack(cache: list[KVCache]) -> dict[str, jax.Array]:
    """Per-layer caches -> plain arrays: k, v [layers, b, S, G, K]; mask [b, S]; index (int32)."""
    return {"k": jnp.stack([c.k_BSGK for c in cache]), "v": jnp.stack([c.v_BSGK for c in cache]), "mask": cache[0].mask_BS, "index": cache[0].index}


def _unstack(cache: dict[str, jax.Array]) -> list[KVCache]:
    return [KVCache(k, v, cache["mask"], cache["index"]) for k, v in zip(cache["k"], cache["v"])]


def _last(outputs: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return {k: v[:, -1] for k, v in outputs.items()}


def sequence_functions(predictor: Predictor) -> dict[str, tuple]:
    """A sequence objective's functions: `sequence` (one output per sequence) and `embed` (what its heads read), over
    right-aligned batches of any length up to `context` (symbolic b and n)."""
    shared, meta = predictor.functions, predictor.meta
    rebuild = _rebuilder(shared.params)
    b, n = jax.export.symbolic_shape("b, n", constraints=(f"n <= {meta.context}",))
    C, R = len(meta.categorical), len(meta.real)
    Sc, Sr = sum(c.categorical for c in meta.statics), sum(not c.categorical for c in meta.statics)
    args = (
        jax.ShapeDtypeStruct((b, n, C), jnp.int32), jax.ShapeDtypeStruct((b, n, R), jnp.float32), jax.ShapeDtypeStruct((b, n), jnp.bool_),
        jax.ShapeDtypeStruct((b, n), jnp.int32), jax.ShapeDtypeStruct((b, Sc), jnp.int32), jax.ShapeDtypeStruct((b, Sr), jnp.float32),
    )  # fmt: skip

    def on_weights(fn):
        return lambda weights, *rest: fn(rebuild(weights), *rest)

    return {"sequence": (on_weights(shared.pure("sequence")), args), "embed": (on_weights(shared.pure("sequence_embed")), args)}


def functions(predictor: Predictor, spec: Spec) -> dict[str, tuple]:
    """name -> (function of (weights, ...), abstract arguments after the weights).

    next, embed and generate are the very functions inference compiles (predictor.functions.pure).
    """
    if predictor.objective.view == "sequences":
        return sequence_functions(predictor)
    shared = predictor.functions
    net, rebuild = shared.net, _rebuilder(shared.params)
    meta, embed_spec = predictor.meta, spec.infer.embed
    L, C, R = meta.context, len(meta.categorical), len(meta.real)
    b = jax.export.symbolic_shape("b")[0]
    # prefill takes any length up to the cache's `context` slots (its own symbolic scope: b, n)
    b_prefill, n = jax.export.symbolic_shape("b, n", constraints=(f"n <= {L}",))

    def items(batch, length):
        return tuple(jax.ShapeDtypeStruct((batch, length, *tail), dtype) for tail, dtype in (((C,), jnp.int32), ((R,), jnp.float32), ((), jnp.bool_)))

    window, prefix, item, scored = items(b, L), items(b_prefill, n), items(b, 1), items(b, L + 1)
    scalars = (jax.ShapeDtypeStruct((), jnp.uint32), jax.ShapeDtypeStruct((), jnp.float32), jax.ShapeDtypeStruct((), jnp.int32), jax.ShapeDtypeStruct((), jnp.float32))
    G, K, layers = spec.model.num_kv_heads, spec.model.head_dim, spec.model.layers
    dtype = jnp.dtype(str(spec.model.dtype))
    cache = {
        "k": jax.ShapeDtypeStruct((layers, b, L, G, K), dtype),
        "v": jax.ShapeDtypeStruct((layers, b, L, G, K), dtype),
        "mask": jax.ShapeDtypeStruct((b, L), jnp.bool_),
        "index": jax.ShapeDtypeStruct((), jnp.int32),
    }

    def on_weights(fn):
        return lambda weights, *args: fn(rebuild(weights), *args)

    next_fn = on_weights(shared.pure("next"))
    embed_fn = on_weights(shared.pure("embed", layer=embed_spec.layer, pooling=embed_spec.pooling))

    def prefill_fn(weights, cat, real, mask):
        model = net.model(rebuild(weights))
        outputs, new_cache = model(cat, real, mask, cache=model.init_cache(cat.shape[0], L))
        return _last(outputs), _stack(new_cache)

    def decode_fn(weights, cache, cat, real, mask):
        outputs, new_cache = net.model(rebuild(weights))(cat, real, mask, cache=_unstack(cache))
        return _last(outputs), _stack(new_cache)

    generate_fn = on_weights(shared.pure("generate", steps=spec.infer.steps))

    rows = jax.ShapeDtypeStruct((b,), jnp.int32)
    fns = {"next": (next_fn, window), "embed": (embed_fn, window), "prefill": (prefill_fn, prefix), "decode": (decode_fn, (cache, *item))}
    fns["score"] = (on_weights(shared.pure("score")), scored)
    if all(c.name in net.targets for c in meta.columns):
        fns["generate"] = (generate_fn, (*window, rows, *scalars))
    return fns


def describe_sequences(predictor: Predictor, spec: Spec, names: list[str]) -> dict:
    """model.json of a sequence objective."""
    meta = predictor.meta

    def columns(metas):
        return {
            "categorical": [{"name": c.name, "dtype": c.dtype, "vocab": list(c.vocab)} for c in metas if c.categorical],
            "real": [{"name": c.name, "mean": c.mean, "std": c.std} for c in metas if not c.categorical],
        }

    inputs_ = "(weights, cat [b, n, C] int32, real [b, n, R] float32, mask [b, n] bool, order [b, n] int32, static_cat [b, Sc] int32, static_real [b, Sr] float32)"
    return {
        "format_version": FORMAT_VERSION,
        "objective": "sequence",
        "platforms": [jax.default_backend()],
        "checkpoint_step": predictor.step,
        "max_length": meta.context,
        "id_column": meta.id_column,
        "reserved_ids": {"padding": 0, "unknown": 1, "first_class": 2},
        "columns": columns(meta.columns),
        "labels": columns(meta.labels),
        "statics": columns(meta.statics),
        "targets": list(predictor.functions.net.targets),
        "inputs": {
            "note": "sequences are right-aligned: the last slot holds the last item, shorter sequences are left-padded (mask false, cat 0, "
            "real 0, order 0); order is the item's index in its sequence (0 first); n <= max_length; ids are vocab index + 2 (1 for "
            "unseen values); reals are (x - mean) / std with the columns' statistics",
        },
        "functions": {
            "sequence": inputs_ + " -> {predicted: {target: class id or standardised value [b]}, probabilities: {categorical target: [b, V]}}",
            "embed": inputs_ + f" -> float32 [b, {spec.model.dim}]: what the heads read",
        },
        "files": {name: f"{name}.jax" for name in names} | {"weights": "weights.npz", "metadata": "metadata.json"},
    }


def describe(predictor: Predictor, spec: Spec, names: list[str]) -> dict:
    """model.json: everything a caller needs besides jax and numpy."""
    if predictor.objective.view == "sequences":
        return describe_sequences(predictor, spec, names)
    meta = predictor.meta
    window = {"cat": ["b", meta.context, len(meta.categorical), "int32"], "real": ["b", meta.context, len(meta.real), "float32"], "mask": ["b", meta.context, "bool"]}
    info = {
        "format_version": FORMAT_VERSION,
        "platforms": [jax.default_backend()],
        "checkpoint_step": predictor.step,
        "context": meta.context,
        "start": meta.start,
        "id_column": meta.id_column,
        "position_column": meta.position_column,
        "reserved_ids": {"padding": 0, "unknown": 1, "first_class": 2},
        "columns": {
            "categorical": [{"name": c.name, "dtype": c.dtype, "vocab": list(c.vocab)} for c in meta.categorical],
            "real": [{"name": c.name, "mean": c.mean, "std": c.std} for c in meta.real],
        },
        "targets": list(predictor.functions.net.targets),
        "inputs": {
            "window": window,
            "note": "windows are right-aligned: the last slot holds the last item, shorter sequences are left-padded "
            "(mask false, cat 0, real 0); cat holds ids (vocab index + 2, 1 for unseen values); real holds (x - mean) / std",
        },
        "functions": {
            "next": "(weights, cat, real, mask) -> {predicted: {target: argmax id (categorical) or standardised value (real)}, "
            "probabilities: {categorical target: [b, V] probabilities}}",
            "embed": f"(weights, cat, real, mask) -> float32 [b, {spec.model.dim}] from layer {spec.infer.embed.layer}, pooling {spec.infer.embed.pooling.value}",
            "score": f"(weights, cat [b, {meta.context + 1}, C], real [b, {meta.context + 1}, R], mask [b, {meta.context + 1}]) -> "
            f"{{logp: {{categorical target: [b, {meta.context}] log-probability of the true id of item j + 1}}, predicted: {{target: [b, {meta.context}] "
            "argmax id or standardised value}}: slot j scores item j + 1 (where mask[j] and mask[j + 1]); windows of context + 1 items"
            + (", the slot before a sequence's first item a start item (mask true, cat 0, real 0)" if meta.start else ""),
            "prefill": "(weights, cat [b, n, C], real [b, n, R], mask [b, n]) with n <= context, items at positions 0..n-1 -> "
            "(outputs at the last item: logits [b, V] or standardised value [b] per target, cache of `context` slots)",
            "decode": "(weights, cache, cat [b, 1, C], real [b, 1, R], mask [b, 1]) -> (outputs, cache): one more item at position cache.index; "
            "when cache.index reaches context, prefill the last `generate.kept` items again (what `generate` does)",
            "generate": f"(weights, cat, real, mask, rows int32 [b], seed uint32, temperature f32, top_k i32, top_p f32) -> "
            f"(cat ids [b, {spec.infer.steps}, C], standardised real [b, {spec.infer.steps}, R]); rows seed each sequence's draws",
        },
        "generate": {"steps": spec.infer.steps, "window": meta.context, "refresh": generate.refresh(meta.context), "kept": generate.kept(meta.context)},
        "files": {name: f"{name}.jax" for name in names} | {"weights": "weights.npz", "metadata": "metadata.json"},
    }
    info["functions"] = {k: v for k, v in info["functions"].items() if k in names}
    return info


def export(spec: Spec, *, predictor: Predictor | None = None) -> pathlib.Path:
    """Write `workdir/export/` (replacing an earlier export whole)."""
    files.check_replaceable(spec.paths.export)
    predictor = predictor or Predictor(spec)
    with files.building(spec.paths.export, "export") as tmp:
        weights = flat_weights(predictor.functions.params)
        abstract_weights = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in weights.items()}
        fns = functions(predictor, spec)
        for name, (fn, args) in fns.items():
            exported = jax.export.export(jax.jit(fn))(abstract_weights, *args)
            (tmp / f"{name}.jax").write_bytes(exported.serialize())
            faults.reached("export.artifact")
        np.savez(tmp / "weights.npz", **weights)
        shutil.copy(spec.paths.metadata_file, tmp / "metadata.json")
        (tmp / "model.json").write_text(json.dumps(describe(predictor, spec, list(fns)), indent=1))
    return spec.paths.export
