"""eos.dynamics on a tiny float64 MLP (148 parameters, 16 random images), checked against dense
linear algebra: ``jax.hessian`` + ``eigh`` for S, u and lambda_2, ``jax.grad`` of the top
eigenvalue for grad S (Lemma 2 computed independently), explicit projection matrices for the
predicted dynamics (eq. (6)), the generalized dynamics (eq. (11)) and beta_{s->t} (eq. (10)),
and scipy's ODE solver for the gradient flow.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from eos import dynamics as dyn
from eos.data import Dataset
from eos.objective import build

LR = 0.25
STEPS = 12
TIGHT = dict(eig_tol=1e-12, proj_tol=1e-12, point_tol=1e-8, substeps=20)


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(0)
    ds = Dataset(
        inputs=rng.normal(size=(16, 2, 2, 3)).astype(np.float32),
        labels=rng.integers(0, 4, size=16).astype(np.int32),
        num_classes=4,
        name="random",
    )
    obj, p0 = build("mlp", ds, "mse", width=6, depth=2)
    hess = jax.jit(jax.hessian(obj.fn))

    @jax.jit
    def dense(p):
        w, V = jnp.linalg.eigh(hess(p))
        return w, V

    grad_S = jax.jit(jax.grad(lambda p: jnp.linalg.eigh(hess(p))[0][-1]))
    return obj, p0.astype(jnp.float64), hess, dense, grad_S


@pytest.fixture(scope="module")
def solvers(net):
    """project / constrained_step at tight tolerances, compiled once (lr is an argument)."""
    obj = net[0]
    proj = jax.jit(
        lambda th, u0, lr: dyn.project(obj, th, lr, u0, substeps=40, tol=1e-13, eig_tol=1e-13)
    )
    step = jax.jit(
        lambda P, lr: dyn.constrained_step(obj, P, lr, tol=1e-13, eig_tol=1e-13, substeps=20)
    )
    return proj, step


def gd_path(obj, p, lr, steps):
    """Plain float64 GD iterates ``[theta_0, ..., theta_steps]``, without eos.dynamics."""

    def step(q, _):
        q1 = q - lr * obj.grad(q)
        return q1, q1

    _, qs = jax.jit(lambda q: jax.lax.scan(step, q, None, length=steps))(p)
    return [p] + list(qs)


@pytest.fixture(scope="module")
def start(net):
    """The first GD iterate with S >= 2/LR, by to_instability and by a dense scan."""
    obj, p, _, dense, _ = net
    res = dyn.to_instability(obj, p, lr=LR, max_steps=300, progress=False)
    assert res.reached
    path = gd_path(obj, p, LR, res.step)
    S = [float(dense(q)[0][-1]) for q in path]
    first = next(i for i, s in enumerate(S) if s >= 2 / LR)
    assert res.step == first  # located to one step
    np.testing.assert_allclose(res.params, np.asarray(path[first]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.sharpness, S[first], rtol=1e-7)
    hist = res.history
    np.testing.assert_allclose(hist["sharpness"], [S[s] for s in hist["step"]], rtol=1e-6)
    return jnp.asarray(res.params)


def test_project_lands_on_M(net, start, solvers):
    obj, _, _, dense, grad_S = net
    P = solvers[0](start, jnp.ones_like(start), LR)
    w, V = dense(P.theta)
    u = V[:, -1]
    g = obj.grad(P.theta)
    assert abs(float(w[-1]) - 2 / LR) <= 1e-6 * 2 / LR
    assert abs(float(w[-1]) - 2 / LR) <= 1e-12 * 2 / LR  # in fact at round-off level
    assert abs(float(g @ u)) <= 1e-12 * float(jnp.linalg.norm(g))
    assert abs(float(P.u @ u)) == pytest.approx(1.0, abs=1e-12)
    gS = grad_S(P.theta)
    np.testing.assert_allclose(
        P.grad_sharpness, gS, rtol=1e-8, atol=1e-10 * float(jnp.linalg.norm(gS))
    )
    # the projection is short: about the distance to the linearised constraint set
    assert float(jnp.linalg.norm(P.theta - start)) < 0.1 * float(jnp.linalg.norm(start))


def test_lemma13_error_scales_like_epsilon_squared(net, solvers):
    """theta-dagger_{t+1} = theta-dagger_t - eta P^perp_{u, grad S} grad L + O(eps^2 eta ||grad L||).

    For several eta, a point of M_eta is made by projecting the first plain-GD iterate (lr 0.1)
    with S >= 2/eta; one constrained step is compared with the first-order update (dense u and
    grad S). The relative error r = err / (eta ||grad L||) must be O(eps^2), eps^2 = eta^2 alpha:
    the fitted slope of log r against log eps^2 is about 1 and r / eps^2 stays bounded.
    """
    obj, p, hess, dense, grad_S = net
    path = gd_path(obj, p, 0.15, 120)
    S = np.array([float(dense(q)[0][-1]) for q in path])
    proj, step = solvers
    rs, eps2 = [], []
    for lr in (0.18, 0.22, 0.26, 0.3, 0.35):
        i = int(np.argmax(S >= 2 / lr))
        P = proj(path[i], dense(path[i])[1][:, -1], lr)
        g = obj.grad(P.theta)
        u = dense(P.theta)[1][:, -1]
        gS = grad_S(P.theta)
        Q, _ = jnp.linalg.qr(jnp.stack([u, gS], axis=1))
        first_order = P.theta - lr * (g - Q @ (Q.T @ g))
        nxt = step(P, lr)
        assert abs(float(nxt.residual_sharpness)) < 1e-9 and abs(float(nxt.residual_grad_u)) < 1e-9
        rs.append(float(jnp.linalg.norm(nxt.theta - first_order) / (lr * jnp.linalg.norm(g))))
        eps2.append(lr**2 * float(-g @ gS))
    slope = np.polyfit(np.log(eps2), np.log(rs), 1)[0]
    assert 0.6 < slope < 1.8, (slope, rs, eps2)
    assert max(r / e for r, e in zip(rs, eps2)) < 0.5, (rs, eps2)


def test_predicted_step_is_eq6(net, start):
    """predicted_step against eq. (6) written with explicit matrices."""
    obj, _, hess, dense, grad_S = net
    rng = np.random.default_rng(1)
    th, th1 = start, start - LR * obj.grad(start)
    u, u1 = dense(th)[1][:, -1], dense(th1)[1][:, -1]
    u1 = u1 * jnp.sign(u1 @ u)
    g, gS, H = obj.grad(th), grad_S(th), hess(th)
    d = th.shape[0]
    v = jnp.asarray(rng.normal(size=d)) * 1e-2
    I = jnp.eye(d)
    Pu, Pu1 = I - jnp.outer(u, u), I - jnp.outer(u1, u1)
    gSp = Pu @ gS
    delta2 = 2 * float(-g @ gS) / float(gSp @ gSp)
    x, y = float(u @ v), float(gSp @ v)
    want = (
        Pu1 @ (I - LR * H) @ Pu @ v + LR * Pu1 @ gSp * (delta2 - x * x) / 2 - (1 + LR * y) * x * u1
    )
    fr = dyn.frame(u, g, gS, LR)
    got = dyn.predicted_step(v, fr, hvp_perp=H @ (Pu @ v), u_next=u1, lr=LR)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    # generalized: x_{t+1} = -(1 + eta y) x - eta F'(x), F' from jax.grad along the line
    F = lambda s: obj.fn(th + s * u) - obj.fn(th) - s * s / LR  # noqa: E731
    dF = float(jax.grad(F)(jnp.asarray(x)))
    x_next = dyn.generalized_x_next(
        jnp.asarray(x), jnp.asarray(y), jnp.dot(u, obj.grad(th + x * u)), LR
    )
    assert float(x_next) == pytest.approx(-(1 + LR * y) * x - LR * dF, rel=1e-10)
    # with F'(0) = u . grad L(theta) passed, the update uses F'(x) - F'(0)
    dF0 = float(jax.grad(F)(jnp.asarray(0.0)))
    x_next0 = dyn.generalized_x_next(
        jnp.asarray(x),
        jnp.asarray(y),
        jnp.dot(u, obj.grad(th + x * u)),
        LR,
        jnp.dot(u, obj.grad(th)),
    )
    assert float(x_next0) == pytest.approx(-(1 + LR * y) * x - LR * (dF - dF0), rel=1e-10)


# App. E / F diagnostics are checked on the toy model (tests/test_dynamics_toy.py)
TRACK = dict(lr=LR, generalized=True, beta_every=4, beta_max=2, lambda2_every=3, accuracy_every=3,
             diagnostics=False, progress=False, **TIGHT)  # fmt: skip


@pytest.fixture(scope="module")
def tracked(net, start):
    return dyn.track(net[0], start, steps=STEPS, record_vectors=True, **TRACK)


def test_track_resume_is_bitwise(net, start, tracked):
    """Interrupted at step 6 (a checkpoint) and resumed: the same arrays, bit for bit."""
    saved = {}

    def keep(state):
        saved[int(state["step"])] = state

    kw = dict(TRACK, record_vectors=True)
    dyn.track(net[0], start, steps=STEPS, on_checkpoint=keep, checkpoint_every=6, **kw)
    assert sorted(saved) == [6]
    resumed = dyn.track(net[0], start, steps=STEPS, resume_from=saved[6], **kw)
    assert resumed.meta == tracked.meta
    for k in tracked.arrays:
        np.testing.assert_array_equal(resumed[k], tracked[k], err_msg=k)


def test_track_consistency_lemma4_and_common_start(tracked):
    """Consistency checks (moved from the chapters; not independent of the implementation):
    the recorded x_hat, y_hat satisfy Lemma 4's x-update x_{t+1} = -(1 + eta y_t) x_t, and both
    predictions start where gradient descent is (v_hat_0 = v_0)."""
    a = tracked
    x, y = np.asarray(a["predicted/x"]), np.asarray(a["predicted/y"])
    err = np.max(np.abs(x[1:] + (1 + LR * y[:-1]) * x[:-1])) / np.max(np.abs(x))
    assert err < 1e-6
    for key in ("predicted", "generalized"):
        assert a[f"{key}/x"][0] == pytest.approx(a["gd/x"][0], rel=1e-9, abs=1e-15)
        assert a[f"{key}/loss"][0] == pytest.approx(a["gd/loss"][0], rel=1e-9)


def test_track_against_dense_recomputation(net, start, tracked, solvers):
    """Every per-step record of track() recomputed independently with dense linear algebra."""
    obj, _, hess, dense, grad_S = net
    traj = tracked
    assert traj.steps_done == STEPS and traj.meta["stop_reason"] == "completed"
    # theta-dagger_t as tracked (checked below to lie on M); GD recomputed independently
    daggers = [jnp.asarray(th) for th in traj["vectors/dagger"]]
    gds = gd_path(obj, start, LR, STEPS)
    np.testing.assert_allclose(traj["vectors/gd"], np.stack(gds), rtol=1e-9, atol=1e-12)
    d = start.shape[0]
    I = jnp.eye(d)
    rec = {k: [] for k in ("u", "gS", "g", "H", "w")}
    # u is defined up to sign: take track's (u_{t+1} . u_t > 0 is checked below)
    for t, Pt in enumerate(daggers):
        w, V = dense(Pt)
        u_track = jnp.asarray(traj["vectors/u"][t])
        u = V[:, -1] * jnp.sign(V[:, -1] @ u_track)
        assert float(u @ u_track) == pytest.approx(1.0, abs=1e-9)
        if t > 0:
            assert float(u @ rec["u"][-1]) > 0
        rec["u"].append(u)
        rec["gS"].append(grad_S(Pt))
        rec["g"].append(obj.grad(Pt))
        rec["H"].append(hess(Pt))
        rec["w"].append(w)
        assert abs(float(w[-1]) - 2 / LR) < 1e-10 and abs(float(rec["g"][-1] @ u)) < 1e-10
    # dense predicted and generalized dynamics (eq. (6), eq. (11)) and beta_{s->t} (eq. (10))
    v0 = gds[0] - daggers[0]  # Definition 7: v-hat_0 = v_0
    vp, vg = [v0], [v0]
    for t in range(STEPS):
        u, u1, gS, g, H = rec["u"][t], rec["u"][t + 1], rec["gS"][t], rec["g"][t], rec["H"][t]
        Pu, Pu1 = I - jnp.outer(u, u), I - jnp.outer(u1, u1)
        gSp = Pu @ gS
        delta2 = 2 * (-g @ gS) / (gSp @ gSp)
        th = daggers[t]
        for seq, gen in ((vp, False), (vg, True)):
            v = seq[-1]
            x, y = u @ v, gSp @ v
            if gen:
                line = lambda s, th=th, u=u: obj.fn(th + s * u)  # noqa: E731
                # F'(x) - F'(0): F'(0) = u . grad L(theta-dagger) = 0 on M (round-off here)
                dF = jax.grad(line)(x) - jax.grad(line)(0.0) - 2 * x / LR
                x_new = -(1 + LR * y) * x - LR * dF
            else:
                x_new = -(1 + LR * y) * x
            seq.append(Pu1 @ ((I - LR * H) @ Pu @ v + LR * gSp * (delta2 - x * x) / 2) + x_new * u1)
    for t in range(STEPS + 1):
        Pt, u, gS, g = daggers[t], rec["u"][t], rec["gS"][t], rec["g"][t]
        gSp = gS - (u @ gS) * u
        alpha, beta = float(-g @ gS), float(gSp @ gSp)

        def close(key, want, rtol=1e-7, atol=1e-12, t=t):
            got = traj[key][t]
            assert got == pytest.approx(float(want), rel=rtol, abs=atol), (key, t, got, float(want))

        close("constrained/loss", obj.fn(Pt), rtol=1e-10)
        close("constrained/sharpness", 2 / LR, rtol=1e-10)
        close("constrained/alpha", alpha)
        close("constrained/beta", beta)
        close("constrained/delta", math.sqrt(2 * alpha / beta))
        close("constrained/epsilon", LR * math.sqrt(alpha))
        close("constrained/grad_norm", jnp.linalg.norm(g))
        close("constrained/grad_sharpness_dot_u", u @ gS, atol=1e-9)
        for prefix, v in (("gd", gds[t] - Pt), ("predicted", vp[t]), ("generalized", vg[t])):
            close(f"{prefix}/x", u @ v, rtol=1e-6, atol=1e-10)
            close(f"{prefix}/y", gSp @ v, rtol=1e-6, atol=1e-10)
            close(f"{prefix}/distance", jnp.linalg.norm(v), rtol=1e-6)
            close(f"{prefix}/loss", obj.fn(Pt + v), rtol=1e-8)
            close(f"{prefix}/sharpness", dense(Pt + v)[0][-1], rtol=1e-7)
        x, y = u @ vp[t], gSp @ vp[t]
        close("theorem1/loss", obj.fn(Pt) + x * x / LR, rtol=1e-7)
        close("theorem1/sharpness", 2 / LR + y + (gS @ u) * x, rtol=1e-7)
        close("theorem1/deviation", jnp.linalg.norm(gds[t] - Pt - vp[t]), rtol=1e-5, atol=1e-10)
        xg, yg = u @ vg[t], gSp @ vg[t]
        close("theorem1_generalized/loss", obj.fn(Pt + xg * u), rtol=1e-8)
        uHu = u @ hess(Pt + xg * u) @ u
        close("theorem1_generalized/sharpness", 2 / LR + yg + uHu - 2 / LR, rtol=1e-7)
    # beta_{s->t} (eq. (10)): gS_perp(t+1) . prod_{k=t}^{s+1} (I - eta H_k) P_k . gS_perp(s)
    starts = traj["beta_st/start"]
    np.testing.assert_array_equal(starts, [0, 4, 8, 12])
    # at most beta_max = 2 followed at once: the oldest is dropped when a third one starts
    followed = {0: range(0, 8), 4: range(4, 12), 8: range(8, 12), 12: range(0)}
    for i, s0 in enumerate(starts):
        row = traj["beta_st/value"][i]
        np.testing.assert_array_equal(np.flatnonzero(np.isfinite(row)), list(followed[s0]))
        r = rec["gS"][s0] - (rec["u"][s0] @ rec["gS"][s0]) * rec["u"][s0]
        for t in followed[s0]:
            if t > s0:
                Pk = I - jnp.outer(rec["u"][t], rec["u"][t])
                r = (I - LR * rec["H"][t]) @ Pk @ r
            gS1 = rec["gS"][t + 1] - (rec["u"][t + 1] @ rec["gS"][t + 1]) * rec["u"][t + 1]
            assert row[t] == pytest.approx(float(gS1 @ r), rel=1e-6)
    # lambda_2 at theta-dagger, accuracy, App. E / App. F diagnostics
    for k, t in enumerate(traj["lambda2/step"]):
        assert traj["lambda2/value"][k] == pytest.approx(float(rec["w"][t][-2]), rel=1e-6)
    np.testing.assert_array_equal(traj["accuracy/step"], [0, 3, 6, 9, 12])
    for k, t in enumerate(traj["accuracy/step"]):
        assert traj["accuracy/value"][k] == pytest.approx(float(obj.accuracy(gds[t])))
    assert not any(k.startswith(("assumptions/", "quadratic/")) for k in traj.arrays)


def test_flow_against_scipy(net, start, tracked):
    """The tracked gradient flow against scipy's DOP853 (rtol 1e-11) on the same network."""
    obj = net[0]
    grad = jax.jit(obj.grad)
    sol = solve_ivp(lambda _, th: -np.asarray(grad(jnp.asarray(th))), (0, LR * STEPS),
                    np.asarray(start), method="DOP853", rtol=1e-11, atol=1e-13,
                    t_eval=LR * np.arange(STEPS + 1))  # fmt: skip
    loss = np.array([float(obj.fn(jnp.asarray(th))) for th in sol.y.T])
    np.testing.assert_allclose(tracked["flow/loss"], loss, rtol=1e-6)
