"""eos.models: parameter counts (App. D.1) against independent formulas, initialisation,
masking and dtype behaviour."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eos  # noqa: F401  (enables float64)
from eos import models

KEY = jax.random.PRNGKey(0)
IMG = jnp.zeros((1, 32, 32, 3), dtype=jnp.float32)


def init(module, x):
    return jax.jit(module.init)(KEY, x)


def apply(module, params, x):
    return jax.jit(module.apply)(params, x)


def count(module, x) -> int:
    """Number of parameters, from shapes only (no initialisation is computed)."""
    shapes = jax.eval_shape(module.init, KEY, x)
    return sum(math.prod(s.shape) for s in jax.tree_util.tree_leaves(shapes))


def dense(i: int, o: int) -> int:
    return i * o + o


def mlp_count(d_in: int, width: int, c: int) -> int:
    return dense(d_in, width) + dense(width, width) + dense(width, c)


def cnn_count(c_in: int, width: int, hw: int, c: int) -> int:
    conv1 = 9 * c_in * width + width
    conv2 = 9 * width * width + width
    return conv1 + conv2 + dense((hw // 4) ** 2 * width, c)


def resnet_count(widths, c: int, blocks: int = 2, c_in: int = 3) -> int:
    gn = lambda w: 2 * w  # noqa: E731  (scale and bias)
    total = 9 * c_in * widths[0] + gn(widths[0])  # stem conv (no bias) + GN
    cin = widths[0]
    for i, w in enumerate(widths):
        for b in range(blocks):
            stride = 2 if (i > 0 and b == 0) else 1
            total += 9 * cin * w + gn(w) + 9 * w * w + gn(w)
            if cin != w or stride != 1:
                total += cin * w + gn(w)  # 1x1 projection + GN
            cin = w
    return total + dense(widths[-1], c)


def transformer_count(vocab: int, c: int, h: int = 64, layers: int = 2, mlp: int = 64, pos=64):
    attention = 4 * dense(h, h)  # query, key, value, output projections (heads split h)
    layer = attention + 2 * (2 * h) + dense(h, mlp) + dense(mlp, h)  # + two LayerNorms
    return vocab * h + pos * h + layers * layer + dense(h, c)


def test_parameter_counts_paper_sizes():
    assert count(models.build("mlp", num_classes=10), IMG) == 656_810
    assert count(models.build("mlp", num_classes=10), IMG) == mlp_count(3072, 200, 10)
    assert count(models.build("cnn", num_classes=10), IMG) == cnn_count(3, 32, 32, 10)
    assert count(models.build("cnn", num_classes=1), IMG) == cnn_count(3, 32, 32, 1)
    assert count(models.build("resnet18", num_classes=1), IMG) == resnet_count((16, 32, 64, 128), 1)
    assert count(models.build("resnet18", num_classes=10), IMG) == resnet_count(
        (16, 32, 64, 128), 10
    )
    tokens = jnp.ones((1, 52), dtype=jnp.int32)
    tr = models.build("transformer", num_classes=1, vocab_size=5000)
    assert count(tr, tokens) == transformer_count(5000, 1)


def test_parameter_counts_reduced_sizes():
    assert count(models.build("mlp", num_classes=3, width=16), IMG) == mlp_count(3072, 16, 3)
    assert count(models.build("cnn", num_classes=2, width=4), IMG) == cnn_count(3, 4, 32, 2)
    widths = (8, 8, 16, 24)  # 24 -> gcd(16, 24) = 8 groups
    assert count(models.build("resnet18", num_classes=1, widths=widths), IMG) == resnet_count(
        widths, 1
    )
    assert count(
        models.build("resnet18", num_classes=1, widths=(4, 8), blocks_per_stage=1), IMG
    ) == resnet_count((4, 8), 1, blocks=1)
    tr = models.build("transformer", num_classes=1, vocab_size=30, hidden_size=16, mlp_size=8)
    assert count(tr, jnp.ones((1, 5), jnp.int32)) == transformer_count(30, 1, h=16, mlp=8)


def test_torch_default_initialisation():
    params = init(models.build("mlp", num_classes=10), IMG)["params"]
    for layer, fan_in in [("Dense_0", 3072), ("Dense_1", 200), ("Dense_2", 200)]:
        k = np.asarray(params[layer]["kernel"], dtype=np.float64)
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(k).max() <= bound
        assert np.abs(k).max() > 0.95 * bound  # uniform, not a narrower law
        # variance 1/(3 fan_in); relative sampling error ~ sqrt(1.8/size)
        assert k.var() == pytest.approx(1 / (3 * fan_in), rel=5 * math.sqrt(1.8 / k.size))
        np.testing.assert_array_equal(np.asarray(params[layer]["bias"]), 0.0)
    cnn = init(models.build("cnn", num_classes=10), IMG)["params"]
    k = np.asarray(cnn["Conv_1"]["kernel"])
    assert k.shape == (3, 3, 32, 32)
    assert np.abs(k).max() <= 1 / math.sqrt(9 * 32)
    np.testing.assert_array_equal(np.asarray(cnn["Conv_0"]["bias"]), 0.0)


def test_zero_initialised_heads():
    rn = models.build("resnet18", num_classes=3, widths=(4,), blocks_per_stage=1)
    head = init(rn, jnp.zeros((1, 8, 8, 3)))["params"]["head"]
    assert head["kernel"].shape == (4, 3)
    tr = models.build("transformer", num_classes=1, vocab_size=20)
    tok = jnp.array([[3, 4, 5, 0], [7, 0, 0, 0]])
    params = init(tr, tok)
    for h in (head, params["params"]["head"]):
        np.testing.assert_array_equal(np.asarray(h["kernel"]), 0.0)
        np.testing.assert_array_equal(np.asarray(h["bias"]), 0.0)
    out = apply(tr, params, tok)  # so the network starts at f = 0
    assert out.shape == (2, 1)
    np.testing.assert_array_equal(np.asarray(out), 0.0)


def _with_random_head(params, key):
    head = params["params"]["head"]
    new = dict(params["params"])
    new["head"] = {
        "kernel": jax.random.normal(key, head["kernel"].shape, head["kernel"].dtype),
        "bias": head["bias"],
    }
    return {"params": new}


def test_transformer_masks_padding():
    """Appending padding must not change the output (masked in attention and pooling), while
    replacing a real token must."""
    tr = models.build("transformer", num_classes=2, vocab_size=20, max_len=8)
    short = jnp.array([[3, 4, 5], [7, 8, 9]])
    padded = jnp.array([[3, 4, 5, 0, 0, 0], [7, 8, 9, 0, 0, 0]])
    params = _with_random_head(init(tr, padded), jax.random.PRNGKey(1))
    a = apply(tr, params, short)
    b = apply(tr, params, padded)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    c = apply(tr, params, padded.at[0, 1].set(11))
    assert float(jnp.max(jnp.abs(c[0] - b[0]))) > 1e-4
    np.testing.assert_allclose(np.asarray(c[1]), np.asarray(b[1]), rtol=1e-5, atol=1e-6)


def test_models_compute_in_parameter_dtype():
    """Output dtype follows the parameters and inputs (traced with eval_shape: no compile)."""
    x32 = jax.ShapeDtypeStruct((2, 8, 8, 3), jnp.float32)
    x64 = jax.ShapeDtypeStruct((2, 8, 8, 3), jnp.float64)
    for name, kw in [("mlp", {"width": 5}), ("cnn", {"width": 4}), ("resnet18", {"widths": (4,)})]:
        m = models.build(name, num_classes=3, **kw)
        params = jax.eval_shape(m.init, KEY, x32)
        assert jax.eval_shape(m.apply, params, x32).dtype == jnp.float32
        p64 = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, jnp.float64), params)
        assert jax.eval_shape(m.apply, p64, x64).dtype == jnp.float64
    tr = models.build("transformer", num_classes=1, vocab_size=10, hidden_size=8, mlp_size=8)
    tok = jnp.array([[1, 2, 0]])
    params = jax.eval_shape(tr.init, KEY, tok)
    assert jax.eval_shape(tr.apply, params, tok).dtype == jnp.float32
    p64 = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, jnp.float64), params)
    assert jax.eval_shape(tr.apply, p64, tok).dtype == jnp.float64


def test_build_errors():
    with pytest.raises(ValueError, match="unknown model 'vgg'.*mlp, cnn, resnet18, transformer"):
        models.build("vgg", num_classes=10)
    with pytest.raises(ValueError, match="unknown keyword.*widht"):
        models.build("mlp", num_classes=10, widht=3)
    with pytest.raises(ValueError, match="vocab_size"):
        models.build("transformer", num_classes=1)
    with pytest.raises(ValueError, match="num_classes"):
        models.build("mlp", num_classes=0)
    tr = models.build("transformer", num_classes=1, vocab_size=10, max_len=4)
    with pytest.raises(ValueError, match="max_len=4"):
        init(tr, jnp.ones((1, 5), jnp.int32))
    with pytest.raises(ValueError, match="NHWC"):
        models.build("cnn", num_classes=2).init(KEY, jnp.zeros((1, 3072)))
