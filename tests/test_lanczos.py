"""The tracker's warm-started Lanczos solver (eos.curvature.lanczos_top) against dense eigh."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eos  # noqa: F401  (float64)
from eos.curvature import lanczos_top


def _matrix(d: int = 80, gap: float = 1e-2, seed: int = 0) -> np.ndarray:
    """A symmetric matrix with a nearly degenerate top pair (1 and 1 - gap) above a bulk in
    [-0.3, 0.6]: the hard case of the tracked runs (a near-crossing of the top eigenvalues)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    evals = np.concatenate([[1.0, 1.0 - gap], rng.uniform(-0.3, 0.6, d - 2)])
    return (Q * evals) @ Q.T


def _solve(A, v0, **kw):
    A = jnp.asarray(A)
    return jax.jit(lambda v: lanczos_top(lambda x: A @ x, v, **kw))(jnp.asarray(v0))


def test_converged_pair_matches_eigh():
    A = _matrix(gap=0.2)
    evals, evecs = np.linalg.eigh(A)
    v0 = np.random.default_rng(1).standard_normal(A.shape[0])
    r = _solve(A, v0, tol=1e-10, max_iters=40)
    assert float(r.residual) <= 1e-10
    assert float(r.value) == pytest.approx(evals[-1], rel=1e-12)
    assert abs(float(jnp.dot(r.vector, evecs[:, -1]))) == pytest.approx(1.0, abs=1e-10)
    # the Ritz residual estimate is the true residual
    true = np.linalg.norm(A @ np.asarray(r.vector) - float(r.value) * np.asarray(r.vector))
    assert true == pytest.approx(float(r.residual) * float(r.value), rel=1e-3, abs=1e-14)
    assert float(jnp.dot(r.vector, v0)) >= 0  # sign aligned with the start


@pytest.mark.parametrize("gap", [1e-2, 1e-3])
def test_restarts_converge_where_a_small_basis_does_not(gap):
    """A basis of 4 vectors from a poor start stops far from tol; restarts from the Ritz vector
    (reusing the basis buffer) reach tol, and the eigenvalue is then exact to about
    tol^2 / gap; the product count adds up over the runs."""
    A = _matrix(gap=gap, seed=2)
    evals, evecs = np.linalg.eigh(A)
    # a generic start with little weight on the top eigenvector
    g = np.random.default_rng(5).standard_normal(A.shape[0])
    v0 = g - 0.99 * (g @ evecs[:, -1]) * evecs[:, -1]
    tol = 1e-4
    once = _solve(A, v0, tol=tol, max_iters=4)
    assert float(once.residual) > tol and int(once.matvecs) == 4
    r = _solve(A, v0, tol=tol, max_iters=4, restarts=200)
    assert float(r.residual) <= tol
    assert int(r.matvecs) % 4 != 0 or int(r.matvecs) > 4  # several runs were needed
    # A Ritz value is a lower bound of the top eigenvalue. With a clear gap it is exact to
    # about tol^2 / gap; inside a cluster it may belong to the second eigenvalue (a residual
    # test cannot tell them apart), but it is then within the cluster's width of the top.
    err = evals[-1] - float(r.value)
    bound = 10 * tol**2 / gap if gap > 10 * tol else gap + tol
    assert -1e-14 <= err <= bound + 1e-13


def test_given_first_product_is_used():
    A = _matrix(gap=0.3, seed=3)
    v0 = np.random.default_rng(4).standard_normal(A.shape[0])
    q0 = v0 / np.linalg.norm(v0)
    a = _solve(A, v0, tol=1e-8, max_iters=30)
    b = jax.jit(
        lambda v, w: lanczos_top(lambda x: jnp.asarray(A) @ x, v, tol=1e-8, max_iters=30, Hq0=w)
    )(jnp.asarray(v0), jnp.asarray(A @ q0))
    assert float(a.value) == pytest.approx(float(b.value), rel=1e-13)
    assert int(a.matvecs) == int(b.matvecs)
