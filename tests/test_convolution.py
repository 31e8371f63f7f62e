"""The im2col lowering of the models' convolutions (eos.convolution) against independent
computations: a NumPy sum over the kernel window, XLA's convolution and its JAX-derived
transposes, and whole models and a tracked run built with the reference lowering
(``conv="xla"``): the recorded outputs agree to rounding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from eos import dynamics as dyn
from eos import models, objective
from eos.convolution import conv_matmul, lowering
from eos.data import Dataset

NHWC = ("NHWC", "HWIO", "NHWC")


def _numpy_conv(x, w, stride, pads):
    """``y[n,i,j,o] = sum_{a,b,c} xpad[n, s i + a, s j + b, c] w[a,b,c,o]`` by loops over
    the kernel window (NumPy, float64)."""
    (ph, qh), (pw, qw) = pads
    xp = np.pad(x, ((0, 0), (ph, qh), (pw, qw), (0, 0)))
    kh, kw = w.shape[:2]
    ho = (xp.shape[1] - kh) // stride + 1
    wo = (xp.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], ho, wo, w.shape[3]))
    for a in range(kh):
        for b in range(kw):
            win = xp[:, a : a + stride * (ho - 1) + 1 : stride, b : b + stride * (wo - 1) + 1 :
                     stride]  # fmt: skip
            y += np.einsum("nijc,co->nijo", win, w[a, b])
    return y


CASES = [  # (input shape, kernel shape, stride, padding)
    ((2, 7, 6, 3), (3, 3, 3, 4), 1, "SAME"),
    ((2, 7, 6, 3), (3, 3, 3, 4), 2, "SAME"),
    ((1, 8, 8, 5), (3, 3, 5, 2), 2, ((1, 1), (1, 1))),
    ((3, 5, 9, 2), (2, 3, 2, 3), 1, "VALID"),
    ((2, 6, 6, 4), (1, 1, 4, 6), 2, "VALID"),
    ((2, 6, 5, 2), (3, 2, 2, 2), 1, ((2, 0), (0, 1))),
]


@pytest.mark.parametrize("xs, ws, s, pad", CASES)
def test_conv_matmul_against_numpy_and_xla(xs, ws, s, pad):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    pads = lax.padtype_to_pads(xs[1:3], ws[:2], (s, s), pad) if isinstance(pad, str) else pad
    ref = _numpy_conv(x, w, s, pads)
    dims = lax.conv_dimension_numbers(xs, ws, NHWC)
    got = conv_matmul(jnp.asarray(x), jnp.asarray(w), (s, s), pad, dimension_numbers=dims)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-12, atol=1e-12)
    xla = lax.conv_general_dilated(x, w, (s, s), pad, dimension_numbers=NHWC)
    np.testing.assert_allclose(np.asarray(xla), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xs, ws, s, pad", CASES[1:3])
def test_conv_matmul_transposes_match_xla(xs, ws, s, pad):
    """The gradients with respect to both operands (JAX's transposes of the two lowerings,
    different programs) and a second derivative agree."""
    rng = np.random.default_rng(1)
    x, w = jnp.asarray(rng.standard_normal(xs)), jnp.asarray(rng.standard_normal(ws))

    def loss(f):
        return lambda x, w: jnp.sum(jnp.tanh(f(x, w, (s, s), pad, dimension_numbers=NHWC)) ** 2)

    mine, ref = loss(conv_matmul), loss(lax.conv_general_dilated)
    for a, b in zip(jax.grad(mine, (0, 1))(x, w), jax.grad(ref, (0, 1))(x, w), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)
    t = jnp.ones_like(w)
    hv = [jax.jvp(jax.grad(f, 1), (x, w), (jnp.zeros_like(x), t))[1] for f in (mine, ref)]
    np.testing.assert_allclose(np.asarray(hv[0]), np.asarray(hv[1]), rtol=1e-10, atol=1e-12)


def _images(n=12, hw=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, hw, hw, 3)).astype(np.float32)
    return Dataset(x, rng.integers(0, classes, n), classes, "images", {})


NETS = [
    ("cnn", {"width": 4}),
    ("resnet18", {"widths": (4, 8), "blocks_per_stage": 1, "num_groups": 2}),
]


@pytest.mark.parametrize("name, kw", NETS)
def test_models_agree_with_the_reference_lowering(name, kw):
    """Same parameters, loss, gradient and HVP (float64, ghost batches) for ``conv="matmul"``
    and ``conv="xla"``."""
    ds = _images()
    objs = {c: objective.build(name, ds, "mse", chunk_size=5, conv=c, **kw) for c in ("matmul",
                                                                                    "xla")}  # fmt: skip
    (mine, p0), (ref, p0_ref) = objs["matmul"], objs["xla"]
    np.testing.assert_array_equal(np.asarray(p0), np.asarray(p0_ref))
    p = jnp.asarray(p0, jnp.float64) + 0.1 * jax.random.normal(jax.random.PRNGKey(3), p0.shape)
    v = jax.random.normal(jax.random.PRNGKey(4), p.shape, jnp.float64)
    assert float(mine.value(p)) == pytest.approx(float(ref.value(p)), rel=1e-12)
    for a, b in [(mine.grad(p), ref.grad(p)), (mine.hvp(p, v), ref.hvp(p, v))]:
        scale = float(jnp.max(jnp.abs(b)))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-11 * scale)


def test_no_convolution_in_the_compiled_hvp():
    """The lowering's point: a chunked float64 HVP of the CNN compiles to no ``convolution``
    instruction (XLA:CPU runs those inside loop bodies as naive loops, eos.convolution)."""
    obj, p0 = objective.build("cnn", _images(), "mse", width=4, chunk_size=5)
    p = jnp.asarray(p0, jnp.float64)
    text = obj._hvp.lower(p, p, obj._data).compile().as_text()
    assert "while" in text  # the ghost-batch scan is there
    assert " convolution(" not in text
    ref, _ = objective.build("cnn", _images(), "mse", width=4, chunk_size=5, conv="xla")
    assert " convolution(" in ref._hvp.lower(p, p, ref._data).compile().as_text()


def test_tracked_run_unchanged_to_rounding():
    """A short tracked run (GD, gradient flow, the constrained trajectory, the predicted
    dynamics) of a small CNN at the edge of stability records the same series with either
    lowering: every recorded value to 1e-8 relative (residuals, at rounding level, apart)."""
    ds = _images(n=16, seed=5)
    runs = []
    for c in ("matmul", "xla"):
        obj, p0 = objective.build("cnn", ds, "mse", width=4, conv=c)
        traj = dyn.track(obj, jnp.asarray(p0, jnp.float64), lr=0.85, steps=6,
                         generalized=False, diagnostics=False, progress=False)  # fmt: skip
        runs.append(traj.arrays)
    mine, ref = runs
    assert len(ref["gd/loss"]) == 7 and np.max(ref["gd/sharpness"]) > 2 / 0.85  # unstable
    compared = 0
    for key, b in ref.items():
        if key.startswith("cost/") or "residual" in key or b.dtype.kind != "f":
            continue
        np.testing.assert_allclose(mine[key], b, rtol=1e-8, atol=1e-14, err_msg=key)
        compared += 1
    assert compared > 20


def test_errors():
    x, w = jnp.ones((1, 5, 5, 2)), jnp.ones((3, 3, 2, 4))
    with pytest.raises(ValueError, match="dilation"):
        conv_matmul(x, w, (1, 1), "SAME", rhs_dilation=(2, 2))
    with pytest.raises(ValueError, match="feature group"):
        conv_matmul(x, w, (1, 1), "SAME", feature_group_count=2)
    with pytest.raises(ValueError, match="layout"):
        conv_matmul(x, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))
    with pytest.raises(ValueError, match="channels"):
        conv_matmul(x, jnp.ones((3, 3, 3, 4)), (1, 1), "SAME")
    with pytest.raises(ValueError, match="larger than"):
        conv_matmul(x, jnp.ones((7, 7, 2, 4)), (1, 1), "VALID")
    with pytest.raises(ValueError, match="unknown convolution lowering"):
        lowering("fft")
    with pytest.raises(ValueError, match="model_kwargs\\['conv'\\]"):
        models.build("cnn", num_classes=3, conv="fft")
