"""Tests for eos.theory.toy: the App. B loss against autodiff, dense eigh and eq. (3)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eos.theory.ode import simplified_dynamics
from eos.theory.toy import ToyModel

ALPHA, BETA, ETA = 0.7, 2.3, 0.05


@pytest.fixture(scope="module")
def model() -> ToyModel:
    return ToyModel(ALPHA, BETA, ETA)


@pytest.fixture(scope="module")
def autodiff(model):
    """Jitted autodiff references: gradient, Hessian and third derivative of the loss."""
    return (
        jax.jit(jax.grad(model.loss)),
        jax.jit(jax.hessian(model.loss)),
        jax.jit(jax.jacfwd(jax.hessian(model.loss))),
    )


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 3)) * np.array([1.5, 3.0, 10.0])


def test_loss_matches_formula_and_grad_matches_autodiff(model, points, autodiff):
    grad, hess, _ = autodiff
    for p in points:
        theta = jnp.asarray(p, jnp.float64)
        x, y, z = p
        expected = (2 / ETA + math.sqrt(BETA) * y) * x**2 / 2 - ALPHA / math.sqrt(BETA) * y + z
        np.testing.assert_allclose(float(model.loss(theta)), expected, rtol=1e-13)
        np.testing.assert_allclose(model.grad(theta), grad(theta), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(model.hessian(theta), hess(theta), atol=1e-12)


def test_sharpness_and_eigenvector_match_dense_eigh(model, points, autodiff):
    hess = autodiff[1]
    thetas = jnp.asarray(points, jnp.float64)
    batched = model.sharpness(thetas)
    for k, theta in enumerate(thetas):
        evals, evecs = jnp.linalg.eigh(hess(theta))
        np.testing.assert_allclose(float(model.sharpness(theta)), float(evals[-1]), rtol=1e-12)
        np.testing.assert_allclose(float(batched[k]), float(evals[-1]), rtol=1e-12)
        u = model.top_eigenvector(theta)
        np.testing.assert_allclose(abs(float(jnp.dot(u, evecs[:, -1]))), 1.0, atol=1e-12)


def test_sharpness_branch_for_negative_a():
    # a = 2/eta + sqrt(beta) y < 0: the positive eigenvalue of the 2x2 block is tiny.
    m = ToyModel(1.0, 1.0, 1.0)
    theta = jnp.array([1e-3, -50.0, 0.0], jnp.float64)
    top = jnp.linalg.eigvalsh(jax.hessian(m.loss)(theta))[-1]
    np.testing.assert_allclose(float(m.sharpness(theta)), float(top), rtol=1e-10)


def test_lemma2_grad_sharpness_is_third_derivative(model, points, autodiff):
    """Lemma 2: grad S(theta) = D^3 L(theta)(u, u), D^3 L by autodiff."""
    third = autodiff[2]
    for p in points:
        theta = jnp.asarray(p, jnp.float64)
        u = model.top_eigenvector(theta)
        expected = jnp.einsum("ijk,j,k->i", third(theta), u, u)
        np.testing.assert_allclose(model.grad_sharpness(theta), expected, atol=1e-11)


def test_reference_directions_and_coefficients_on_constrained_trajectory(model):
    """App. B: u = (1,0,0), grad S = (0, sqrt(beta), 0), alpha = -grad L . grad S, beta = ||grad S||^2."""
    for theta in model.constrained_trajectory(5):
        np.testing.assert_allclose(model.top_eigenvector(theta), [1.0, 0.0, 0.0], atol=1e-15)
        np.testing.assert_allclose(model.grad_sharpness(theta), [0, math.sqrt(BETA), 0], rtol=1e-14)
        a, b = model.progressive_sharpening(theta)
        np.testing.assert_allclose([float(a), float(b)], [ALPHA, BETA], rtol=1e-14)
        np.testing.assert_allclose(float(model.sharpness(theta)), 2 / ETA, rtol=1e-15)


def test_constrained_trajectory_is_projected_gradient_descent(model):
    """theta^dagger_{t+1} = theta^dagger_t - eta P^perp_{u, grad S} grad L (Sec. 4.3), on M."""
    traj = np.asarray(model.constrained_trajectory(20))
    np.testing.assert_allclose(traj[:, :2], 0.0)
    for t in range(20):
        theta = jnp.asarray(traj[t])
        basis, _ = np.linalg.qr(
            np.stack([model.top_eigenvector(theta), model.grad_sharpness(theta)], axis=1)
        )
        g = np.asarray(jax.grad(model.loss)(theta))
        step = g - basis @ (basis.T @ g)
        np.testing.assert_allclose(traj[t + 1], traj[t] - ETA * step, atol=1e-13)
        assert (
            abs(float(jnp.dot(jax.grad(model.loss)(theta), model.top_eigenvector(theta)))) < 1e-14
        )


def test_gd_is_exactly_eq3(model):
    """The paper's coordinates of the toy GD iterates follow eq. (3) to 1e-12."""
    steps = 3000
    theta0 = model.initial_point(0.05, -0.4)
    thetas = model.run_gd(theta0, steps)
    assert thetas.shape == (steps + 1, 3) and thetas.dtype == jnp.float64
    x, y = model.coordinates(thetas)
    np.testing.assert_allclose(float(x[0]), 0.05, rtol=1e-15)
    np.testing.assert_allclose(float(y[0]), -0.4, rtol=1e-15)
    xs, ys = simplified_dynamics(0.05, -0.4, alpha=ALPHA, beta=BETA, eta=ETA, steps=steps)
    scale = float(jnp.max(jnp.abs(xs)))
    assert scale > model.delta  # the run does go through blowup and self-stabilization
    assert float(jnp.max(jnp.abs(x - xs))) <= 1e-12 * scale
    assert float(jnp.max(jnp.abs(y - ys))) <= 1e-12 * float(jnp.max(jnp.abs(ys)))


def test_run_gd_matches_autodiff_gradient_descent(model, autodiff):
    grad = autodiff[0]
    theta = jnp.array([0.3, 0.1, 0.0], jnp.float64)
    ours = model.run_gd(theta, 25)
    for t in range(25):
        theta = theta - ETA * grad(theta)
        np.testing.assert_allclose(ours[t + 1], theta, rtol=1e-13, atol=1e-14)


def test_z_follows_constrained_trajectory_exactly():
    """With eta = 2^-7 (exact in binary) z_t = -eta t bit for bit; otherwise to rounding."""
    m = ToyModel(1.0, 1.0, 2.0**-7)
    thetas = m.run_gd(m.initial_point(0.1), 2000)
    dagger = m.constrained_trajectory(2000)
    assert bool(jnp.all(thetas[:, 2] == dagger[:, 2]))
    m2 = ToyModel(1.0, 1.0, 0.01)
    z = m2.run_gd(m2.initial_point(0.1), 2000)[:, 2]
    np.testing.assert_allclose(z, m2.constrained_trajectory(2000)[:, 2], rtol=1e-12, atol=1e-15)


def test_float32_inputs_stay_float32(model):
    theta = jnp.array([0.1, -0.2, 0.3], jnp.float32)
    for out in (
        model.loss(theta),
        model.grad(theta),
        model.sharpness(theta),
        model.run_gd(theta, 3),
    ):
        assert out.dtype == jnp.float32
    x, y = model.coordinates(model.run_gd(theta, 3))
    assert x.dtype == jnp.float32 and y.dtype == jnp.float32


def test_jit_friendly(model):
    theta = jnp.array([0.1, -0.2, 0.3], jnp.float64)
    np.testing.assert_allclose(jax.jit(model.loss)(theta), model.loss(theta), rtol=1e-15)
    f = jax.jit(lambda m, th: m.sharpness(th), static_argnums=0)
    np.testing.assert_allclose(f(model, theta), model.sharpness(theta), rtol=1e-15)
    assert hash(model) == hash(ToyModel(ALPHA, BETA, ETA))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"alpha": 0.0, "beta": 1.0, "eta": 0.1}, "alpha"),
        ({"alpha": 1.0, "beta": -1.0, "eta": 0.1}, "beta"),
        ({"alpha": 1.0, "beta": 1.0, "eta": 0.0}, "eta"),
        ({"alpha": 1.0, "beta": float("nan"), "eta": 0.1}, "beta"),
        ({"alpha": "a", "beta": 1.0, "eta": 0.1}, "alpha"),
    ],
)
def test_bad_coefficients_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ToyModel(**kwargs)


def test_bad_theta_and_steps_raise(model):
    with pytest.raises(ValueError, match="shape"):
        model.loss(jnp.zeros(2, jnp.float64))
    with pytest.raises(ValueError, match="floating"):
        model.run_gd(jnp.zeros(3, jnp.int32), 3)
    with pytest.raises(ValueError, match="steps"):
        model.run_gd(jnp.zeros(3, jnp.float64), -1)
    with pytest.raises(ValueError, match="steps"):
        model.constrained_trajectory(2.5)
