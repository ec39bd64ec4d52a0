"""Exported artifacts run in a fresh process with only jax and numpy, and match the in-process functions."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from seqjax.infer.export import export
from seqjax.infer.inputs import encode
from seqjax.infer.modes import model_inputs
from seqjax.infer.sources import encoded_source

SEED, TEMPERATURE, TOP_K, TOP_P = 5, 1.0, 3, 0.9

# Runs in a fresh interpreter: imports nothing but jax, numpy and json.
CONSUMER = """
import json, sys
import jax
import numpy as np

folder, inputs, output = sys.argv[1:4]
info = json.load(open(f"{folder}/model.json"))
weights = dict(np.load(f"{folder}/{info['files']['weights']}"))
x = dict(np.load(inputs))

def load(name):
    return jax.export.deserialize(bytearray(open(f"{folder}/{info['files'][name]}", "rb").read()))

nxt = load("next").call(weights, x["cat"], x["real"], x["mask"])
out = {f"next/{kind}/{k}": v for kind, values in nxt.items() for k, v in values.items()}
out["embed"] = load("embed").call(weights, x["cat"], x["real"], x["mask"])
out["generate/cat"], out["generate/real"] = load("generate").call(
    weights, x["cat"], x["real"], x["mask"], x["rows"], np.uint32(x["seed"]), np.float32(x["temperature"]), np.int32(x["top_k"]), np.float32(x["top_p"]))
# prefill all but the last item, then decode the last one: the next item after the whole window again
head, tail = slice(0, info["context"] - 1), slice(info["context"] - 1, None)
_, cache = load("prefill").call(weights, x["cat"][:, head], x["real"][:, head], x["mask"][:, head])
decoded, cache = load("decode").call(weights, cache, x["cat"][:, tail], x["real"][:, tail], x["mask"][:, tail])
out.update({f"decode/{k}": v for k, v in decoded.items()})
scores = load("score").call(weights, x["score_cat"], x["score_real"], x["score_mask"])
out.update({f"score/{kind}/{k}": v for kind, values in scores.items() for k, v in values.items()})
out["decode/index"] = cache["index"]
assert not {"seqjax", "flax", "polars"} & set(sys.modules), "the consumer must not need seqjax"
np.savez(output, **{k: np.asarray(v) for k, v in out.items()})
"""


@pytest.fixture(scope="module")
def exported(predictor):
    return export(predictor.spec, predictor=predictor)


@pytest.fixture(scope="module")
def window_batch(predictor, new_data) -> dict[str, np.ndarray]:
    chunk = next(encoded_source(predictor.meta, encode(predictor.meta, new_data)).chunks(64, True))
    cat, real, mask = model_inputs(chunk, known_last=False)
    # windows of context + 1 items, as mode = score reads them
    scored = {f"score_{k}": chunk[k] for k in ("cat", "real", "mask")}
    return {"cat": cat, "real": real, "mask": mask, "rows": chunk["sequence"].astype(np.int32), **scored}


def test_export_writes_artifacts_weights_and_metadata(exported, predictor):
    names = {p.name for p in exported.iterdir()}
    assert names == {".seqjax", "model.json", "metadata.json", "weights.npz", "next.jax", "embed.jax", "prefill.jax", "decode.jax", "generate.jax", "score.jax"}
    info = json.loads((exported / "model.json").read_text())
    assert info["context"] == 8 and info["targets"] == ["event", "channel", "amount", "duration"]
    assert [c["name"] for c in info["columns"]["categorical"]] == ["event", "channel"]
    assert info["columns"]["categorical"][0]["vocab"] == list(predictor.meta.column("event").vocab)
    with np.load(exported / "weights.npz") as weights:  # allow_pickle=False: plain arrays only
        assert "blocks/0/attention/qkv/kernel" in weights and weights["blocks/0/attention/qkv/kernel"].dtype == np.float32


def test_exported_functions_match_in_process_ones_in_a_fresh_process(exported, predictor, window_batch, tmp_path):
    inputs, output, script = tmp_path / "inputs.npz", tmp_path / "output.npz", tmp_path / "consumer.py"
    np.savez(inputs, **window_batch, seed=SEED, temperature=TEMPERATURE, top_k=TOP_K, top_p=TOP_P)
    script.write_text(CONSUMER)
    # the consumer compiles its functions while this process compiles its own
    consumer = subprocess.Popen([sys.executable, str(script), str(exported), str(inputs), str(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        batch = tuple(window_batch[k] for k in ("cat", "real", "mask"))
        expected = predictor.call(predictor.function("next"), batch)
        embed = predictor.call(predictor.function("embed", layer=-1, pooling=predictor.spec.infer.embed.pooling), batch)
        scalars = (np.uint32(SEED), np.float32(TEMPERATURE), np.int32(TOP_K), np.float32(TOP_P))
        cat, real = predictor.call(predictor.function("generate", steps=predictor.spec.infer.steps, cached=True), (*batch, window_batch["rows"]), *scalars)
        scores = predictor.call(predictor.function("score"), tuple(window_batch[f"score_{k}"] for k in ("cat", "real", "mask")))
        _, stderr = consumer.communicate(timeout=300)
    finally:
        consumer.kill()  # a no-op once it has exited
    assert consumer.returncode == 0, stderr[-3000:]
    got = dict(np.load(output))
    for kind, outputs in expected.items():
        for name, values in outputs.items():
            np.testing.assert_allclose(got[f"next/{kind}/{name}"], values, rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(got["embed"], embed, rtol=1e-5, atol=1e-5)
    for kind, outputs in scores.items():
        for name, values in outputs.items():
            np.testing.assert_allclose(got[f"score/{kind}/{name}"], values, rtol=1e-5, atol=1e-5, err_msg=f"score {name}")
    np.testing.assert_array_equal(got["generate/cat"], cat)
    np.testing.assert_allclose(got["generate/real"], real, rtol=1e-4, atol=1e-4)
    # prefill + decode through the exported cache give the whole window's next item
    assert int(got["decode/index"]) == 8
    for target in ("event", "channel"):
        np.testing.assert_array_equal(got[f"decode/{target}"][:, 2:].argmax(-1) + 2, expected["predicted"][target])
    for target in ("amount", "duration"):
        np.testing.assert_allclose(got[f"decode/{target}"], expected["predicted"][target], rtol=1e-4, atol=1e-5)
