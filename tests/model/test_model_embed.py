"""The input embedding: categorical rows and positions scaled by sqrt(dim), reals through a kernel and a bias; every column enters with norm about 1 at init."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from conftest import eager_model, inputs, tiny_spec

from seqjax.spec import Position


def test_categorical_rows_and_positions_enter_scaled_by_sqrt_dim_reals_through_kernel_and_bias():
    model = eager_model(tiny_spec(position=Position.LEARNED))  # dim 16: scale 4
    embed = model.embed
    embed.real.bias[...] = jnp.arange(16, dtype=jnp.float32)  # a bias that shows up
    cat, real, mask = inputs(3)
    positions = jnp.broadcast_to(jnp.arange(mask.shape[1]), mask.shape)
    got = embed(cat, real, positions, deterministic=True)
    tables = [t.embedding[...] for t in embed.columns]
    scaled = tables[0][cat[..., 0]] + tables[1][cat[..., 1]] + embed.learned.embedding[...][positions]
    expected = 4.0 * scaled + real @ embed.real.kernel[...] + embed.real.bias[...]
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_each_column_enters_with_about_unit_norm_at_init_whatever_the_width():
    for dim in (64, 256):
        embed = eager_model(tiny_spec(dim=dim, heads=4, position=Position.LEARNED)).embed
        rows = dim**0.5 * np.asarray(embed.columns[0].embedding[...])
        real = np.asarray(embed.real.kernel[...])  # what a value of one standard deviation adds
        positions = dim**0.5 * np.asarray(embed.learned.embedding[...])
        assert 0.8 < np.linalg.norm(rows, axis=1).mean() < 1.2, dim
        assert 0.8 < np.linalg.norm(real, axis=1).mean() < 1.2, dim
        assert 0.8 < np.linalg.norm(positions, axis=1).mean() < 1.2, dim
        np.testing.assert_array_equal(np.asarray(embed.real.bias[...]), 0.0)
