"""App. E's assumption quantities against dense computations on tiny problems (float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from eos.analysis.assumptions import (
    ASSUMPTION_KEYS,
    assumption_quantities,
    format_summary,
    initial_warm,
    summarize,
)
from eos.objective import Objective

D = 6


def _problem(seed: int = 0):
    """f(p) = p^T A p / 2 (A indefinite) + sum_k s_k log cosh(b_k . p + c_k) + (w . p)^3 / 6; its dense
    derivative tensors are written out by hand in :func:`_dense` (no autodiff)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(D, D))
    A = A @ A.T / D - 0.5 * np.eye(D)
    B = rng.normal(size=(4, D))
    c = rng.normal(size=4)
    s = rng.uniform(0.5, 1.5, 4)
    w = 0.7 * rng.normal(size=D)
    params = dict(A=A, B=B, c=c, s=s, w=w)
    Aj, Bj, cj, sj, wj = map(jnp.asarray, (A, B, c, s, w))

    def f(p):
        return 0.5 * p @ Aj @ p + jnp.sum(sj * jnp.log(jnp.cosh(Bj @ p + cj))) + (wj @ p) ** 3 / 6

    theta = rng.normal(size=D) * 0.3
    return f, jnp.asarray(theta), rng, params


def _dense(params, theta):
    """Gradient, Hessian, third and fourth derivative tensors of _problem's f, by hand. With
    g = log cosh: g' = tanh, g'' = sech^2, g''' = -2 tanh sech^2, g'''' = 4 tanh^2 sech^2 - 2 sech^4."""
    A, B, c, s, w = (params[k] for k in "ABcsw")
    theta = np.asarray(theta)
    t = np.tanh(B @ theta + c)
    s2 = 1 - t**2
    wp = w @ theta
    g = A @ theta + B.T @ (s * t) + 0.5 * wp**2 * w
    H = A + np.einsum("k,ki,kj->ij", s * s2, B, B) + wp * np.outer(w, w)
    T3 = np.einsum("k,ki,kj,kl->ijl", s * (-2 * t * s2), B, B, B) + np.einsum("i,j,l->ijl", w, w, w)
    T4 = np.einsum("k,ki,kj,kl,km->ijlm", s * (4 * t**2 * s2 - 2 * s2**2), B, B, B, B)
    ev, V = np.linalg.eigh(H)
    return g, H, T3, T4, ev, V


def _sshopm_max_abs(T, order, rng, starts=300, iters=300):
    """max over the unit sphere of |T(v,...,v)|: shifted symmetric higher-order power method
    (Kolda & Mayo), from many random starts, for both signs (dense, independent of eos)."""
    shift = np.sqrt((T**2).sum()) * (order - 1)
    best = 0.0
    for sign in (1.0, -1.0):
        V = rng.normal(size=(starts, T.shape[0]))
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        for _ in range(iters):
            if order == 3:
                W = np.einsum("ijk,nj,nk->ni", T, V, V)
            else:
                W = np.einsum("ijkl,nj,nk,nl->ni", T, V, V, V)
            W = sign * W + shift * V
            V = W / np.linalg.norm(W, axis=1, keepdims=True)
        if order == 3:
            vals = np.einsum("ijk,ni,nj,nk->n", T, V, V, V)
        else:
            vals = np.einsum("ijkl,ni,nj,nk,nl->n", T, V, V, V, V)
        best = max(best, np.max(np.abs(vals)))
    return best


def _restricted_third(T3, u, rng, starts=40):
    """sup over unit v, w orthogonal to u of ||T3(v, w)||, by BFGS over (v, w) in an explicit
    orthonormal basis of u-perp (not assuming v = w)."""
    Q, _ = np.linalg.qr(np.column_stack([u, rng.normal(size=(u.size, u.size - 1))]))
    N = Q[:, 1:]
    Tr = np.einsum("ijk,ja,kb->iab", T3, N, N)
    m = N.shape[1]

    def neg(z):
        a, b = z[:m], z[m:]
        return -np.linalg.norm(np.einsum("iab,a,b->i", Tr, a, b)) / (
            np.linalg.norm(a) * np.linalg.norm(b)
        )

    return max(-minimize(neg, rng.normal(size=2 * m), method="BFGS").fun for _ in range(starts))


@pytest.fixture(scope="module")
def setup():
    f, theta, rng, params = _problem()
    gL, H, T3, T4, ev, V = _dense(params, theta)
    u = V[:, -1]
    gS = np.einsum("ijk,j,k->i", T3, u, u)
    disp = rng.normal(size=D)
    lr = 2.0 / ev[-1]
    return dict(
        f=f, theta=theta, rng=rng, H=H, T3=T3, T4=T4, ev=ev, u=u, gS=gS, gL=gL, disp=disp, lr=lr
    )


def _call(s, objective=None, **kw):
    return assumption_quantities(
        s["f"] if objective is None else objective,
        s["theta"],
        u=s["u"],
        grad_loss=s["gL"],
        grad_sharpness=s["gS"],
        displacement=s["disp"],
        lr=s["lr"],
        **kw,
    )


@pytest.fixture(scope="module")
def reference(setup):
    """assumption_quantities with long iterations on the plain function (one compilation)."""
    out, _ = _call(setup, power_iters=60, lanczos_steps=D)
    return out


def test_quantities_match_dense_computation(setup, reference):
    s, out = setup, reference
    assert set(out) == set(ASSUMPTION_KEYS)
    rng = np.random.default_rng(1)
    rho3 = _sshopm_max_abs(s["T3"], 3, rng)
    rho4 = _sshopm_max_abs(s["T4"], 4, rng)
    u, gS, gL, H, ev, lr = s["u"], s["gS"], s["gL"], s["H"], s["ev"], s["lr"]
    gS_perp = gS - (u @ gS) * u
    alpha = -gL @ gS
    h_norm = max(abs(ev[0]), abs(ev[-1]))
    vp = s["disp"] - (u @ s["disp"]) * u
    expected = {
        "alpha": alpha,
        "epsilon": lr * np.sqrt(alpha),
        "a4_alignment": alpha / (np.linalg.norm(gL) * np.linalg.norm(gS_perp)),
        "a4_grad_sharpness_over_rho3": np.linalg.norm(gS_perp) / rho3,
        "rho3": rho3,
        "rho4": rho4,
        "a3_ratio": rho4 / (lr * rho3**2),
        "a5_third_perp": _restricted_third(s["T3"], u, rng) / rho3,
        "a5_hessian_displacement": abs(vp @ H @ vp) / (h_norm * vp @ vp),
        "a5_lambda_min": abs(ev[0]) / h_norm,
    }
    assert alpha > 0 and ev[0] < 0  # the test point exercises the interesting cases
    for k, v in expected.items():
        np.testing.assert_allclose(float(out[k]), v, rtol=1e-6, err_msg=k)


def test_objective_in_outer_jit_with_warm_starts(setup, reference):
    """Inside a user's jit (as eos.dynamics calls it), through an Objective, cheap repeated
    calls (3 power iterations, 4 Lanczos steps each) reach the converged values via ``warm``."""
    s = setup
    obj = Objective.from_function(s["f"], num_params=D)

    @jax.jit
    def step(warm):
        return assumption_quantities(
            obj,
            s["theta"],
            u=s["u"],
            grad_loss=s["gL"],
            grad_sharpness=s["gS"],
            displacement=s["disp"],
            lr=s["lr"],
            warm=warm,
            power_iters=3,
            lanczos_steps=4,
        )

    warm = initial_warm(s["theta"], u=s["u"], grad_sharpness=s["gS"])
    first, _ = step(warm)
    for _ in range(12):
        out, warm2 = step(warm)
        assert jax.tree_util.tree_structure(warm2) == jax.tree_util.tree_structure(warm)
        warm = warm2
    for k in ("alpha", "epsilon", "a4_alignment", "a5_hessian_displacement"):  # no iteration
        np.testing.assert_allclose(float(first[k]), float(reference[k]), rtol=1e-12, err_msg=k)
    for k in ASSUMPTION_KEYS:
        np.testing.assert_allclose(float(out[k]), float(reference[k]), rtol=1e-6, err_msg=k)
    # one cold call with 4 Lanczos steps (d = 6) is visibly off for lambda_min: warm starts matter
    assert abs(float(first["a5_lambda_min"]) / float(reference["a5_lambda_min"]) - 1) > 0.05


def test_toy_model_of_appendix_b_exact_values():
    """L(x,y,z) = (2/eta + sqrt(beta) y) x^2/2 - alpha/sqrt(beta) y - z at the origin (App. B):
    alpha_t = alpha, grad S = (0, sqrt(beta), 0); the only third derivative is
    d^3L/dx^2dy = sqrt(beta), so ||D3L||_op = max 3 sqrt(beta) v_x^2 v_y = 2 sqrt(beta/3),
    D3L vanishes on u-perp x u-perp, D4L = 0 and lambda_min = 0. Here D3L(u, u, u) = 0 and
    D3L(grad S, grad S) = 0: a power iteration started at u stalls without a good start."""
    lr, alpha, beta = 0.1, 0.7, 2.0
    sb = np.sqrt(beta)

    def L(p):
        x, y, z = p
        return (2 / lr + sb * y) * x**2 / 2 - alpha / sb * y - z

    theta = jnp.zeros(3, dtype=jnp.float64)
    u = jnp.array([1.0, 0.0, 0.0])
    gS = jnp.array([0.0, sb, 0.0])
    gL = jax.grad(L)(theta)
    warm, history = None, []
    for _ in range(10):  # default iteration counts; progress is carried by the warm starts
        out, warm = assumption_quantities(
            L,
            theta,
            u=u,
            grad_loss=gL,
            grad_sharpness=gS,
            displacement=jnp.array([0.3, -0.2, 0.5]),
            lr=lr,
            warm=warm,
        )
        history.append(float(out["rho3"]))
    rho3 = 2 * np.sqrt(beta / 3)
    assert history[0] < rho3 * (1 - 1e-4)  # not converged after one call ...
    assert all(h <= rho3 * (1 + 1e-12) for h in history)  # ... and always a lower bound
    np.testing.assert_allclose(float(out["alpha"]), alpha, rtol=1e-12)
    np.testing.assert_allclose(float(out["epsilon"]), lr * np.sqrt(alpha), rtol=1e-12)
    np.testing.assert_allclose(
        float(out["a4_alignment"]), alpha / (np.sqrt(alpha**2 / beta + 1) * sb), rtol=1e-12
    )
    np.testing.assert_allclose(float(out["rho3"]), rho3, rtol=1e-6)
    np.testing.assert_allclose(float(out["a4_grad_sharpness_over_rho3"]), sb / rho3, rtol=1e-6)
    for k in ("rho4", "a3_ratio", "a5_third_perp", "a5_hessian_displacement", "a5_lambda_min"):
        assert abs(float(out[k])) < 1e-12, k


def test_float32_and_negative_alpha():
    """Works in float32 (App. B's toy model has no float64 constants); Assumption 1 failing
    (alpha < 0) gives a NaN epsilon rather than a made-up one."""
    lr, sb = 0.1, 1.5

    def L(p):
        x, y, z = p
        return (2 / lr + sb * y) * x**2 / 2 + 0.3 / sb * y - z

    theta = jnp.zeros(3, dtype=jnp.float32)
    u = jnp.array([1.0, 0.0, 0.0], jnp.float32)
    out, warm = assumption_quantities(
        L,
        theta,
        u=u,
        grad_loss=jax.grad(L)(theta),
        grad_sharpness=jnp.array([0.0, sb, 0.0], jnp.float32),
        displacement=jnp.array([0.3, -0.2, 0.5], jnp.float32),
        lr=lr,
        power_iters=60,
        lanczos_steps=3,
    )
    assert all(v.dtype == jnp.float32 for v in out.values())
    assert all(v.dtype == jnp.float32 for v in warm.values())
    np.testing.assert_allclose(float(out["alpha"]), -0.3, rtol=1e-6)
    assert np.isnan(float(out["epsilon"]))
    np.testing.assert_allclose(float(out["rho3"]), 2 * sb / np.sqrt(3), rtol=1e-4)


def test_bad_inputs(setup):
    s = setup
    with pytest.raises(ValueError, match="displacement"):
        assumption_quantities(
            s["f"],
            s["theta"],
            u=s["u"],
            grad_loss=s["gL"],
            grad_sharpness=s["gS"],
            displacement=np.zeros(D + 1),
            lr=s["lr"],
        )
    with pytest.raises(ValueError, match="warm"):
        _call(s, warm={"rho3": s["u"]})
    with pytest.raises(ValueError, match="lr"):
        assumption_quantities(
            s["f"],
            s["theta"],
            u=s["u"],
            grad_loss=s["gL"],
            grad_sharpness=s["gS"],
            displacement=s["disp"],
            lr=-1.0,
        )
    with pytest.raises(ValueError, match="objective"):
        assumption_quantities(
            3.0,
            s["theta"],
            u=s["u"],
            grad_loss=s["gL"],
            grad_sharpness=s["gS"],
            displacement=s["disp"],
            lr=1.0,
        )


def test_summarize_verdicts():
    n = 50
    eps = np.linspace(0.01, 0.05, n)
    hist = {
        "assumptions/alpha": np.linspace(1.0, 2.0, n),
        "assumptions/epsilon": eps,
        "assumptions/a4_alignment": np.linspace(0.3, 0.9, n),
        "assumptions/a4_grad_sharpness_over_rho3": np.full(n, 0.5),
        "assumptions/rho3": np.full(n, 3.0),
        "assumptions/rho4": np.full(n, 1.0),
        "assumptions/a3_ratio": np.full(n, 2.0),
        "assumptions/a5_third_perp": 0.5 * eps,
        "assumptions/a5_hessian_displacement": 30.0 * eps,  # 30 eps: not O(eps) with C = 10
        "assumptions/a5_lambda_min": 2.0 * eps,
    }
    rows = {r["quantity"]: r for r in summarize(hist)}
    assert rows["alpha"]["holds"] and rows["alpha"]["statistic"] == 1.0
    assert rows["epsilon"]["holds"] and rows["epsilon"]["statistic"] == pytest.approx(0.05)
    assert rows["a4_alignment"]["holds"]
    np.testing.assert_allclose(rows["a4_alignment"]["statistic"], 3.0)
    assert rows["a3_ratio"]["holds"]
    assert rows["a5_third_perp"]["holds"]
    assert rows["a5_third_perp"]["statistic"] == pytest.approx(0.5)
    assert not rows["a5_hessian_displacement"]["holds"]
    assert rows["rho3"]["holds"] is None
    # A single negative alpha breaks Assumption 1; a NaN is counted, not hidden.
    hist["assumptions/alpha"] = hist["assumptions/alpha"].copy()
    hist["assumptions/alpha"][10] = -0.1
    hist["assumptions/a4_alignment"] = np.where(
        np.arange(n) == 3, np.nan, hist["assumptions/a4_alignment"]
    )
    rows = {r["quantity"]: r for r in summarize(hist)}
    assert not rows["alpha"]["holds"] and rows["alpha"]["min"] == -0.1
    assert rows["a4_alignment"]["n_nonfinite"] == 1
    table = format_summary(summarize(hist))
    assert "**no**" in table and "a5_lambda_min" in table
    with pytest.raises(ValueError, match="assumption keys"):
        summarize({"gd/loss": np.ones(3)})
