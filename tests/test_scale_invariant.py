"""App. H (scale-invariant losses with weight decay) against independent computations.

Everything in float64 on the 16-parameter :func:`make_problem` network. References are jax
autodiff (``jax.grad``, ``jax.hessian``, forward-over-reverse third derivatives), dense
``eigh``, central finite differences of the dense sharpness, scipy, and plain algebra.
Tolerances (relative unless stated): identities that hold exactly 1e-10 (round-off of dense
float64 linear algebra on a 16-dimensional problem); identities at a numerically found critical
point 1e-8 (its gradient is ~1e-16, but eigenvectors amplify round-off by 1/gap); finite
differences 1e-6 (step 1e-5: truncation ~1e-10, cancellation ~1e-11 / 1e-5); fitted exponents
0.01 absolute; the GD endpoint vs the reduced minimiser 1e-3 (a period-2 orbit's two-step
average differs from theta-dagger at second order in the oscillation, ~eta lambda / 2).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so

import eos  # noqa: F401  (float64)
from eos.theory import scale_invariant as si

LR = 0.1


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def problem() -> si.ScaleInvariantProblem:
    return si.make_problem()


@pytest.fixture(scope="module")
def theta(problem) -> jax.Array:
    """A random point with a non-unit norm."""
    return problem.init(jax.random.PRNGKey(7), norm=2.7)


@pytest.fixture(scope="module")
def critical(problem) -> si.ReducedSolution:
    """A local minimiser of f on the sphere (BFGS + Newton): a second-order stationary point."""
    return si.critical_point_on_sphere(problem, problem.init(jax.random.PRNGKey(1)))


@partial(jax.jit, static_argnums=0)
def _autodiff(f, x):
    g = jax.grad(f)(x)
    H = jax.hessian(f)(x)
    w, V = jnp.linalg.eigh(0.5 * (H + H.T))
    u = jax.lax.stop_gradient(V[:, -1])
    # reverse-over-dense-Hessian: not the forward-over-reverse path of the module
    gS = jax.grad(lambda z: u @ jax.hessian(f)(z) @ u)(x)
    return g, H, w, u, gS


def autodiff(f, x):
    """Independent reference: gradient, Hessian, spectrum, top eigenvector, Lemma-2 grad S."""
    g, H, w, u, gS = _autodiff(f, jnp.asarray(x))
    return g, H, np.asarray(w), u, gS


# ----------------------------------------------------------------------------- the model


def test_f_is_scale_invariant_and_symmetric(problem, theta):
    f0 = float(problem.f(theta))
    for c in (1e-3, 0.37, 5.0, 1e4):
        assert abs(float(problem.f(c * theta)) - f0) <= 1e-13 * f0
    # loss = f + lam/2 ||theta||^2
    assert math.isclose(
        float(problem.loss(theta)), f0 + 0.5 * problem.lam * float(theta @ theta), rel_tol=1e-14
    )
    # hidden-unit sign flips and permutations leave f unchanged; align() undoes them exactly
    k = problem.hidden * problem.input_dim
    W, a = theta[:k].reshape(problem.hidden, -1), theta[k:]
    perm, signs = jnp.array([2, 0, 3, 1]), jnp.array([1.0, -1.0, -1.0, 1.0])
    moved = jnp.concatenate([(W[perm] * signs[:, None]).ravel(), a[perm] * signs])
    assert abs(float(problem.f(moved)) - f0) <= 1e-13 * f0
    assert rel(moved, theta) > 0.1
    assert rel(problem.align(moved, theta), theta) < 1e-15


def test_float32_input_computes_in_float32(problem, theta):
    t32 = theta.astype(jnp.float32)
    assert problem.f(t32).dtype == jnp.float32
    assert problem.loss(t32).dtype == jnp.float32
    assert problem.loss(t32.astype(jnp.float64)).dtype == jnp.float64


def test_bad_inputs_raise(problem, theta):
    with pytest.raises(ValueError, match="form"):
        si.lemma10_alpha(theta, 1.0, 0.1, form="typo")
    with pytest.raises(ValueError, match="lr \\* lam"):
        si.reduced_coefficient(10.0, 0.5)
    with pytest.raises(ValueError, match="must exceed lam"):
        si.radius_for_sharpness(1.0, 10.0, 1.0)
    with pytest.raises(ValueError, match="sf_bar"):
        si.radius_for_sharpness(-1.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="targets"):
        si.ScaleInvariantProblem(problem.inputs, problem.targets[:-1], 4, 0.1)
    with pytest.raises(ValueError, match="lam"):
        problem.with_lam(-1.0)
    with pytest.raises(ValueError, match="order 3 or 4"):
        si.symmetric_tensor_norm(jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="flat parameter vector"):
        si.dense_curvature(problem.f, theta[None, :])


# ----------------------------------------------------------------------------- Lemma 7, Cor. 2-3


@pytest.mark.parametrize("seed, norm", [(3, 0.05), (7, 2.7), (11, 40.0)])
def test_lemma7_gradient_and_hessian(problem, seed, norm):
    theta = problem.init(jax.random.PRNGKey(seed), norm=norm)
    tb = theta / jnp.linalg.norm(theta)
    g, H, *_ = autodiff(problem.f, theta)
    gb, Hb, *_ = autodiff(problem.f, tb)
    assert rel(si.lemma7_gradient(theta, gb), g) < 1e-10
    assert rel(si.lemma7_hessian(theta, gb, Hb), H) < 1e-10
    # grad f is tangent (Euler's identity theta . grad f = 0), and the Lemma 7 Hessian is not
    # simply H(tb)/r^2 with the radial corrections dropped
    assert abs(float(g @ theta)) < 1e-12 * float(jnp.linalg.norm(g) * norm)
    assert rel(si.corollary2_hessian(theta, Hb), H) > 1e-3


def test_corollary2_and_3_at_critical_point(problem, critical):
    assert critical.grad_norm < 1e-12
    assert critical.min_tangent_eig > 0  # second-order stationary (strict local min on sphere)
    tb = jnp.asarray(critical.theta_bar)
    sf_bar = critical.sharpness
    r = si.radius_for_sharpness(sf_bar, LR, problem.lam)
    theta = r * tb
    _, H, *_ = autodiff(problem.f, theta)
    _, Hb, *_ = autodiff(problem.f, tb)
    assert rel(si.corollary2_hessian(theta, Hb), H) < 1e-8
    # Corollary 3: u(theta) of hess L is orthogonal to grad L(theta) = lam theta
    gL, HL, wL, uL, _ = autodiff(problem.loss, theta)
    assert rel(gL, problem.lam * theta) < 1e-8
    assert float(si.corollary3_cosine(uL, gL)) < 1e-8
    # ... and S(theta) = 2/eta at this radius (the setting of Lemma 6)
    assert math.isclose(wL[-1], 2.0 / LR, rel_tol=1e-10)


def test_corollary3_fails_away_from_critical_points(problem, theta):
    gL, _, _, uL, _ = autodiff(problem.loss, theta)
    assert float(si.corollary3_cosine(uL, gL)) > 1e-3


# ----------------------------------------------------------------------------- Lemma 8


def test_lemma8_corrected_form_matches_autodiff_and_fd(problem, theta):
    _, _, w, u, gS = autodiff(problem.loss, theta)  # grad S of L (Lemma 2)
    tb = theta / jnp.linalg.norm(theta)
    cb = si.dense_curvature(problem.f, tb)
    pred = si.lemma8_sharpness_gradient(theta, cb.grad_s, cb.sharpness)
    assert rel(pred, gS) < 1e-10
    # central finite differences of the dense sharpness of L along random directions
    S = lambda x: autodiff(problem.loss, x)[2][-1]  # noqa: E731
    eps = 1e-5
    for k in range(3):
        v = jax.random.normal(jax.random.PRNGKey(100 + k), theta.shape, dtype=theta.dtype)
        fd = (S(theta + eps * v) - S(theta - eps * v)) / (2 * eps)
        assert math.isclose(fd, float(pred @ v), rel_tol=1e-6)
    # the radial part: theta . grad S = -2 S_f(theta) (Euler, degree -2)
    assert math.isclose(float(pred @ theta), -2.0 * (w[-1] - problem.lam), rel_tol=1e-10)


def test_lemma8_as_printed_misses_half_the_radial_part(problem, theta):
    """App. H prints coefficient 1 on S_f(tb) tb; the difference is exactly S_f(tb) tb / r^3."""
    r = float(jnp.linalg.norm(theta))
    tb = theta / r
    cb = si.dense_curvature(problem.f, tb)
    paper = si.lemma8_sharpness_gradient(theta, cb.grad_s, cb.sharpness, form="paper")
    corrected = si.lemma8_sharpness_gradient(theta, cb.grad_s, cb.sharpness)
    _, _, _, _, gS = autodiff(problem.loss, theta)
    assert rel(paper, gS) > 0.05
    assert rel(paper - corrected, float(cb.sharpness) * tb / r**3) < 1e-12


# ----------------------------------------------------------------------------- Lemmas 10, 11


@pytest.mark.parametrize("lam", [0.01, 0.3])
def test_lemma10_and_11_at_second_order_stationary_point(problem, critical, lam):
    tb = jnp.asarray(critical.theta_bar)
    sf_bar = critical.sharpness
    r = si.radius_for_sharpness(sf_bar, LR, lam)
    theta = r * tb
    # grad L = grad f + lam theta and grad S = grad S_f (S = S_f + lam): one compiled reference
    gf, _, _, _, gS = autodiff(problem.f, theta)
    gL = gf + lam * theta
    alpha = -float(gL @ gS)
    assert alpha > 0
    assert math.isclose(float(si.lemma10_alpha(theta, sf_bar, lam)), alpha, rel_tol=1e-8)
    # at S = 2/eta: alpha = 2 lam S_f(theta) = 2 lam (2/eta - lam)
    assert math.isclose(alpha, 2 * lam * (2 / LR - lam), rel_tol=1e-8)
    assert math.isclose(
        float(si.lemma10_alpha(theta, sf_bar, lam, form="paper")), alpha / 2, rel_tol=1e-8
    )
    ratio = alpha / float(jnp.linalg.norm(gL) * jnp.linalg.norm(gS))
    cb = si.dense_curvature(problem.f, tb)
    assert math.isclose(
        float(si.lemma11_ratio(theta, cb.grad_s, cb.sharpness)), ratio, rel_tol=1e-8
    )
    assert abs(float(si.lemma11_ratio(theta, cb.grad_s, cb.sharpness, form="paper")) - ratio) > 1e-3
    assert 0 < ratio <= 1


def test_lemma11_ratio_is_independent_of_radius(problem, critical):
    tb = jnp.asarray(critical.theta_bar)
    ratios = []
    for r in (0.1, 1.0, 30.0):
        gL, _, _, _, gS = autodiff(problem.loss, r * tb)
        ratios.append(-float(gL @ gS) / float(jnp.linalg.norm(gL) * jnp.linalg.norm(gS)))
    assert max(ratios) - min(ratios) < 1e-8


# ----------------------------------------------------------------------------- Lemma 9


def test_symmetric_tensor_norm_against_multistart_bfgs():
    d = 5
    A = np.random.RandomState(0).randn(d, d, d)
    T3 = sum(
        np.transpose(A, p)
        for p in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    )
    best = 0.0
    for s in range(40):
        res = so.minimize(
            lambda v: -abs(np.einsum("ijk,i,j,k->", T3, *(3 * [v / np.linalg.norm(v)]))),
            np.random.RandomState(s).randn(d),
            method="BFGS",
        )
        best = max(best, -res.fun)
    assert math.isclose(si.symmetric_tensor_norm(jnp.asarray(T3)), best, rel_tol=1e-7)


def test_lemma9_exponents(problem, critical, theta):
    lrs = np.geomspace(0.01, 0.5, 4)
    res = si.lemma9_scaling(problem, [jnp.asarray(critical.theta_bar), theta], lrs)
    assert abs(res.exponent3 + 1.5) < 0.01
    assert abs(res.exponent4 + 2.0) < 0.01
    # rho_4 = O(eta rho_3^2): the ratio stays constant over a factor 50 in eta
    assert res.ratio.max() / res.ratio.min() < 1.01
    # Lemma 9's lower bound: ||grad S|| = ||D^3 L(u, u)|| <= rho_3, and it is of the same order
    assert np.all(res.grad_s_norm <= res.rho3 * (1 + 1e-9))
    assert np.all(res.grad_s_norm >= 0.1 * res.rho3)
    # homogeneity: rho_k at S = 2/eta equals ||D^k f(tb)|| / r^k (closed form, max over directions)
    for i, lr in enumerate(lrs):
        pred = max(
            si.lemma9_closed_form(n3, n4, s, lr, problem.lam)[0]
            for (n3, n4), s in zip(res.norms_bar, res.sf_bar)
        )
        assert math.isclose(res.rho3[i], pred, rel_tol=1e-6)


def test_radius_for_sharpness_hits_two_over_eta(problem, theta):
    tb = theta / jnp.linalg.norm(theta)
    sf = float(si.dense_curvature(problem.f, tb).sharpness)
    for lr, target in ((0.05, 2.0), (0.3, 4.0)):
        r = si.radius_for_sharpness(sf, lr, problem.lam, target=target)
        S = autodiff(problem.loss, r * tb)[2][-1]
        assert math.isclose(S, target / lr, rel_tol=1e-10)


# ----------------------------------------------------------------------------- reduced problem


def test_reduced_coefficient_from_the_constrained_problem(problem, theta):
    """min_r f(tb) + lam r^2/2 s.t. S(r tb) <= 2/eta, solved numerically, gives f + c S_f."""
    tb = theta / jnp.linalg.norm(theta)
    sf = float(si.dense_curvature(problem.f, tb).sharpness)
    f0 = float(problem.f(tb))
    for lr, lam in ((0.1, 0.01), (0.5, 1.0)):
        r_min = si.radius_for_sharpness(sf, lr, lam)  # feasibility: S_f/r^2 + lam <= 2/eta
        res = so.minimize_scalar(
            lambda r, lam=lam: f0 + lam * r**2 / 2,
            bounds=(r_min, 10 * r_min),
            method="bounded",
            options={"xatol": 1e-12},
        )
        c = si.reduced_coefficient(lr, lam)
        assert math.isclose(res.fun, f0 + c * sf, rel_tol=1e-6)
        assert not math.isclose(
            res.fun, f0 + si.reduced_coefficient(lr, lam, form="paper") * sf, rel_tol=1e-3
        )


def test_minimize_reduced_gradient_and_local_minimality(problem, critical):
    c = si.reduced_coefficient(LR, problem.lam)
    sol = si.minimize_reduced(problem, critical.theta_bar, c)
    assert sol.grad_norm < 1e-8 and sol.gap > 0.1
    tb = jnp.asarray(sol.theta_bar)
    F = lambda x: float(si.reduced_objective(problem, x, c))  # noqa: E731  (dense eigh, no Lemma 2)
    assert math.isclose(F(tb), sol.value, rel_tol=1e-12)
    # the Lemma-2 gradient used by the optimiser agrees with finite differences of F
    v = jax.random.normal(jax.random.PRNGKey(5), tb.shape, dtype=tb.dtype)
    v = v - (v @ tb) * tb
    cb = si.dense_curvature(problem.f, tb)
    x = tb + 0.02 * v
    x = x / jnp.linalg.norm(x)
    cx = si.dense_curvature(problem.f, x)
    eps = 1e-5
    fd = (F(x + eps * v) - F(x - eps * v)) / (2 * eps)
    g = cx.grad + c * cx.grad_s  # F(x) = f(x/|x|) + c S_f(x/|x|): gradient P_x g at unit x
    assert math.isclose(fd, float((g - (g @ x) * x) @ v), rel_tol=1e-6)
    # local minimality on the sphere against perturbations (independent of any gradient)
    for k in range(8):
        w = jax.random.normal(jax.random.PRNGKey(200 + k), tb.shape, dtype=tb.dtype)
        y = tb + 1e-3 * (w - (w @ tb) * tb)
        assert F(y) >= sol.value - 1e-14
    # the weight-decay term lowers the normalised sharpness relative to the minimiser of f
    assert sol.sharpness < critical.sharpness and sol.f > critical.f
    assert cb.sharpness == pytest.approx(sol.sharpness, rel=1e-12)


def test_gd_with_weight_decay_reaches_the_reduced_minimiser(problem, critical):
    """GD at the edge of stability ends at the minimiser of f + c S_f with the corrected c."""
    lr = LR
    theta0 = problem.init(jax.random.PRNGKey(1), norm=1.0)
    res = si.run_gd_weight_decay(problem, theta0, lr=lr, steps=8000, record_every=40)
    a = res.arrays
    # recorder against a direct dense evaluation at the last iterate
    last = jnp.asarray(res.theta_last)
    S_last = autodiff(problem.loss, last)[2][-1]
    assert math.isclose(a["sharpness"][-1], S_last, rel_tol=1e-10)
    assert a["sharpness"][0] < 2 / lr  # starts stable ...
    assert abs(a["avg_sharpness"][-1] - 2 / lr) < 1e-3 * 2 / lr  # ... ends at the edge
    assert a["normalized_sharpness"][-1] < 0.8 * a["normalized_sharpness"].max()
    end = res.endpoint
    # the reduced problem, solved from the minimiser of f (not from the GD endpoint)
    red = si.minimize_reduced(problem, critical.theta_bar, si.reduced_coefficient(lr, problem.lam))
    paper = si.minimize_reduced(
        problem, critical.theta_bar, si.reduced_coefficient(lr, problem.lam, form="paper")
    )
    tb_gd = end / np.linalg.norm(end)
    assert np.linalg.norm(problem.align(red.theta_bar, tb_gd) - tb_gd) < 1e-2
    assert math.isclose(a["normalized_sharpness"][-1], red.sharpness, rel_tol=1e-3)
    assert math.isclose(float(problem.f(jnp.asarray(end))), red.f, rel_tol=1e-3)
    r_pred = math.sqrt(lr * red.sharpness / (2 - lr * problem.lam))
    assert math.isclose(float(np.linalg.norm(end)), r_pred, rel_tol=1e-3)
    # the coefficient printed in App. H predicts a clearly different end point
    assert abs(paper.sharpness - a["normalized_sharpness"][-1]) > 0.05 * red.sharpness


def test_usable_with_objective_and_curvature(problem, theta):
    """The problem's loss plugs into eos.objective and eos.curvature (matrix-free) unchanged."""
    from eos import curvature
    from eos.objective import Objective

    obj = Objective.from_function(problem.loss, num_params=problem.num_params)
    g, H, w, u, gS = autodiff(problem.loss, theta)
    assert rel(obj.grad(theta), g) < 1e-12
    S, u_lanczos = curvature.sharpness(curvature.hessian(obj.fn, theta), tol=1e-10)
    assert math.isclose(float(S), w[-1], rel_tol=1e-9)
    u_lanczos = u_lanczos * jnp.sign(u_lanczos @ u)
    assert rel(curvature.sharpness_gradient(obj.fn, theta, u_lanczos), gS) < 1e-6
