"""Tests for eos.theory.ode: eq. (3), eq. (4), Lemma 3, Corollary 1, the period, Lotka-Volterra.

Independent references: plain-Python iteration of eq. (3), scipy's DOP853 in the original
variables ``(X, Y)`` with event location, the linearisation at ``(delta, 0)``, and the
classical Lotka-Volterra system integrated directly.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from eos.theory import ode

ALPHA, BETA = 0.7, 2.3
DELTA = math.sqrt(2 * ALPHA / BETA)


def _rhs(t, z, alpha=ALPHA, beta=BETA):
    X, Y = z
    return [X * Y, alpha - beta * X * X / 2]


def _scipy_orbit(X0, Y0, t_max, **kw):
    """Reference solution of eq. (4) in (X, Y) with scipy (DOP853, tight tolerances)."""
    return solve_ivp(
        _rhs,
        (0.0, t_max),
        [X0, Y0],
        method="DOP853",
        rtol=1e-13,
        atol=1e-14,
        dense_output=True,
        **kw,
    )


# --------------------------------------------------------------------------- eq. (3)
def test_simplified_dynamics_matches_python_loop():
    x, y = 0.01, -0.3
    xs, ys = ode.simplified_dynamics(x, y, alpha=ALPHA, beta=BETA, eta=0.02, steps=500)
    assert xs.shape == ys.shape == (501,) and xs.dtype == jnp.float64
    for t in range(500):
        x, y = -(1 + 0.02 * y) * x, y + 0.02 * (ALPHA - BETA * x * x / 2)
        assert abs(float(xs[t + 1]) - x) <= 1e-13 * max(1.0, abs(x))
        assert abs(float(ys[t + 1]) - y) <= 1e-13 * max(1.0, abs(y))


def test_simplified_dynamics_keeps_float32():
    xs, ys = ode.simplified_dynamics(
        jnp.float32(0.1), jnp.float32(0.0), alpha=1.0, beta=1.0, eta=0.1, steps=5
    )
    assert xs.dtype == jnp.float32 and ys.dtype == jnp.float32


# --------------------------------------------------------------------------- eq. (4), Lemma 3
@pytest.fixture(scope="module")
def ten_periods():
    X0, Y0 = 0.05, 0.3
    T = ode.orbit_period(X0, Y0, alpha=ALPHA, beta=BETA)
    return X0, Y0, T, ode.solve(X0, Y0, alpha=ALPHA, beta=BETA, t_max=10 * T, num=4001)


def test_g_conserved_over_ten_periods(ten_periods):
    X0, Y0, _, sol = ten_periods
    g = np.asarray(ode.conserved_quantity(sol.X, sol.Y, alpha=ALPHA, beta=BETA))
    g0 = float(ode.conserved_quantity(X0, Y0, alpha=ALPHA, beta=BETA))
    assert np.max(np.abs(g - g0)) <= 1e-9 * g0
    tt = np.linspace(0, float(sol.ts[-1]), 777)  # off-grid, dense output
    X, Y = sol.evaluate(tt)
    g_dense = np.asarray(ode.conserved_quantity(X, Y, alpha=ALPHA, beta=BETA))
    assert np.max(np.abs(g_dense - g0)) <= 1e-9 * g0


def test_solution_matches_scipy(ten_periods):
    X0, Y0, T, sol = ten_periods
    ref = _scipy_orbit(X0, Y0, 10 * T)
    tt = np.linspace(0, 10 * T, 301)
    X, Y = sol.evaluate(tt)
    Xr, Yr = ref.sol(tt)
    np.testing.assert_allclose(np.asarray(X), Xr, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(Y), Yr, atol=1e-7)
    X1, Y1 = sol.evaluate(float(sol.ts[123]))
    np.testing.assert_allclose([float(X1), float(Y1)], [sol.X[123], sol.Y[123]], rtol=1e-12)


def test_conserved_quantity_derivative_vanishes_along_vector_field():
    """Lemma 3 by finite differences: grad g . (XY, alpha - beta X^2/2) = 0."""
    rng = np.random.default_rng(1)
    for X, Y in zip(rng.uniform(0.05, 3, 20), rng.normal(size=20)):
        e = 1e-6
        gX = (
            ode.conserved_quantity(X + e, Y, alpha=ALPHA, beta=BETA)
            - ode.conserved_quantity(X - e, Y, alpha=ALPHA, beta=BETA)
        ) / (2 * e)
        gY = (
            ode.conserved_quantity(X, Y + e, alpha=ALPHA, beta=BETA)
            - ode.conserved_quantity(X, Y - e, alpha=ALPHA, beta=BETA)
        ) / (2 * e)
        dX, dY = _rhs(0, [X, Y])
        assert abs(float(gX * dX + gY * dY)) < 1e-7 * (abs(float(gX * dX)) + 1)


# --------------------------------------------------------------------------- Corollary 1
@pytest.mark.parametrize(
    "X0, Y0", [(0.1, 0.0), (1e-4, 0.0), (1e-8, 0.0), (0.3, -0.5), (2.5 * DELTA, 0.2)]
)
def test_orbit_bounds_contain_and_are_attained(X0, Y0):
    b = ode.orbit_bounds(X0, Y0, alpha=ALPHA, beta=BETA)
    T = ode.orbit_period(X0, Y0, alpha=ALPHA, beta=BETA)
    sol = ode.solve(X0, Y0, alpha=ALPHA, beta=BETA, t_max=1.2 * T, num=4001)
    X, Y = np.asarray(sol.X), np.asarray(sol.Y)
    assert X.min() >= b.x_min * (1 - 1e-9) and X.max() <= b.x_max * (1 + 1e-9)
    assert np.abs(Y).max() <= b.y_max * (1 + 1e-9)
    # attained: extremes located independently by scipy events (Y = 0 and X = delta)
    ev_y = lambda t, z: z[1]  # noqa: E731
    ev_x = lambda t, z: z[0] - DELTA  # noqa: E731
    ref = _scipy_orbit(X0, Y0, 1.2 * T, events=[ev_y, ev_x])
    xs = ref.y_events[0][:, 0]
    ys = np.abs(ref.y_events[1][:, 1])
    np.testing.assert_allclose(xs.min(), b.x_min, rtol=1e-6)
    np.testing.assert_allclose(xs.max(), b.x_max, rtol=1e-6)
    np.testing.assert_allclose(ys.max(), b.y_max, rtol=1e-6)
    # and by the refined measurement on the dense diffrax output
    np.testing.assert_allclose(ode.measured_extent(sol), (b.x_min, b.x_max, b.y_max), rtol=1e-6)


def test_corollary1_x_min_is_x0_and_scalings():
    """Y(0) = 0, X(0) < delta: X(0) <= X(t); the exact bounds approach sqrt(2) x the scalings."""
    ratios = []
    for X0 in (1e-2, 1e-10, 1e-50, 1e-250):
        b = ode.orbit_bounds(X0, 0.0, alpha=ALPHA, beta=BETA)
        np.testing.assert_allclose(b.x_min, X0, rtol=1e-12)
        np.testing.assert_allclose(b.y_scaling, math.sqrt(ALPHA * math.log(DELTA / X0)), rtol=1e-14)
        ratios.append((b.x_max / b.x_scaling, b.y_max / b.y_scaling))
    rx, ry = np.array(ratios).T
    assert np.all(np.diff(rx) < 0) and np.all(np.diff(ry) > 0)  # monotone approach ...
    np.testing.assert_allclose([rx[-1], ry[-1]], math.sqrt(2), rtol=5e-3)  # ... to sqrt(2)
    assert math.isnan(ode.orbit_bounds(2 * DELTA, alpha=ALPHA, beta=BETA).x_scaling)


# --------------------------------------------------------------------------- period
@pytest.mark.parametrize("X0, Y0", [(0.05, 0.3), (1e-6, 0.0), (1.8 * DELTA, -0.1)])
def test_period_matches_return_times(X0, Y0):
    T = ode.orbit_period(X0, Y0, alpha=ALPHA, beta=BETA)
    ev = lambda t, z: z[0] - DELTA  # noqa: E731  (transversal section X = delta, Y > 0)
    ev.direction = 1
    ref = _scipy_orbit(X0, Y0, 3.5 * T, events=[ev])
    np.testing.assert_allclose(np.diff(ref.t_events[0]), T, rtol=1e-8)
    sol = ode.solve(X0, Y0, alpha=ALPHA, beta=BETA, t_max=3.5 * T, num=4001)
    np.testing.assert_allclose(np.diff(ode.section_crossings(sol)), T, rtol=1e-8)


def test_period_small_amplitude_limit():
    """Linearising eq. (4) at (delta, 0) gives period 2 pi / sqrt(beta delta^2) = 2 pi / sqrt(2 alpha)."""
    for alpha, beta in [(ALPHA, BETA), (1.0, 1.0), (3.0, 0.2)]:
        delta = math.sqrt(2 * alpha / beta)
        T = ode.orbit_period(delta * (1 - 1e-4), alpha=alpha, beta=beta)
        np.testing.assert_allclose(T, 2 * math.pi / math.sqrt(2 * alpha), rtol=1e-7)


# --------------------------------------------------------------------------- drift of eq. (3)
def test_discrete_drift_shrinks_with_eta():
    """Over a fixed ODE time eta t, g drifts along eq. (3) at first order in eta."""
    X0 = 0.1
    t_max = 2 * ode.orbit_period(X0, alpha=ALPHA, beta=BETA)
    etas = np.array([0.008, 0.004, 0.002, 0.001])
    drift = []
    for eta in etas:
        t, dg = ode.discrete_drift(X0, 0.0, alpha=ALPHA, beta=BETA, eta=eta, t_max=t_max)
        assert t[-1] >= t_max and dg[0] == 0.0
        drift.append(np.max(np.abs(dg)))
    drift = np.array(drift)
    assert np.all(np.diff(drift) < 0)
    order = np.polyfit(np.log(etas), np.log(drift), 1)[0]
    assert 0.8 < order < 1.3  # an explicit one-step map: first order


# --------------------------------------------------------------------------- Lotka-Volterra
def test_lotka_volterra_change_of_variables():
    X0 = 0.2
    T = ode.orbit_period(X0, alpha=ALPHA, beta=BETA)
    sol = ode.solve(X0, 0.0, alpha=ALPHA, beta=BETA, t_max=T, num=4001)
    P, Q = ode.lotka_volterra(sol.X, sol.Y, alpha=ALPHA, beta=BETA)
    g = np.asarray(ode.conserved_quantity(sol.X, sol.Y, alpha=ALPHA, beta=BETA))
    np.testing.assert_allclose(ode.lotka_volterra_invariant(P, Q), g, rtol=1e-12, atol=1e-14)
    assert np.all((Q <= 1) == (np.asarray(sol.Y) >= 0))
    # dQ/dt = (ds/dt) Q (P - 1) by central differences on the dense output
    tt, e = np.linspace(0.05 * T, 0.95 * T, 41), 1e-5
    _, Qp = ode.lotka_volterra(*sol.evaluate(tt + e), alpha=ALPHA, beta=BETA)
    _, Qm = ode.lotka_volterra(*sol.evaluate(tt - e), alpha=ALPHA, beta=BETA)
    X, Y = sol.evaluate(tt)
    P1, Q1 = ode.lotka_volterra(X, Y, alpha=ALPHA, beta=BETA)
    rate = ode.lotka_volterra_rate(Y, alpha=ALPHA)
    assert np.all(rate > 0)
    np.testing.assert_allclose(
        (Qp - Qm) / (2 * e), rate * ode.lotka_volterra_rhs(P1, Q1)[1], rtol=1e-6, atol=1e-8
    )
    # the period in the Lotka-Volterra clock s equals that of the classical system integrated directly
    s_period = np.trapezoid(ode.lotka_volterra_rate(sol.Y, alpha=ALPHA), np.asarray(sol.ts))
    ev = lambda s, z: z[0] - 1.0  # noqa: E731
    ev.direction = 1
    lv = solve_ivp(
        lambda s, z: list(ode.lotka_volterra_rhs(z[0], z[1])),
        (0, 3 * s_period),
        [P[0], Q[0]],
        method="DOP853",
        rtol=1e-12,
        atol=1e-13,
        events=[ev],
    )
    np.testing.assert_allclose(np.diff(lv.t_events[0]), s_period, rtol=1e-6)


def test_lotka_volterra_rate_is_continuous_at_zero():
    ys = np.array([-1e-9, 0.0, 1e-9, 1e-4])
    np.testing.assert_allclose(
        ode.lotka_volterra_rate(ys, alpha=ALPHA), math.sqrt(2 * ALPHA), rtol=2e-4
    )


# --------------------------------------------------------------------------- stages
def test_stages_from_changes_agree_with_vector_field():
    x, y = ode.simplified_dynamics(0.01, -0.5, alpha=ALPHA, beta=BETA, eta=0.01, steps=3000)
    x, y = np.asarray(x), np.asarray(y)
    by_field = ode.stage_of(x, y, alpha=ALPHA, beta=BETA)[:-1]
    by_changes = ode.stages_from_changes(np.abs(x), y)
    np.testing.assert_array_equal(by_field, by_changes)
    runs = ode.contiguous_runs(by_changes)
    labels = [lab for _, _, lab in runs]
    assert len(labels) >= 6 and set(labels) == {0, 1, 2, 3}
    assert all((b - a) % 4 == 1 for a, b in zip(labels, labels[1:]))  # 1 -> 2 -> 3 -> 4 -> 1


def test_contiguous_runs():
    assert ode.contiguous_runs([2, 2, 0, 1, 1, 1]) == [(0, 2, 2), (2, 3, 0), (3, 6, 1)]
    assert ode.contiguous_runs([]) == []


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ode.solve(0.0, 0.0, alpha=1, beta=1, t_max=1), "X0"),
        (lambda: ode.solve(-1.0, 0.0, alpha=1, beta=1, t_max=1), "X0"),
        (lambda: ode.solve(0.1, 0.0, alpha=0, beta=1, t_max=1), "alpha"),
        (lambda: ode.solve(0.1, 0.0, alpha=1, beta=-2, t_max=1), "beta"),
        (lambda: ode.solve(0.1, 0.0, alpha=1, beta=1, t_max=-1), "t_max"),
        (lambda: ode.solve(0.1, 0.0, alpha=1, beta=1, t_max=1, solver="rk4"), "solver"),
        (lambda: ode.orbit_bounds(-0.1, alpha=1, beta=1), "X0"),
        (lambda: ode.orbit_bounds(0.1, alpha=-1, beta=1), "alpha"),
        (lambda: ode.orbit_period(0.0, alpha=1, beta=1), "X0"),
        (lambda: ode.orbit_period(0.1, alpha=1, beta=0), "beta"),
        (lambda: ode.simplified_dynamics(0.1, 0.0, alpha=1, beta=1, eta=0, steps=3), "eta"),
        (lambda: ode.simplified_dynamics(0.1, 0.0, alpha=1, beta=1, eta=0.1, steps=-3), "steps"),
        (lambda: ode.conserved_quantity(0.1, 0.0, alpha=0, beta=1), "alpha"),
        (lambda: ode.discrete_drift(0.1, 0.0, alpha=1, beta=1, eta=-0.1, t_max=1), "eta"),
        (lambda: ode.lotka_volterra(0.1, 0.0, alpha=1, beta=0), "beta"),
    ],
)
def test_bad_input_raises(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_solve_in_float32():
    sol = ode.solve(np.float32(0.2), np.float32(0.0), alpha=1.0, beta=1.0, t_max=5.0, num=101)
    assert sol.X.dtype == jnp.float32 and sol.Y.dtype == jnp.float32
    g = np.asarray(ode.conserved_quantity(sol.X, sol.Y, alpha=1.0, beta=1.0))
    assert np.max(np.abs(g / g[0] - 1)) < 1e-4
