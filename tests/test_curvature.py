"""Tests of eos.curvature against independent computations (float64 unless stated).

Independent references: exact algebra for random cubic-quartic polynomials, dense
``jax.hessian`` / ``jax.jacfwd`` tensors with ``jnp.linalg.eigh`` on tiny problems,
central finite differences (Lemma 2), and scipy optimisation over the sphere for tensor
operator norms.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax import lax
from jax.tree_util import Partial

import eos  # noqa: F401  (float64 on)
from eos import curvature as C

# --------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------


def _sym(T: np.ndarray) -> np.ndarray:
    perms = list(itertools.permutations(range(T.ndim)))
    return sum(T.transpose(p) for p in perms) / len(perms)


class Poly:
    """f(x) = a.x + x'Ax/2 + T3(x,x,x)/6 + T4(x,x,x,x)/24 with random symmetric tensors."""

    def __init__(self, d: int, seed: int):
        rng = np.random.default_rng(seed)
        self.d = d
        self.a = rng.standard_normal(d)
        self.A = _sym(rng.standard_normal((d, d)))
        self.T3 = _sym(rng.standard_normal((d,) * 3))
        self.T4 = _sym(rng.standard_normal((d,) * 4)) / 2
        self.x = 0.3 * rng.standard_normal(d)
        a, A, T3, T4 = (jnp.asarray(t) for t in (self.a, self.A, self.T3, self.T4))

        def f(x):
            return (
                a @ x
                + x @ A @ x / 2
                + jnp.einsum("ijk,i,j,k", T3, x, x, x) / 6
                + jnp.einsum("ijkl,i,j,k,l", T4, x, x, x, x) / 24
            )

        self.f = f

    # exact derivative tensors at x (numpy, independent of JAX autodiff)
    def tensor(self, order: int, x: np.ndarray) -> np.ndarray:
        a, A, T3, T4 = self.a, self.A, self.T3, self.T4
        if order == 1:
            return (
                a
                + A @ x
                + np.einsum("ijk,j,k", T3, x, x) / 2
                + np.einsum("ijkl,j,k,l", T4, x, x, x) / 6
            )
        if order == 2:
            return A + np.einsum("ijk,k", T3, x) + np.einsum("ijkl,k,l", T4, x, x) / 2
        if order == 3:
            return T3 + np.einsum("ijkl,l", T4, x)
        return T4


def _swish_mlp(sizes: tuple[int, ...], n: int, seed: int):
    """A tiny swish MLP with categorical MSE on random data; returns (f, x0)."""
    rng = np.random.default_rng(seed)
    X = jnp.asarray(rng.standard_normal((n, sizes[0])))
    Y = jax.nn.one_hot(rng.integers(0, sizes[-1], n), sizes[-1], dtype=jnp.float64)
    shapes = [(m, k) for m, k in zip(sizes[:-1], sizes[1:])]
    parts = []
    for m, k in shapes:
        parts += [rng.uniform(-1, 1, m * k) / np.sqrt(m), 0.1 * rng.standard_normal(k)]
    x0 = np.concatenate(parts)

    def f(p):
        h, i = X.astype(p.dtype), 0
        for j, (m, k) in enumerate(shapes):
            W = p[i : i + m * k].reshape(m, k)
            c = p[i + m * k : i + m * k + k]
            i += m * k + k
            h = h @ W + c
            if j < len(shapes) - 1:
                h = jax.nn.swish(h)
        return jnp.mean(jnp.sum((h - Y.astype(p.dtype)) ** 2, axis=1))

    return f, x0


POLY = Poly(12, seed=1)
POLY_SMALL = Poly(3, seed=2)
MLP_F, MLP_X = _swish_mlp((4, 7, 7, 3), n=24, seed=3)  # d = 35 + 56 + 24 = 115
TINY_F, TINY_X = _swish_mlp((2, 3, 2), n=8, seed=4)  # d = 9 + 8 = 17

PROBLEMS = {"poly": (POLY.f, POLY.x), "mlp": (MLP_F, MLP_X)}
HESSIAN = {name: jax.jit(jax.hessian(f)) for name, (f, _) in PROBLEMS.items()}  # dense references


@pytest.fixture(scope="module")
def dense():
    """Dense Hessians and their eigen-decompositions (ascending)."""
    out = {}
    for name, (_, x) in PROBLEMS.items():
        H = np.asarray(HESSIAN[name](jnp.asarray(x)))
        w, U = np.linalg.eigh(H)
        out[name] = (H, w, U)
    return out


def _rand(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape))


def _true_rel_residuals(H, vals, vecs):
    H, vals, vecs = np.asarray(H), np.asarray(vals), np.asarray(vecs)
    return np.linalg.norm(H @ vecs - vecs * vals, axis=0) / np.abs(vals)


# --------------------------------------------------------------------------------------
# D: derivatives of orders 1-4
# --------------------------------------------------------------------------------------


def _contract(T: np.ndarray, vs) -> np.ndarray:
    for v in vs:
        T = np.tensordot(v, T, axes=(0, 0))
    return T


def _all_contractions(f, x, vs, orders):
    """D(f, x, m, v_1..v_j) for every order m and every j = 0..m, in one compiled call
    (D under an outer jax.jit: one compilation instead of one per (m, j))."""
    keys = [(m, j) for m in orders for j in range(m + 1)]
    run = jax.jit(lambda x, vs: [C.D(f, x, m, *vs[:j]) for m, j in keys])
    return dict(zip(keys, run(x, vs)))


def test_D_polynomial_exact_algebra():
    x, vs = jnp.asarray(POLY.x), [_rand(POLY.d, 10 + i) for i in range(4)]
    got = _all_contractions(POLY.f, x, vs, (1, 2, 3, 4))
    for (m, j), value in got.items():
        T = POLY.tensor(m, POLY.x)
        assert value.shape == (POLY.d,) * (m - j)
        want = _contract(T, [np.asarray(v) for v in vs[:j]])
        np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-10 * np.abs(T).max())
    # eagerly (hvp compiles itself)
    np.testing.assert_allclose(C.hvp(POLY.f, x, vs[0]), got[(2, 1)], rtol=1e-12)


def test_D_mlp_against_dense_jacfwd_tensors():
    x = jnp.asarray(TINY_X)
    hess = jax.hessian(TINY_F)
    H, T3, T4 = jax.jit(lambda x: (hess(x), jax.jacfwd(hess)(x), jax.jacfwd(jax.jacfwd(hess))(x)))(
        x
    )
    dense = {2: np.asarray(H), 3: np.asarray(T3), 4: np.asarray(T4)}
    vs = [_rand(len(x), 20 + i) for i in range(4)]
    got = _all_contractions(TINY_F, x, vs, (2, 3, 4))
    for (m, j), value in got.items():
        want = _contract(dense[m], [np.asarray(v) for v in vs[:j]])
        np.testing.assert_allclose(value, want, rtol=1e-9, atol=1e-11 * np.abs(dense[m]).max())


# --------------------------------------------------------------------------------------
# eigenpairs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, k",
    [("poly", 1), ("poly", 2), ("poly", 3), ("poly", 4), ("mlp", 1), ("mlp", 2), ("mlp", 3)],
)
def test_top_eigenpairs_against_eigh(name, k, dense):
    f, x = PROBLEMS[name]
    H, w, U = dense[name]
    vals, vecs, info = C.eigenpairs(C.hessian(f, jnp.asarray(x)), _rand((len(x), k), k), tol=1e-10)
    assert bool(info.converged)
    want = w[::-1][:k]
    np.testing.assert_allclose(vals, want, rtol=1e-8)
    overlap = np.abs(np.sum(np.asarray(vecs) * U[:, ::-1][:, :k], axis=0))
    np.testing.assert_allclose(overlap, 1, atol=1e-6)
    np.testing.assert_allclose(np.asarray(vecs).T @ np.asarray(vecs), np.eye(k), atol=1e-10)
    assert int(info.matvecs) == k * int(info.iterations)


@pytest.mark.parametrize("name", ["poly", "mlp"])
def test_lambda_min_and_bottom_pairs(name, dense):
    f, x = PROBLEMS[name]
    H, w, U = dense[name]
    lam, u, info = C.lambda_min(
        C.hessian(f, jnp.asarray(x)), tol=1e-10, max_iters=300, return_info=True
    )
    assert bool(info.converged)
    np.testing.assert_allclose(lam, w[0], rtol=1e-8)
    assert abs(float(np.asarray(u) @ U[:, 0])) == pytest.approx(1, abs=1e-6)
    vals, _, _ = C.eigenpairs(
        C.hessian(f, jnp.asarray(x)),
        _rand((len(x), 2), 5),
        which="bottom",
        tol=1e-10,
        max_iters=300,
    )
    np.testing.assert_allclose(vals, w[:2], rtol=1e-8)


def test_lambda_2(dense):
    H, w, _ = dense["mlp"]
    lam2, U2, info = C.lambda_2(C.hessian(MLP_F, jnp.asarray(MLP_X)), tol=1e-10, return_info=True)
    assert U2.shape == (len(MLP_X), 2) and bool(info.converged)
    np.testing.assert_allclose(lam2, w[-2], rtol=1e-8)


@pytest.mark.parametrize("k", [1, 3])
def test_reported_residual_is_the_true_relative_residual(k, dense):
    """tol semantics: info.residuals = ||H u - lam u|| / |lam| (true), and <= tol on success."""
    H, _, _ = dense["mlp"]
    x, U0 = jnp.asarray(MLP_X), _rand((len(MLP_X), k), 7)
    for tol in (1e-3, 1e-6, 1e-9):
        vals, vecs, info = C.eigenpairs(C.hessian(MLP_F, x), U0, tol=tol)
        true = _true_rel_residuals(H, vals, vecs)
        assert bool(info.converged)
        assert np.all(true <= tol)
        np.testing.assert_allclose(info.residuals, true, rtol=1e-3)
    # stopped early: not converged, residual above tol, still the true one
    vals, vecs, info = C.eigenpairs(C.hessian(MLP_F, x), U0, tol=1e-12, max_iters=3)
    true = _true_rel_residuals(H, vals, vecs)
    assert not bool(info.converged) and int(info.iterations) == 3
    assert np.max(true) > 1e-12
    np.testing.assert_allclose(info.residuals, true, rtol=1e-6)


def test_restarts_converge(dense):
    """A basis of 6 vectors forces thick restarts; the answer is unchanged."""
    H, w, _ = dense["mlp"]
    S, u, info = C.sharpness(
        C.hessian(MLP_F, jnp.asarray(MLP_X)),
        tol=1e-8,
        basis_size=6,
        max_iters=400,
        return_info=True,
    )
    assert bool(info.converged) and int(info.restarts) > 0
    np.testing.assert_allclose(S, w[-1], rtol=1e-10)
    true = _true_rel_residuals(H, [S], np.asarray(u)[:, None])[0]
    assert true <= 1e-8
    np.testing.assert_allclose(info.residuals[0], true, rtol=1e-3)  # still exact after restarts


def _dense_matvec(A, v):
    return A @ v


def test_degenerate_top_eigenvalue_and_rank_deficient_start():
    """Multiplicity-2 top eigenvalue: a block of 2 finds both; duplicate start columns work."""
    rng = np.random.default_rng(8)
    d = len(MLP_X)  # the size of test_matvec_variants' problem: shared compilations
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    spec = np.concatenate([[5.0, 5.0], rng.uniform(-3, 3, d - 2)])
    mv = Partial(_dense_matvec, jnp.asarray(Q @ np.diag(spec) @ Q.T))
    u = _rand(d, 9)
    U0 = jnp.stack([u, u], axis=1)
    vals, vecs, info = C.eigenpairs(mv, U0, tol=1e-10, vectorize=False)
    assert bool(info.converged)
    np.testing.assert_allclose(vals, [5.0, 5.0], rtol=1e-10)
    P = Q[:, :2] @ Q[:, :2].T  # projector onto the top eigenspace
    np.testing.assert_allclose(P @ np.asarray(vecs), np.asarray(vecs), atol=1e-8)
    # warm start from an exact eigenvector: one HVP (Lanczos breakdown = invariant subspace)
    _, _, info1 = C.sharpness(mv, jnp.asarray(Q[:, 0]), tol=1e-10, return_info=True)
    assert bool(info1.converged) and int(info1.matvecs) == 1


def test_exhausted_space_tiny_dimension():
    """k = 4 in dimension 12: three blocks fill R^12, the third step breaks down (no new
    direction exists) and the answer is exact, whatever the tolerance."""
    w = np.linalg.eigvalsh(POLY.tensor(2, POLY.x))
    vals, _, info = C.eigenpairs(
        C.hessian(POLY.f, jnp.asarray(POLY.x)), _rand((POLY.d, 4), 12), tol=1e-15
    )
    assert bool(info.converged) and int(info.iterations) <= 3
    np.testing.assert_allclose(vals, w[::-1][:4], rtol=1e-12)


def test_dimension_below_basis_size_warm_started_from_own_output():
    """d = 5 < basis size: a block recurrence breaks down after one step and used to report
    spurious eigenvalues above lambda_max when warm-started from its own output. The solver
    must give the dense answer, from a random start and from its own previous vectors."""
    rng = np.random.default_rng(21)
    d, k = 5, 2
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    w = np.array([3.0, 1.5, 0.4, -0.2, -2.5])
    mv = Partial(_dense_matvec, jnp.asarray(Q @ np.diag(w) @ Q.T))
    U = _rand((d, k), 22)
    for _ in range(3):
        vals, vecs, info = C.eigenpairs(mv, U, tol=1e-10)
        assert bool(info.converged)
        np.testing.assert_allclose(vals, w[:k], rtol=1e-12)
        np.testing.assert_allclose(np.abs(np.asarray(vecs).T @ Q[:, :k]), np.eye(k), atol=1e-10)
        assert np.all(np.sum(np.asarray(vecs) * np.asarray(U), axis=0) >= 0)  # sign aligned
        U = vecs
    low, _, _ = C.eigenpairs(mv, U, which="bottom", tol=1e-10)
    np.testing.assert_allclose(low, w[::-1][:k], rtol=1e-12)


def test_warm_start_needs_fewer_hvps(dense):
    H, w, U = dense["mlp"]
    x = jnp.asarray(MLP_X)
    u_exact = U[:, -1]
    u0 = u_exact + 1e-3 * np.asarray(_rand(len(u_exact), 13)) / np.sqrt(len(u_exact))
    S_w, u_w, info_w = C.sharpness(C.hessian(MLP_F, x), jnp.asarray(u0), tol=1e-8, return_info=True)
    S_c, u_c, info_c = C.sharpness(C.hessian(MLP_F, x), tol=1e-8, return_info=True)
    assert bool(info_w.converged) and bool(info_c.converged)
    np.testing.assert_allclose([S_w, S_c], w[-1], rtol=1e-8)
    assert float(u_w @ u0) > 0  # sign aligned with the warm start
    assert int(info_w.matvecs) < int(info_c.matvecs) - 3, (int(info_w.matvecs), int(info_c.matvecs))


def test_matvec_variants(dense):
    """The matvec API, as used with Objective.hvp: top, bottom, lambda_min, sharpness."""
    H, w, _ = dense["mlp"]
    mv = Partial(_dense_matvec, jnp.asarray(H))  # compiled and cached inside
    U0 = _rand((len(MLP_X), 2), 14)
    vals, _, info = C.eigenpairs(mv, U0, tol=1e-10, vectorize=False)  # lax.map
    np.testing.assert_allclose(vals, w[::-1][:2], rtol=1e-8)
    vals, _, info = C.eigenpairs(mv, U0, which="bottom", tol=1e-10, max_iters=300, vectorize=False)
    np.testing.assert_allclose(vals, w[:2], rtol=1e-8)
    lam, _ = C.lambda_min(mv, U0[:, 0], tol=1e-10, max_iters=300)
    np.testing.assert_allclose(lam, w[0], rtol=1e-8)
    S, _ = C.sharpness(mv, U0[:, 0], tol=1e-10)
    np.testing.assert_allclose(S, w[-1], rtol=1e-8)


def test_inside_jit_and_fori_loop():
    """Warm-started sharpness carried through a lax.fori_loop of GD steps."""
    f, grad = MLP_F, jax.grad(MLP_F)

    @jax.jit
    def run(x, u):
        def step(_, carry):
            x, u, S = carry
            S, u = C.sharpness(C.hessian(f, x), u, tol=1e-10)
            return x - 0.05 * grad(x), u, S

        return lax.fori_loop(0, 4, step, (x, u, jnp.zeros((), x.dtype)))

    x, u, S = run(jnp.asarray(MLP_X), jnp.ones(len(MLP_X)))
    # S belongs to the 4th iterate (the one before the last step)
    x3 = jnp.asarray(MLP_X)
    for _ in range(3):
        x3 = x3 - 0.05 * grad(x3)
    H3 = np.asarray(HESSIAN["mlp"](x3))
    np.testing.assert_allclose(S, np.linalg.eigvalsh(H3)[-1], rtol=1e-8)


def test_hessian_operator_is_an_hvp_and_a_pytree():
    """hessian(f, x) applied to v is the HVP; it crosses a jit boundary (x a leaf, f static)
    and gives the answer of a dense matvec."""
    x, v = jnp.asarray(POLY.x), _rand(POLY.d, 41)
    H = C.hessian(POLY.f, x)
    np.testing.assert_array_equal(H(v), C.hvp(POLY.f, x, v))
    S, u = jax.jit(lambda H, v: C.sharpness(H, v, tol=1e-12))(H, v)
    S_mv, _ = C.sharpness(Partial(_dense_matvec, jnp.asarray(POLY.tensor(2, POLY.x))), v, tol=1e-12)
    np.testing.assert_allclose(
        [S, S_mv], np.linalg.eigvalsh(POLY.tensor(2, POLY.x))[-1], rtol=1e-12
    )


def test_float32_in_float32_out(dense):
    H, w, _ = dense["mlp"]
    x32 = jnp.asarray(MLP_X, jnp.float32)
    S, u, info = C.sharpness(C.hessian(MLP_F, x32), tol=1e-5, return_info=True)
    assert S.dtype == u.dtype == info.residuals.dtype == jnp.float32
    assert bool(info.converged)
    np.testing.assert_allclose(S, w[-1], rtol=1e-4)
    assert C.sharpness_gradient(MLP_F, x32, u).dtype == jnp.float32


# --------------------------------------------------------------------------------------
# Lemma 2: grad S = D3L(u, u)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["poly", "mlp"])
def test_sharpness_gradient_matches_finite_differences(name, dense):
    f, x = PROBLEMS[name]
    _, w, _ = dense[name]
    assert w[-1] - w[-2] > 1e-2 * abs(w[-1])  # simple top eigenvalue (Lemma 2 applies)
    x = jnp.asarray(x)
    S, u = C.sharpness(C.hessian(f, x), tol=1e-12)
    g = C.sharpness_gradient(f, x, u)
    h = 1e-4
    for seed in range(3):
        e = _rand(len(x), 30 + seed)
        e = e / jnp.linalg.norm(e)
        Sp, _ = C.sharpness(C.hessian(f, x + h * e), u, tol=1e-12)
        Sm, _ = C.sharpness(C.hessian(f, x - h * e), u, tol=1e-12)
        fd = (Sp - Sm) / (2 * h)
        np.testing.assert_allclose(
            float(g @ e), float(fd), rtol=1e-5, atol=1e-7 * float(jnp.linalg.norm(g))
        )


# --------------------------------------------------------------------------------------
# rho3 / rho4: operator norms of symmetric tensors (Assumption 3)
# --------------------------------------------------------------------------------------


def _sphere_max(T: np.ndarray, n_samples: int, seed: int) -> float:
    """max over unit v of |T(v,...,v)| by sampling then scipy refinement (independent)."""
    m, d = T.ndim, T.shape[0]

    def val(v):
        return _contract(T, [v] * m)

    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n_samples, d))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    sub = "".join("abcdefgh"[:m])
    vals = np.abs(np.einsum(f"{sub},{','.join('n' + c for c in sub)}->n", T, *([V] * m)))
    best = 0.0
    for i in np.argsort(vals)[-5:]:
        res = scipy.optimize.minimize(
            lambda v: -abs(val(v / np.linalg.norm(v))), V[i], method="BFGS", options={"gtol": 1e-12}
        )
        best = max(best, -res.fun)
    return best, vals.max()


@pytest.mark.parametrize("order", [3, 4])
def test_rho_on_polynomial_against_sphere_optimisation(order):
    p = POLY_SMALL
    x = jnp.asarray(p.x)
    T = p.tensor(order, p.x)
    exact, sampled = _sphere_max(T, 20000, seed=order)
    fn = C.rho3 if order == 3 else C.rho4
    rho, v, info = fn(p.f, x, num_starts=8, tol=1e-10, max_iters=500)
    assert bool(info.converged)
    assert float(rho) >= sampled * (1 - 1e-9)
    np.testing.assert_allclose(rho, exact, rtol=1e-7)
    # v is a unit Z-eigenvector of the dense tensor: T(v,..,v,.) = +-rho v
    g = _contract(T, [np.asarray(v)] * (order - 1))
    lam = float(g @ np.asarray(v))
    assert abs(lam) == pytest.approx(float(rho), rel=1e-8)
    np.testing.assert_allclose(g, lam * np.asarray(v), atol=1e-7 * float(rho))


def test_rho3_mlp_against_dense_tensor():
    x = jnp.asarray(TINY_X)
    T3 = np.asarray(jax.jit(jax.jacfwd(jax.hessian(TINY_F)))(x))
    rho, v, info = C.rho3(TINY_F, x, num_starts=8, tol=1e-9, max_iters=1000)
    assert bool(info.converged)
    _, sampled = _sphere_max(T3, 5000, seed=5)
    assert float(rho) >= sampled * (1 - 1e-9)
    assert float(rho) <= np.linalg.norm(T3) * (1 + 1e-12)  # Frobenius bound
    g = _contract(T3, [np.asarray(v)] * 2)
    np.testing.assert_allclose(g, float(g @ np.asarray(v)) * np.asarray(v), atol=1e-7 * float(rho))
    # warm start from the answer (8 copies: the compiled shape above): converges at once
    rho_w, _, info_w = C.rho3(TINY_F, x, jnp.tile(v[:, None], (1, 8)), tol=1e-9)
    np.testing.assert_allclose(rho_w, rho, rtol=1e-9)
    assert int(info_w.iterations) <= 2


def test_tensor_norm_order2_is_spectral_norm(dense):
    H, w, _ = dense["poly"]
    Hj = jnp.asarray(H)
    rho, v, info = C.tensor_norm(
        lambda v: Hj @ v, _rand((POLY.d, 3), 40), 2, tol=1e-10, max_iters=2000
    )
    np.testing.assert_allclose(rho, np.max(np.abs(w)), rtol=1e-9)


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    f, x = MLP_F, jnp.asarray(MLP_X)
    d = x.shape[0]
    with pytest.raises(ValueError, match="U0 must have shape"):
        C.eigenpairs(C.hessian(f, x), jnp.ones((d + 1, 2)))
    with pytest.raises(ValueError, match="k=6 eigenpairs but the dimension is only d=5"):
        C.eigenpairs(C.hessian(POLY_SMALL.f, jnp.ones(5)), jnp.ones((5, 6)))
    with pytest.raises(ValueError, match="non-finite"):
        C.sharpness(C.hessian(f, x.at[3].set(jnp.nan)))
    with pytest.raises(ValueError, match="non-finite"):
        C.D(f, x, 2, x.at[0].set(jnp.inf))
    with pytest.raises(ValueError, match="flat"):
        C.hvp(f, x[None], x)
    with pytest.raises(ValueError, match="order must be"):
        C.D(f, x, 5)
    with pytest.raises(ValueError, match="at most order=2"):
        C.D(f, x, 2, x, x, x)
    with pytest.raises(ValueError, match=r"vs\[1\] must have shape"):
        C.D(f, x, 3, x, x[:-1])
    with pytest.raises(ValueError, match="u0 must have shape"):
        C.sharpness(C.hessian(f, x), jnp.ones(d - 1))
    with pytest.raises(ValueError, match="tol must be"):
        C.sharpness(C.hessian(f, x), tol=-1.0)
    with pytest.raises(ValueError, match="basis_size=4 is too small"):
        C.eigenpairs(C.hessian(f, x), jnp.ones((d, 2)), basis_size=4)
    with pytest.raises(ValueError, match="max_iters"):
        C.sharpness(C.hessian(f, x), max_iters=0)
    with pytest.raises(ValueError, match="floating-point"):
        C.sharpness(C.hessian(f, jnp.arange(d)))
    with pytest.raises(ValueError, match="order must be"):
        C.tensor_norm(lambda v: v, jnp.ones(3), 1)
    with pytest.raises(ValueError, match="which must be"):
        C.eigenpairs(C.hessian(f, x), jnp.ones((d, 1)), which="middle")
    with pytest.raises(ValueError, match="u0 is required with a matvec"):
        C.sharpness(lambda v: v)
    with pytest.raises(ValueError, match=r"U0 must have shape \(d, 2\)"):
        C.lambda_2(C.hessian(f, x), jnp.ones((d, 3)))
    # under jit the value checks (finiteness) are skipped: no error, nan propagates
    Hv = jax.jit(lambda p: C.hvp(f, p, jnp.ones(d)))(x.at[3].set(jnp.nan))
    assert not np.all(np.isfinite(np.asarray(Hv)))
