"""eos.dynamics on the toy model of App. B, where everything has a closed form.

L(x, y, z) = (2/eta + sqrt(beta) y) x^2/2 - (alpha/sqrt(beta)) y + z (eos.theory.toy, "+z"
convention). From (x0, 0, 0): theta-dagger_t = (0, 0, -eta t), u = e_x, grad S = sqrt(beta) e_y,
and both gradient descent and the predicted dynamics follow eq. (3) exactly in
(x, y) = (u . v, grad S . v). The gradient flow from the origin is y(s) = alpha s / sqrt(beta),
z(s) = -s, x = 0. Each expected value below is computed independently of eos.dynamics (the
recursion of eq. (3), closed forms, scipy's ODE solver).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from eos import dynamics as dyn
from eos.dynamics.flow import flow_interval
from eos.objective import Objective
from eos.theory.toy import ToyModel

ALPHA, BETA, ETA = 1.0, 4.0, 0.1
STEPS = 60
# Settings shared by every track() call of this module (one compilation).
KW = dict(lr=ETA, diag_every=20, lambda2_every=10, accuracy_every=10, beta_every=20, progress=False,
          eig_tol=1e-12, proj_tol=1e-12, point_tol=1e-10, generalized=True)  # fmt: skip


@pytest.fixture(scope="module")
def toy():
    model = ToyModel(ALPHA, BETA, ETA)
    return model, Objective.from_function(model.loss, num_params=3)


def eq3(x0: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The simplified dynamics eq. (3), iterated directly."""
    xs, ys = [x0], [0.0]
    for _ in range(steps):
        x, y = xs[-1], ys[-1]
        xs.append(-(1 + ETA * y) * x)
        ys.append(y + ETA * (ALPHA - BETA * x * x / 2))
    return np.array(xs), np.array(ys)


@pytest.fixture(scope="module")
def run(toy):
    model, obj = toy
    x0 = 0.05 * model.delta
    traj = dyn.track(obj, jnp.array([x0, 0.0, 0.0]), steps=STEPS, **KW)
    return x0, traj


def test_settings_object_and_flat_keywords_give_the_same_run(toy, run):
    """track(settings=TrackSettings(...)) is track(**flat keywords), bit for bit; keywords
    given with a settings object override it."""
    model, obj = toy
    x0, traj = run
    flat = {k: v for k, v in KW.items() if k not in ("lr", "progress")}
    settings = dyn.TrackSettings.create(**flat)
    th0 = jnp.array([x0, 0.0, 0.0])
    same = dyn.track(obj, th0, lr=ETA, steps=STEPS, settings=settings, progress=False)
    assert same.meta == traj.meta
    assert set(same.arrays) == set(traj.arrays)
    for k in traj.arrays:
        np.testing.assert_array_equal(same[k], traj[k], err_msg=k)
    short = dyn.track(obj, th0, lr=ETA, steps=4, settings=settings.replace(diag_every=50),
                      progress=False, diag_every=2)  # fmt: skip
    assert short.meta["diag_every"] == 2 and list(short["assumptions/step"]) == [0, 2, 4]


def test_constrained_trajectory_is_analytic(toy, run):
    _, traj = run
    t = np.arange(STEPS + 1)
    assert traj.meta["stop_reason"] == "completed" and traj.steps_done == STEPS
    # theta-dagger_t = (0, 0, -eta t): loss -eta t, sharpness 2/eta, grad . u = 0.
    np.testing.assert_allclose(traj["constrained/loss"], -ETA * t, atol=1e-12)
    np.testing.assert_allclose(traj["constrained/sharpness"], 2 / ETA, rtol=1e-13)
    assert np.max(np.abs(traj["constrained/residual_grad_u"])) < 1e-12
    # alpha = -grad L . grad S, beta = ||grad S||^2 (App. B), delta = sqrt(2 alpha / beta).
    np.testing.assert_allclose(traj["constrained/alpha"], ALPHA, rtol=1e-10)
    np.testing.assert_allclose(traj["constrained/beta"], BETA, rtol=1e-10)
    np.testing.assert_allclose(traj["constrained/delta"], math.sqrt(2 * ALPHA / BETA), rtol=1e-10)
    np.testing.assert_allclose(traj["constrained/epsilon"], ETA * math.sqrt(ALPHA), rtol=1e-10)


def test_constrained_steps_by_hand(toy):
    """project / constrained_step directly: theta-dagger_t = (0, 0, -eta t) (both variants)."""
    model, obj = toy
    tight = dict(tol=1e-14, eig_tol=1e-14)
    u0 = jnp.array([1.0, 0.2, 0.1])
    P0 = jax.jit(lambda th: dyn.project(obj, th, ETA, u0, substeps=8, **tight))(
        jnp.array([0.03, 0.0, 0.0])
    )
    np.testing.assert_allclose(np.asarray(P0.theta), [0, 0, 0], atol=1e-12)
    assert abs(float(P0.u[0])) == pytest.approx(1.0, abs=1e-12)
    for kw in (dict(), dict(predictor=False, fresh_direction=True, adaptive=False)):
        step = jax.jit(lambda P, kw=kw: dyn.constrained_step(obj, P, ETA, **tight, **kw))
        P = P0
        for t in range(1, 4):
            P = step(P)
            np.testing.assert_allclose(np.asarray(P.theta), [0, 0, -ETA * t], atol=1e-12)
            assert float(jnp.dot(P.u, P0.u)) > 0  # consistent eigenvector sign


def test_gd_and_predicted_follow_eq3(run):
    x0, traj = run
    xs, ys = eq3(x0, STEPS)
    sign = np.sign(traj["gd/x"][0])  # u = +-e_x
    scale_x, scale_y = np.max(np.abs(xs)), np.max(np.abs(ys))
    for prefix in ("gd", "predicted", "generalized"):
        np.testing.assert_allclose(sign * traj[f"{prefix}/x"], xs, atol=1e-8 * scale_x)
        np.testing.assert_allclose(traj[f"{prefix}/y"], ys, atol=1e-8 * scale_y)
    # ||theta_t - theta-dagger_t|| = ||(x, y / sqrt(beta), 0)||
    np.testing.assert_allclose(traj["gd/distance"], np.hypot(xs, ys / math.sqrt(BETA)), rtol=1e-8)
    # GD and the predicted iterate coincide (deviation 0), and the loss is exact at the iterate:
    # L(theta-dagger + v) with v = (x, y/sqrt(beta), 0).
    assert np.max(traj["theorem1/deviation"]) < 1e-8 * np.max(traj["gd/distance"])
    yc = ys / math.sqrt(BETA)
    loss = (2 / ETA + ys) * xs**2 / 2 - ALPHA / math.sqrt(BETA) * yc - ETA * np.arange(STEPS + 1)
    np.testing.assert_allclose(traj["predicted/loss"], loss, atol=1e-9 * np.max(np.abs(loss)))
    # the cycle is visible: |x| goes up past delta and comes back down
    delta = math.sqrt(2 * ALPHA / BETA)
    assert np.max(np.abs(xs)) > delta and abs(xs[-1]) < np.max(np.abs(xs))


def test_generalized_reduces_to_predicted(run):
    """F_t = 0 on the toy (the loss is exactly quadratic along u): eq. (11) = eq. (5)."""
    _, traj = run
    for key in ("x", "y", "loss", "sharpness"):
        a, b = traj[f"generalized/{key}"], traj[f"predicted/{key}"]
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_theorem1_formulas(run):
    """Theorem 1's closed forms against the exact loss/sharpness of the toy at theta-dagger + v."""
    x0, traj = run
    xs, ys = eq3(x0, STEPS)
    t = np.arange(STEPS + 1)
    np.testing.assert_allclose(traj["theorem1/loss"], -ETA * t + xs**2 / ETA, rtol=1e-8, atol=1e-12)
    # (grad S . u) = 0 on the toy: 2/eta + y
    np.testing.assert_allclose(traj["theorem1/sharpness"], 2 / ETA + ys, rtol=1e-10)
    # exact sharpness of [[a, c], [c, 0]], a = 2/eta + y, c = sqrt(beta) x
    a, c = 2 / ETA + ys, math.sqrt(BETA) * xs
    S = (a + np.sqrt(a * a + 4 * c * c)) / 2
    np.testing.assert_allclose(traj["gd/sharpness"], S, rtol=1e-9)
    np.testing.assert_allclose(traj["predicted/sharpness"], S, rtol=1e-9)


def test_beta_st_and_lambda2(run):
    """beta_{s->t} = ||grad S||^2 = beta (H grad S = 0); lambda_2 = 0 at theta-dagger."""
    _, traj = run
    starts = traj["beta_st/start"]
    np.testing.assert_array_equal(starts, [0, 20, 40, 60])
    vals = traj["beta_st/value"]
    for i, s in enumerate(starts):
        followed = vals[i, s:STEPS]  # recorded for t = s .. STEPS - 1
        np.testing.assert_allclose(followed, BETA, rtol=1e-10)
        assert np.all(np.isnan(vals[i, :s]))
    np.testing.assert_array_equal(traj["lambda2/step"], np.arange(0, STEPS + 1, 10))
    assert np.max(np.abs(traj["lambda2/value"])) < 1e-8
    assert np.all(np.isnan(traj["accuracy/value"]))  # a function objective has no labels
    # App. F line profile: F = 0 on the toy; limiting sharpness 2/eta
    assert np.max(np.abs(traj["quadratic/F"])) < 1e-10
    np.testing.assert_allclose(traj["quadratic/limiting_sharpness"], 2 / ETA, rtol=1e-9)
    np.testing.assert_array_equal(traj["assumptions/step"], [0, 20, 40, 60])


def test_flow_closed_form(toy):
    """From the origin: y(s) = alpha s/sqrt(beta), z(s) = -s; S = 2/eta + alpha s."""
    _, obj = toy
    traj = dyn.track(obj, jnp.zeros(3), steps=25, **KW)
    s = ETA * np.arange(26)
    y = ALPHA * s / math.sqrt(BETA)
    np.testing.assert_allclose(
        traj["flow/loss"], -ALPHA / math.sqrt(BETA) * y - s, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(traj["flow/sharpness"], 2 / ETA + math.sqrt(BETA) * y, rtol=1e-10)
    # theta-dagger_t = (0, 0, -eta t) = the flow's z: the distance is the flow's y
    np.testing.assert_allclose(traj["flow/distance"], y, rtol=1e-10, atol=1e-12)
    # with x0 = 0 gradient descent never leaves the x = 0 plane
    assert np.max(np.abs(traj["gd/x"])) < 1e-12


@pytest.mark.parametrize(
    "method, x0, tol",
    [
        ("etd", 0.6, 1e-5),  # a transient (x0 ~ delta): sub-steps with h S <= 1/2
        ("etd", 0.007, 2e-6),  # near the valley floor: one sub-step per interval
        ("rk4", 0.6, 5e-4),  # the h S <= 1/2 reference is less accurate than etd here
    ],
)
def test_flow_integrator_against_scipy(toy, method, x0, tol):
    """flow_interval over 12 intervals vs scipy's DOP853 at rtol 1e-13 (independent)."""
    model, _ = toy
    theta = jnp.array([x0, 0.3, 0.0])
    grad = jax.jit(model.grad)

    def rhs(_, th):
        return -np.asarray(model.grad(jnp.asarray(th)))

    ref = solve_ivp(rhs, (0, 12 * ETA), np.asarray(theta), method="DOP853", rtol=1e-13,
                    atol=1e-15, t_eval=ETA * np.arange(1, 13)).y.T  # fmt: skip

    @jax.jit
    def step(th):
        w, V = jnp.linalg.eigh(model.hessian(th))
        return flow_interval(
            grad, th, ETA, grad0=grad(th), sharpness=w[-1], u=V[:, -1], method=method
        )

    errs = []
    for k in range(12):
        theta, _ = step(theta)
        errs.append(float(jnp.linalg.norm(theta - ref[k]) / jnp.linalg.norm(ref[k])))
    assert max(errs) < tol, errs


def test_resume_bitwise(toy, tmp_path):
    """An interrupted run resumed from a checkpoint equals the uninterrupted run, bit for bit."""
    model, obj = toy
    th0 = jnp.array([0.05 * model.delta, 0.0, 0.0])
    saved = {}

    def keep(state):
        saved[int(state["step"])] = {k: np.array(v) for k, v in state.items()}

    full = dyn.track(obj, th0, steps=45, on_checkpoint=keep, checkpoint_every=15, **KW)
    assert sorted(saved) == [15, 30]

    class Stop(Exception):
        pass

    def interrupt(state):
        if int(state["step"]) == 30:
            raise Stop

    with pytest.raises(Stop):
        dyn.track(obj, th0, steps=45, on_checkpoint=interrupt, checkpoint_every=15, **KW)
    resumed = dyn.track(obj, th0, steps=45, resume_from=saved[30], **KW)
    assert set(resumed.arrays) == set(full.arrays)
    for k in full.arrays:
        np.testing.assert_array_equal(resumed[k], full[k], err_msg=k)
    # npz round trip through to_arrays/from_arrays (no pickles)
    np.savez(tmp_path / "t.npz", **full.to_arrays())
    with np.load(tmp_path / "t.npz", allow_pickle=False) as f:
        back = dyn.Trajectory.from_arrays({k: f[k] for k in f.files})
    assert back.meta == full.meta
    assert set(back.arrays) == set(full.arrays)
    for k in full.arrays:
        np.testing.assert_array_equal(back[k], full[k])


def test_bad_inputs(toy):
    _, obj = toy
    th0 = jnp.array([0.01, 0.0, 0.0])
    with pytest.raises(ValueError, match="lr"):
        dyn.track(obj, th0, lr=0.0, steps=3, progress=False)
    with pytest.raises(ValueError, match="lr"):
        dyn.track(obj, th0, lr=-0.1, steps=3, progress=False)
    with pytest.raises(ValueError, match="steps"):
        dyn.track(obj, th0, lr=ETA, steps=0, progress=False)
    with pytest.raises(ValueError, match="theta0"):
        dyn.track(obj, jnp.array([np.nan, 0.0, 0.0]), lr=ETA, steps=3, progress=False)
    with pytest.raises(ValueError, match="objective"):
        dyn.track(lambda p: jnp.sum(p**2), th0, lr=ETA, steps=3, progress=False)
    with pytest.raises(ValueError, match="lr"):
        dyn.to_instability(obj, th0, lr=0.0, max_steps=5, progress=False)
    with pytest.raises(ValueError, match="max_steps"):
        dyn.to_instability(obj, th0, lr=ETA, max_steps=-1, progress=False)
    with pytest.raises(ValueError, match="resume_from"):
        dyn.track(obj, th0, steps=3, resume_from={"step": np.asarray(1)}, **KW)


def test_divergence_during_tracking_stops_with_reason(toy):
    """GD from a point with S = 30 > 2/eta explodes (|x| doubles every step): the run stops, says why."""
    _, obj = toy
    th0 = jnp.array([0.01, 5.0, 0.0])  # sharpness 2/eta + sqrt(beta) * 5 = 30
    with pytest.warns(UserWarning, match=r"diverged at step \d+.*smaller learning rate"):
        traj = dyn.track(obj, th0, steps=200, **KW)
    assert traj.meta["stop_reason"] == "gd_diverged"
    assert 0 < traj.steps_done < 200
    assert np.all(np.isfinite(traj["gd/loss"]))
