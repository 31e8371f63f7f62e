"""Sharpness-aware minimisation (eos.dynamics.sam) against hand computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eos.dynamics import Spectrum, run_gd
from eos.dynamics.sam import run_sam, sam, sam_gradient, sam_step
from eos.objective import Objective

D = 12  # keep d above the block Lanczos basis size of a k <= 2 solve


def _quadratic(seed=0, d=D):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((d, d))
    H = B @ B.T / d + 0.1 * np.eye(d)
    return H


def test_sam_gradient_quadratic_by_hand():
    H = _quadratic()
    Hj = jnp.asarray(H)
    grad = lambda p: Hj @ p  # noqa: E731
    p = np.random.default_rng(3).standard_normal(D)
    rho = 0.07
    g = H @ p
    expected = H @ (p + rho * g / np.linalg.norm(g))  # = H p + rho H^2 p / ||H p||
    np.testing.assert_allclose(sam_gradient(grad, jnp.asarray(p), rho), expected, rtol=1e-13)
    np.testing.assert_allclose(
        expected, H @ p + rho * H @ H @ p / np.linalg.norm(H @ p), rtol=1e-12
    )
    lr = 0.3
    np.testing.assert_allclose(
        sam_step(grad, jnp.asarray(p), lr, rho), p - lr * expected, rtol=1e-13
    )


def test_sam_gradient_nonquadratic_by_hand():
    f = lambda p: jnp.sum(jnp.cos(p)) + 0.5 * jnp.sum(p**2)  # noqa: E731
    p = np.array([0.2, -1.1, 0.7])
    rho = 0.2
    g = -np.sin(p) + p
    q = p + rho * g / np.linalg.norm(g)
    expected = -np.sin(q) + q
    np.testing.assert_allclose(sam_gradient(jax.grad(f), jnp.asarray(p), rho), expected, rtol=1e-13)


def test_sam_at_a_stationary_point_is_gd():
    H = jnp.asarray(_quadratic())
    out = sam_gradient(lambda p: H @ p, jnp.zeros(D), 0.1)
    assert np.all(np.isfinite(out)) and np.all(out == 0)


def test_run_sam_matches_hand_loop_and_tracks_the_spectrum():
    H = _quadratic(1)
    Hj = jnp.asarray(H)
    obj = Objective.from_function(lambda p: 0.5 * p @ (Hj @ p), num_params=D)
    p = np.random.default_rng(4).standard_normal(D)
    p0 = jnp.asarray(p)
    lr, rho, T = 0.4, 0.05, 8
    run = run_sam(obj, p0, lr=lr, rho=rho, steps=T, spectrum=Spectrum(tol=1e-10))
    losses = []
    for _ in range(T):
        losses.append(0.5 * p @ H @ p)
        g = H @ p
        p = p - lr * (H @ (p + rho * g / np.linalg.norm(g)))
    np.testing.assert_allclose(run["loss"], losses, rtol=1e-11)
    np.testing.assert_allclose(run.params, p, rtol=1e-10, atol=1e-14)
    top = np.linalg.eigvalsh(H).max()
    np.testing.assert_allclose(run.sharpness, np.full(T, top), rtol=1e-9)
    assert run.meta["direction"] == {"name": "sam", "rho": rho}
    # ... and differs from plain GD (same compiled loop, rho = 0)
    gd = run_gd(obj, p0, lr=lr, steps=T, spectrum=Spectrum(tol=1e-10))
    q = np.asarray(p0)
    for _ in range(T):
        q = q - lr * (H @ q)
    np.testing.assert_allclose(gd.params, q, rtol=1e-10, atol=1e-14)
    assert np.linalg.norm(gd.params - run.params) > 1e-3 * np.linalg.norm(q)


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), "big"])
def test_bad_rho(bad):
    H = jnp.asarray(_quadratic())
    obj = Objective.from_function(lambda p: 0.5 * p @ (H @ p), num_params=D)
    with pytest.raises(ValueError, match="rho"):
        run_sam(obj, jnp.ones(D), lr=0.1, rho=bad, steps=2)
    with pytest.raises(ValueError, match="rho"):
        run_gd(obj, jnp.ones(D), lr=0.1, steps=2, direction=sam(bad))


def test_bad_lr_for_sam():
    H = jnp.asarray(_quadratic())
    obj = Objective.from_function(lambda p: 0.5 * p @ (H @ p), num_params=D)
    with pytest.raises(ValueError, match="lr"):
        run_sam(obj, jnp.ones(D), lr=-0.1, rho=0.1, steps=2)
