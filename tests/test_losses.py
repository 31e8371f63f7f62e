"""eos.losses against hand and numpy computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eos  # noqa: F401  (enables float64)
from eos import losses


def test_categorical_mse_by_hand():
    f = jnp.array([[1.0, 2.0], [0.0, 0.0]], dtype=jnp.float64)
    y = jnp.array([1, 0])
    # example 1: (1-0)^2 + (2-1)^2 = 2; example 2: (0-1)^2 + 0^2 = 1 -> mean 1.5 (no 1/2)
    assert float(losses.categorical_mse(f, y)) == pytest.approx(1.5, abs=1e-15)
    np.testing.assert_allclose(losses.per_example_categorical_mse(f, y), [2.0, 1.0])


def test_categorical_mse_matches_numpy_and_paper_form():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(7, 10))
    y = rng.integers(0, 10, size=7)
    onehot = np.eye(10)[y]
    expected = np.mean(np.sum((f - onehot) ** 2, axis=1))
    # the paper code's per-example form f.f - 2 f_y + 1
    paper = np.mean(np.sum(f * f, axis=1) - 2 * f[np.arange(7), y] + 1)
    got = float(losses.categorical_mse(jnp.asarray(f), jnp.asarray(y)))
    assert got == pytest.approx(expected, rel=1e-13)
    assert got == pytest.approx(paper, rel=1e-13)


def test_binary_mse_by_hand():
    f = jnp.array([[0.5], [-2.0]], dtype=jnp.float64)
    y = jnp.array([1, -1])
    assert float(losses.binary_mse(f, y)) == pytest.approx((0.25 + 1.0) / 2, abs=1e-15)
    assert float(losses.binary_mse(f[:, 0], y)) == pytest.approx(0.625, abs=1e-15)


def test_cross_entropy_matches_numpy():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(6, 4)) * 3
    y = rng.integers(0, 4, size=6)
    m = f.max(axis=1, keepdims=True)
    logz = (m + np.log(np.exp(f - m).sum(axis=1, keepdims=True)))[:, 0]
    expected = np.mean(logz - f[np.arange(6), y])
    got = float(losses.cross_entropy(jnp.asarray(f), jnp.asarray(y)))
    assert got == pytest.approx(expected, rel=1e-13)


def test_logistic_matches_numpy_and_is_stable():
    f = np.array([0.3, -1.2, 2.0, 0.0])
    y = np.array([1, 1, -1, -1])
    expected = np.mean(np.log1p(np.exp(-y * f)))
    assert float(losses.logistic(jnp.asarray(f)[:, None], jnp.asarray(y))) == pytest.approx(
        expected, rel=1e-13
    )
    # large margins: log(1 + exp(1000)) = 1000 (naive evaluation overflows), log(1+exp(-1000)) ~ 0
    for dtype in (jnp.float32, jnp.float64):
        big = jnp.array([[1000.0], [1000.0]], dtype=dtype)
        per = losses.per_example_logistic(big, jnp.array([-1, 1]))
        assert per.dtype == dtype
        assert float(per[0]) == pytest.approx(1000.0, rel=1e-6)
        assert 0.0 <= float(per[1]) < 1e-30 or float(per[1]) == 0.0
        g = jax.grad(lambda f: losses.logistic(f, jnp.array([-1, 1])))(big)
        assert bool(jnp.all(jnp.isfinite(g)))


def test_accuracy_by_hand():
    f = jnp.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    y = jnp.array([1, 1, 2, 0])
    assert float(losses.accuracy(f, y)) == pytest.approx(0.75)
    fb = jnp.array([[0.2], [-0.1], [0.0], [3.0]])
    yb = jnp.array([1, 1, -1, -1])
    # predictions +1, -1, -1 (f=0 -> -1), +1 -> correct: yes, no, yes, no
    assert float(losses.accuracy(fb, yb)) == pytest.approx(0.5)
    assert float(losses.binary_accuracy(fb[:, 0], yb)) == pytest.approx(0.5)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_losses_compute_in_dtype_of_outputs(dtype):
    f = jnp.ones((3, 4), dtype=dtype) * 0.1
    y = jnp.array([0, 1, 3])
    fb = jnp.ones((3, 1), dtype=dtype) * 0.1
    yb = jnp.array([1, -1, 1])
    assert losses.categorical_mse(f, y).dtype == dtype
    assert losses.cross_entropy(f, y).dtype == dtype
    assert losses.binary_mse(fb, yb).dtype == dtype
    assert losses.logistic(fb, yb).dtype == dtype


def test_get_names_and_mse_dispatch():
    assert losses.get("mse", num_classes=10) is losses.CATEGORICAL_MSE
    assert losses.get("mse", num_classes=1) is losses.BINARY_MSE
    assert losses.get("cross_entropy", num_classes=10) is losses.CROSS_ENTROPY
    assert losses.get("logistic", num_classes=1) is losses.LOGISTIC
    # num_classes unknown: decided from the output width
    mse = losses.get("mse")
    f = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    assert float(mse(f, jnp.array([1, 0]))) == pytest.approx(1.5)
    assert float(mse(jnp.array([[0.5], [-2.0]]), jnp.array([1, -1]))) == pytest.approx(0.625)
    # the Criterion call is the mean of per_example
    crit = losses.get("cross_entropy", num_classes=3)
    f3 = jnp.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.0]])
    y3 = jnp.array([2, 0])
    assert float(crit(f3, y3)) == pytest.approx(float(jnp.mean(crit.per_example(f3, y3))))


def test_get_errors():
    with pytest.raises(ValueError, match="unknown criterion 'hinge'.*mse.*cross_entropy.*logistic"):
        losses.get("hinge")
    with pytest.raises(ValueError, match="logistic.*num_classes=10"):
        losses.get("logistic", num_classes=10)
    with pytest.raises(ValueError, match="binary_mse.*num_classes=10"):
        losses.get("binary_mse", num_classes=10)
    with pytest.raises(ValueError, match="cross_entropy.*num_classes=1"):
        losses.get("cross_entropy", num_classes=1)
    with pytest.raises(ValueError, match="num_classes"):
        losses.get("mse", num_classes=0)
    # shape mismatches at call time
    with pytest.raises(ValueError, match="one output per example"):
        losses.logistic(jnp.ones((3, 10)), jnp.array([1, -1, 1]))
    with pytest.raises(ValueError, match=r"C >= 2"):
        losses.cross_entropy(jnp.ones((3, 1)), jnp.array([0, 0, 0]))
