"""The central flow (eos.dynamics.central) against independent computations: App. B's toy
model in closed form, a brute-force LCP, dense eigenvalues and finite differences."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eos  # noqa: F401  (float64)
from eos.dynamics.central import (
    TIGHT,
    CentralSettings,
    central_flow,
    central_point,
    complementarity,
)
from eos.objective import Objective
from eos.theory.toy import ToyModel


# ------------------------------------------------------------------ the LCP
def _brute_force_lcp(M, q):
    """Every active set: s_A = -M_AA^{-1} q_A, kept if s >= 0 and Ms + q >= 0."""
    k = len(q)
    found = []
    for r in range(k + 1):
        for A in itertools.combinations(range(k), r):
            s = np.zeros(k)
            if A:
                idx = list(A)
                s[idx] = np.linalg.solve(M[np.ix_(idx, idx)], -q[idx])
            if (s >= -1e-12).all() and (M @ s + q >= -1e-12).all():
                found.append(s)
    return found


@pytest.mark.parametrize("seed", range(5))
def test_complementarity_matches_enumeration(seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((4, 6))
    M, q = A @ A.T, rng.standard_normal(4) * 3
    s = complementarity(M, q)
    (expected,) = _brute_force_lcp(M, q)  # M positive definite: a unique solution
    np.testing.assert_allclose(s, expected, atol=1e-10)
    r = M @ s + q
    assert s.min() >= 0 and r.min() >= -1e-10 and abs(s @ r) <= 1e-10


def test_complementarity_checks_shapes():
    with pytest.raises(ValueError, match="M must be"):
        complementarity(np.eye(2), np.ones(3))


# ------------------------------------------------------------------ App. B's toy model
def test_toy_model_sigma2_is_delta2_and_invariants():
    """On App. B's model the flow keeps x = y = 0, moves z at speed eta per step, keeps
    S = 2/eta and has sigma^2 = 2 alpha / beta = delta^2; the predicted time-averaged loss is
    L + sigma^2/eta."""
    model = ToyModel(alpha=0.3, beta=2.0, eta=0.1)
    obj = Objective.from_function(model.loss, num_params=3)
    steps = 25
    ref = np.asarray(model.constrained_trajectory(steps))  # (0, 0, -eta t)
    flow = central_flow(obj, jnp.zeros(3), lr=model.eta, steps=steps,
                        U0=np.array([[1.0], [0.3], [0.0]]), references={"dagger": ref})  # fmt: skip
    np.testing.assert_allclose(flow["central/sigma2"][:, 0], model.delta**2, rtol=1e-8)
    assert flow["distance/dagger"].max() <= 1e-8
    np.testing.assert_allclose(flow["central/eigvals"][:, 0], model.threshold, rtol=1e-10)
    losses = np.array([float(model.loss(jnp.asarray(p))) for p in ref])
    np.testing.assert_allclose(flow["central/loss"], losses, atol=1e-8)
    np.testing.assert_allclose(
        flow["central/predicted_loss"], losses + model.delta**2 / model.eta, atol=1e-8
    )


def test_toy_model_off_the_floor_converges_to_it():
    """Started at x != 0 (S > 2/eta), the flow returns to S = 2/eta and sigma^2 -> delta^2."""
    model = ToyModel(alpha=0.3, beta=2.0, eta=0.1)
    obj = Objective.from_function(model.loss, num_params=3)
    flow = central_flow(obj, jnp.array([0.05, 0.0, 0.0]), lr=model.eta, steps=40,
                        U0=np.array([[1.0], [0.0], [0.0]]))  # fmt: skip
    assert abs(flow["central/eigvals"][-1, 0] - model.threshold) <= 1e-6 * model.threshold
    assert abs(flow["central/sigma2"][-1, 0] - model.delta**2) <= 1e-4 * model.delta**2


# ------------------------------------------------------------------ two eigenvalues at the edge
ETA, EPS, C = 0.1, 1e-3, 0.4


def _two_edge_loss(theta):
    """Quadratic plus cubic: S_1 = 2/eta + y1 + c z, S_2 = 2/eta - eps + y2 + c z at x = 0."""
    x1, x2, y1, y2, z = theta
    return (0.5 * (2 / ETA + y1 + C * z) * x1**2 + 0.5 * (2 / ETA - EPS + y2 + C * z) * x2**2
            - 1.0 * y1 - 0.7 * y2 + z + 0.1 * y1 * y2)  # fmt: skip


def _dense_top2(theta):
    return np.linalg.eigvalsh(np.asarray(jax.hessian(_two_edge_loss)(jnp.asarray(theta))))[-2:][
        ::-1
    ]


def _check_complementarity(w, sigma2, velocity, restoring, tol):
    """S_i <= 2/eta, sigma^2 >= 0, dS_i/dtau <= -kappa (S_i - 2/eta), slackness; dS/dtau by
    central differences of dense eigenvalues along the velocity."""
    kappa, h = restoring / ETA, 1e-5
    S = _dense_top2(w)
    dS = (_dense_top2(w + h * velocity) - _dense_top2(w - h * velocity)) / (2 * h)
    slack = -dS - kappa * (S - 2 / ETA)
    # without restoring, only eigenvalues on the boundary carry a velocity condition
    on = np.ones(2, bool) if kappa else np.abs(S - 2 / ETA) <= 1e-9 * 2 / ETA
    assert (S <= 2 / ETA + tol).all()
    assert (sigma2 >= 0).all() and (sigma2[~on] == 0).all()
    assert (slack[on] >= -tol).all()
    assert np.abs(sigma2 * slack).max() <= tol
    return slack


def test_two_eigenvalues_solve_their_complementarity_problem():
    obj = Objective.from_function(_two_edge_loss, num_params=5)
    w = np.zeros(5)
    U0 = np.eye(5)[:, :2] + 0.1
    for restoring in (0.0, 1.0):
        p = central_point(obj, w, ETA, U0, CentralSettings(restoring=restoring, eig_tol=1e-10))
        np.testing.assert_allclose(p.eigvals, _dense_top2(w), rtol=1e-12)
        slack = _check_complementarity(w, p.sigma2, p.velocity, restoring, 1e-8)
        if restoring:  # S_2 rises faster than kappa*eps: both constraints active
            assert (p.sigma2 > 1e-3).all() and np.abs(slack).max() <= 1e-8
        else:  # S_2 < 2/eta is not constrained
            assert p.sigma2[0] > 1e-3 and p.sigma2[1] == 0


def test_two_eigenvalues_along_the_flow():
    """Integrated: S_1 stays at 2/eta, the restoring rate 1/eta closes S_2's gap as
    -eps exp(-t) (to 1e-8, 5e-10 of 2/eta: RK45 at rtol 1e-7) (both constraints active, dS_i/dtau = -kappa (S_i - 2/eta)); a
    checkpointed run resumed halfway is bit-identical."""
    obj = Objective.from_function(_two_edge_loss, num_params=5)
    U0 = np.eye(5)[:, :2] + 0.1
    states = []
    rk45 = CentralSettings(method="RK45", rtol=1e-7, atol=1e-10, eig_tol=1e-10)
    kw = dict(lr=ETA, steps=8, U0=U0, checkpoint_every=4, settings=rk45)
    full = central_flow(obj, np.zeros(5), on_checkpoint=states.append, **kw)
    t = full["step"]
    np.testing.assert_allclose(full["central/eigvals"][:, 0], 2 / ETA, rtol=1e-12)
    np.testing.assert_allclose(full["central/eigvals"][:, 1] - 2 / ETA, -EPS * np.exp(-t),
                               rtol=0, atol=1e-8)  # fmt: skip
    assert (full["central/sigma2"] > 0).all()
    resumed = central_flow(obj, np.zeros(5), resume_from=states[0], **kw)
    for key in full.keys():
        np.testing.assert_array_equal(resumed[key][:-1], full[key][:-1], err_msg=key)
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)


# ------------------------------------------------------------------ reductions over cycles
def test_cycle_window_on_constructed_bursts():
    """Three period-2 bursts of x (starts at 10, 40, 70) on a quiet background: the window
    runs from the first burst's start to the last one's (two whole cycles); one burst: to
    the end."""
    from eos.analysis.central import amplitude, cycle_window, onsets

    t = np.arange(100)
    x = 1e-4 * (-1.0) ** t
    for s in (10, 40, 70):
        x[s : s + 8] = (-1.0) ** t[s : s + 8] * np.array([0.2, 0.5, 1, 0.8, 0.6, 0.4, 0.3, 0.1])
    assert cycle_window(x) == (9, 69, 2)  # the envelope max(|x_t|, |x_t+1|) starts a step early
    np.testing.assert_array_equal(onsets(amplitude(x), 0.1), [9, 39, 69])
    one = np.where(t < 30, x, 1e-4)
    assert cycle_window(one[:, None]) == (9, 100, 0)


def test_window_comparison_on_constructed_series():
    """Constant predictions against a GD loss that alternates around its mean: the relative
    errors and the ratios are the closed-form ones."""
    from eos.analysis.central import window_comparison

    T, lr = 60, 0.1
    t = np.arange(T)
    x = np.where((t >= 10) & (t < 20), 0.2, 1e-3) * (-1.0) ** t  # window: 9..60 (one blow-up)
    s2 = np.zeros((T, 2))
    s2[:, 0] = 0.01
    s2[30:35, 1] = 0.005  # a second eigenvalue at the edge for five steps
    traj = {
        "gd/x": x[:, None], "gd/loss": 1.0 + 0.1 * (-1.0) ** t,
        "central/predicted_loss": np.full(T, 1.05), "central/sigma2": s2,
        "constrained/loss": np.full(T, 0.9), "constrained/delta2": np.full(T, 0.02),
        "flow/loss": np.full(T, 0.8), "distance/gd_average": np.full(T, 0.1),
        "distance/gd_average_constrained": np.linspace(0, 1, T),
        "distance/gd_average_flow": np.full(T, 0.3), "distance/gd": np.full(T, 0.4),
    }  # fmt: skip
    out = window_comparison(traj, lr)
    assert (out["start"], out["stop"], out["cycles"]) == (9, 60, 0)
    w = slice(9, 60)
    loss = np.mean(traj["gd/loss"][w])
    assert out["loss_gd"] == pytest.approx(loss)
    assert out["loss_err_central"] == pytest.approx(abs(1.05 - loss) / loss)
    assert out["loss_err_constrained"] == pytest.approx(abs(0.9 + 0.02 / lr - loss) / loss)
    assert out["loss_err_flow"] == pytest.approx(abs(0.8 - loss) / loss)
    x2 = np.mean(x[w] ** 2)
    assert out["sigma2_ratio"] == pytest.approx((0.01 + 5 * 0.005 / 51) / x2)
    assert out["delta2_ratio"] == pytest.approx(0.02 / x2)
    assert out["dist_constrained"] == pytest.approx(np.mean(np.linspace(0, 1, T)[w]))
    assert out["final_constrained"] == 1.0 and out["dist_central"] == pytest.approx(0.1)
    assert (out["edge_max"], out["edge_steps"]) == (2, 5)


def test_default_settings_against_a_tight_reference():
    """The defaults (RK23, rtol 1e-6, eigen residual 1e-7) against RK45 at rtol 1e-10 with
    eigen residual 1e-12, on the two-eigenvalue problem over 30 steps (both constraints
    active). The chapter reports ratios to three digits and distances of 1e-3 of the path or
    more, so it needs sigma^2 to 1e-4 and the path to 1e-6 of its length (measured: 1.6e-5
    and 7e-8), at under half the tight run's evaluations (measured: 143 against 422)."""
    obj = Objective.from_function(_two_edge_loss, num_params=5)
    U0 = np.eye(5)[:, :2] + 0.1
    kw = dict(lr=ETA, steps=30, U0=U0)
    tight = central_flow(obj, np.zeros(5), settings=TIGHT, keep_points=True, **kw)
    fast = central_flow(obj, np.zeros(5), references={"tight": tight["central/w"]}, **kw)
    length = np.linalg.norm(np.diff(tight["central/w"], axis=0), axis=1).sum()
    assert fast["distance/tight"].max() <= 1e-6 * length
    np.testing.assert_allclose(fast["central/sigma2"], tight["central/sigma2"], rtol=1e-4)
    assert (
        fast.meta["evaluations"] <= 5 * 30
        and 2 * fast.meta["evaluations"] < tight.meta["evaluations"]
    )
