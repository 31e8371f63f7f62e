"""benchmarks/throughput.py (issue 19): the table's structure on its smallest configuration and
its FLOP counts against explicit counts. Timings are not checked (the machine is shared)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import throughput as T
from eos import data
from eos.objective import build


def test_quick_mode_table_and_json(tmp_path, capsys):
    out = tmp_path / "throughput.json"
    rows = T.main(["--quick", "--arch", "mlp", "--json", str(out)])
    text = capsys.readouterr().out
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["arch", "conv", "size", "dtype"] and "HVP / matmul" in header
    assert len(lines) == 2 + 1  # header, rule, one row: mlp smoke float64
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert len(cells) == len(header) and cells[:4] == ["mlp", "-", "smoke", "float64"]
    saved = json.loads(out.read_text())
    assert saved["rows"] == json.loads(json.dumps(rows))
    (row,) = saved["rows"]
    assert row["n"] == 32 and row["n_profile"] == 32  # the smoke profile's size, from the registry
    for k in T.KERNELS:
        r = row[k]
        assert r["flops"] > 0 and r["s"] > 0
        assert r["fraction"] == pytest.approx(r["flops"] / r["s"] / r["matmul_flops_per_s"])
        assert any(m["m"] == r["matmul_m"] and m["dtype"] == "float64" for m in saved["matmul"])
    # an HVP (forward over reverse) costs more than a gradient, which costs more than the loss
    assert row["loss"]["flops"] < row["grad"]["flops"] < row["hvp"]["flops"]


def test_lowerings_side_by_side(capsys):
    """``--lowering xla matmul``: one row per convolution lowering of the CNN, both doing the
    same arithmetic up to the zero padding (XLA's count of a convolution leaves the padded
    taps out, the im2col matrix multiply multiplies them; the copies cost no FLOPs)."""
    rows = T.main(["--quick", "--arch", "cnn", "--lowering", "xla", "matmul"])
    assert [r["conv"] for r in rows] == ["xla", "matmul"]
    assert rows[0]["model_kwargs"]["conv"] == "xla" and rows[1]["model_kwargs"]["conv"] == "matmul"
    xla, mine = (r["loss"]["flops"] for r in rows)
    assert xla <= mine <= 1.15 * xla
    assert "| cnn | xla | smoke |" in capsys.readouterr().out


def test_xla_flops_of_a_dense_layer_is_the_explicit_count():
    b, i, o = 64, 96, 80
    x, w, c = jnp.ones((b, i)), jnp.ones((i, o)), jnp.ones((o,))
    # b*o outputs, each i multiply-adds (2 i FLOPs, XLA's convention for a dot) and a bias add
    assert T.xla_flops(lambda x, w, c: x @ w + c, x, w, c) == 2 * b * i * o + b * o


def test_model_flops_against_the_explicit_count_of_its_dense_layers():
    """The smoke MLP's loss: XLA's count is the three dense layers' ``2 n sum(in x out)`` plus
    elementwise work (swish, loss: a few percent); a ghost-batched objective counts the same
    (the scan body counted once, times the number of chunks)."""
    ds = data.cifar10(32)
    width = 16
    full, p0 = build("mlp", ds, "mse", width=width)
    chunked, _ = build("mlp", ds, "mse", width=width, chunk_size=8)
    p = jnp.asarray(p0, jnp.float64)
    v = jnp.ones_like(p) / np.sqrt(p.size)
    dense = 2 * 32 * (3072 * width + width * width + width * 10)
    f_full, f_chunk = T.kernel_flops(full, p, v), T.kernel_flops(chunked, p, v)
    assert dense <= f_full["loss"] <= 1.05 * dense
    # reverse mode adds each layer's weight gradient (another 2 n in out) and the gradient
    # with respect to its input, except for the first layer (the images are not differentiated)
    dense_grad = 2 * dense + 2 * 32 * (width * width + width * 10)
    assert dense_grad <= f_full["grad"] <= 1.05 * dense_grad
    for k in T.KERNELS:
        assert f_chunk[k] == pytest.approx(f_full[k], rel=0.01)


def test_matmul_side_and_rate():
    assert T.matmul_side(2 * 512**3) == 512
    assert T.matmul_side(1.0) == 128 and T.matmul_side(1e15) == 1536
    assert T.matmul_rate(128, "float64", 1) > 0
    jax.block_until_ready(jnp.zeros(1))


def test_patches_lowering_is_the_same_convolution():
    """The benchmark's im2col candidate computes XLA's convolution (float64, 1e-12), and its
    rows carry the forward and both transposes."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3), jnp.float64)
    w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 3, 5), jnp.float64)
    a, b = T._conv_xla(x, w), T._conv_patches(x, w)
    assert float(jnp.max(jnp.abs(a - b))) <= 1e-12 * float(jnp.max(jnp.abs(a)))
    # an independent direct sum over the 3x3 window of the zero-padded input
    xp = np.pad(np.asarray(x), ((0, 0), (1, 1), (1, 1), (0, 0)))
    direct = sum(
        np.einsum("bhwc,co->bhwo", xp[:, i : i + 8, j : j + 8], np.asarray(w)[i, j])
        for i in range(3)
        for j in range(3)
    )
    np.testing.assert_allclose(np.asarray(a), direct, rtol=0, atol=1e-12 * np.abs(direct).max())
    rows = T.conv_lowerings("float64", 2, 1)
    assert {(r["layer"], r["lowering"]) for r in rows} == {
        (layer, low) for layer in ("32x32x3->32", "16x16x32->32") for low in ("xla", "patches")
    }
    assert all(r[k] > 0 for r in rows for k in ("fwd", "dx", "dw"))
