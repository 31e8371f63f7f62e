"""Learning-rate schedules (eos.dynamics.schedules) and gradient descent driven by them
(eos.dynamics.run_gd).

Independent checks: closed forms of gradient descent on quadratics, a hand-written numpy loop
with the analytic Hessian of a separable quartic, and the warmup formula written out.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eos.dynamics import Spectrum, run_gd
from eos.dynamics.schedules import (
    Constant,
    InverseSharpness,
    LinearWarmup,
    constant,
    inverse_sharpness,
    linear_warmup,
)
from eos.objective import Objective

A_DIAG = np.array([7.0, 3.0, 1.5, 0.4, *np.linspace(0.05, 1.0, 10)])
D = A_DIAG.size


def _make_quadratic():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    H = Q @ np.diag(A_DIAG) @ Q.T
    Hj = jnp.asarray(H)
    obj = Objective.from_function(lambda p: 0.5 * p @ (Hj @ p), num_params=D)
    return obj, H


_QUADRATIC = _make_quadratic()
CHUNK = 8  # one chunk length for every run on the quadratic: one compilation


def _quadratic():
    return _QUADRATIC


def test_inverse_sharpness_on_quadratic_matches_closed_form():
    obj, H = _quadratic()
    p0 = np.random.default_rng(1).standard_normal(D)
    T = 12
    run = run_gd(obj, jnp.asarray(p0), lr=inverse_sharpness(), steps=T, spectrum=Spectrum(tol=1e-10),
                 chunk=CHUNK)  # fmt: skip
    S = A_DIAG.max()
    np.testing.assert_allclose(run["lr"], np.full(T, 1.0 / S), rtol=1e-9)
    np.testing.assert_allclose(run.sharpness, np.full(T, S), rtol=1e-9)
    M = np.eye(D) - H / S
    expected = [p0]
    for _ in range(T):
        expected.append(M @ expected[-1])
    losses = [0.5 * q @ H @ q for q in expected[:T]]
    np.testing.assert_allclose(run["loss"], losses, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(run.params, np.linalg.matrix_power(M, T) @ p0, rtol=1e-8, atol=1e-12)


QUARTIC_A = np.array([2.0, 1.0, 0.5, *np.linspace(0.1, 1.2, 10)])
QUARTIC_B = 0.7
_QA = jnp.asarray(QUARTIC_A)
# L = sum a_i th_i^2/2 + b th_0^4/4 has Hessian diag(a_0 + 3 b th_0^2, a_1, ...)
QUARTIC = Objective.from_function(
    lambda p: 0.5 * jnp.sum(_QA * p**2) + QUARTIC_B * p[0] ** 4 / 4, num_params=QUARTIC_A.size
)


def _quartic_gd_by_hand(th, T, scale, every):
    a, b = QUARTIC_A, QUARTIC_B
    lrs, sharp = [], []
    for t in range(T):
        if t % every == 0:
            S = max(a[0] + 3 * b * th[0] ** 2, a[1:].max())
            sharp.append(S)
        lrs.append(scale / S)
        grad = a * th
        grad[0] += b * th[0] ** 3
        th = th - lrs[-1] * grad
    return np.array(lrs), np.array(sharp), th


def test_inverse_sharpness_tracks_a_changing_sharpness():
    th = np.concatenate([[1.3, -0.8, 2.0], np.linspace(-1, 1, 10)])
    T, scale = 15, 1.5
    run = run_gd(QUARTIC, jnp.asarray(th), lr=inverse_sharpness(scale), steps=T,
                 spectrum=Spectrum(tol=1e-11))  # fmt: skip
    lrs, sharp, th = _quartic_gd_by_hand(th, T, scale, every=1)
    np.testing.assert_allclose(run.sharpness, sharp, rtol=1e-9)
    np.testing.assert_allclose(run["lr"], lrs, rtol=1e-9)
    np.testing.assert_allclose(run.params, th, rtol=1e-8, atol=1e-12)
    assert len(set(np.round(lrs, 6))) > 3  # the schedule really changed


def test_inverse_sharpness_with_a_stale_sharpness():
    """refresh_sharpness=False: eta_t = c / S(theta_s), s the last multiple of eig_every."""
    th = np.concatenate([[1.5, 0.3, -0.2], np.linspace(-1, 1, 10)])
    T, every = 10, 3
    run = run_gd(QUARTIC, jnp.asarray(th), lr=inverse_sharpness(), steps=T,
                 spectrum=Spectrum(every=every, tol=1e-11, refresh=False))  # fmt: skip
    lrs, sharp, th = _quartic_gd_by_hand(th, T, 1.0, every)
    np.testing.assert_array_equal(run["eig_step"], np.arange(0, T, every))
    np.testing.assert_allclose(run.sharpness, sharp, rtol=1e-9)
    np.testing.assert_allclose(run["lr"], lrs, rtol=1e-9)
    np.testing.assert_allclose(run.params, th, rtol=1e-8, atol=1e-12)


def test_inverse_sharpness_cap():
    sched = inverse_sharpness(1.0, max_lr=0.1)
    assert float(sched(0, jnp.asarray(4.0))) == pytest.approx(0.1)
    assert float(sched(0, jnp.asarray(20.0))) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="sharpness"):
        sched(0)


def test_warmup_values():
    sched = linear_warmup(0.1, 4)
    got = [float(sched(t)) for t in range(7)]
    np.testing.assert_allclose(got, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1], rtol=1e-12)
    sched = linear_warmup(0.1, 4, init_lr=0.02)
    got = [float(sched(t)) for t in range(5)]
    np.testing.assert_allclose(got, [0.04, 0.06, 0.08, 0.1, 0.1], rtol=1e-12)
    # traced inside jit, as the training loop uses it
    jitted = jax.jit(lambda s, t: s(t))
    assert float(jitted(sched, jnp.asarray(1))) == pytest.approx(0.06)
    assert float(constant(0.3)(5)) == pytest.approx(0.3)


def test_gd_with_warmup_matches_hand_loop():
    obj, H = _quadratic()
    p = np.random.default_rng(2).standard_normal(D)
    T, W, peak = 9, 5, 0.25
    run = run_gd(
        obj,
        jnp.asarray(p),
        lr=linear_warmup(peak, W),
        steps=T,
        spectrum=Spectrum(tol=1e-10),
        chunk=CHUNK,
    )
    lrs = []
    for t in range(T):
        lrs.append(peak * min(1.0, (t + 1) / W))
        p = p - lrs[-1] * (H @ p)
    np.testing.assert_allclose(run["lr"], lrs, rtol=1e-12)
    np.testing.assert_allclose(run.params, p, rtol=1e-10, atol=1e-14)


def test_schedules_are_pytrees():
    for sched in (constant(0.1), inverse_sharpness(), linear_warmup(0.2, 3)):
        leaves, treedef = jax.tree_util.tree_flatten(sched)
        assert leaves
        assert isinstance(jax.tree_util.tree_unflatten(treedef, leaves), type(sched))
    assert not Constant.needs_sharpness and InverseSharpness.needs_sharpness
    assert not LinearWarmup.needs_sharpness


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf"), "fast", None])
def test_bad_learning_rates(bad):
    with pytest.raises(ValueError, match="lr"):
        constant(bad)
    with pytest.raises(ValueError, match="peak_lr"):
        linear_warmup(bad, 10)
    obj, _ = _quadratic()
    with pytest.raises(ValueError, match="lr"):
        run_gd(obj, jnp.ones(D), lr=bad, steps=3)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "10"])
def test_bad_warmup_length(bad):
    with pytest.raises(ValueError, match="warmup_steps"):
        linear_warmup(0.1, bad)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="init_lr"):
        linear_warmup(0.1, 10, init_lr=0.2)
    with pytest.raises(ValueError, match="init_lr"):
        linear_warmup(0.1, 10, init_lr=-0.01)
    with pytest.raises(ValueError, match="scale"):
        inverse_sharpness(0.0)
    with pytest.raises(ValueError, match="max_lr"):
        inverse_sharpness(1.0, max_lr=-1.0)
