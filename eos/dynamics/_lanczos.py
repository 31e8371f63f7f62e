"""A warm-started, jit-compatible Lanczos solver for the top eigenpair, tuned for tracking.

The tracked step needs many top-eigenpair solves at points that move little between steps,
so every solve is warm-started from a nearby vector and stops as soon as the Lanczos
residual ``||H y - theta y|| = b_j |s_j|`` (exact with full reorthogonalisation) falls below
``tol * |theta|``. Two features that a general solver does not offer:

* ``Hq0``: the product of the operator with the (normalised) start vector may be passed in,
  so that the first product can be *fused* with a gradient evaluation at the same point
  (``jax.jvp`` of the gradient gives ``grad L`` and ``H q0`` in one pass);
* the number of operator products is returned, for the benchmark's HVP accounting.

The generic eigen-solvers of the project live in :mod:`eos.curvature`; this file only holds
the tracking-specific variant (see the design notes, "Eigen-solver tolerance").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["LanczosResult", "lanczos_top"]


class LanczosResult(NamedTuple):
    """Top Ritz pair and bookkeeping of :func:`lanczos_top`."""

    value: jax.Array  # top Ritz value
    vector: jax.Array  # unit Ritz vector, sign aligned with the start vector
    residual: jax.Array  # ||H y - value y|| / |value| (Lanczos estimate)
    matvecs: jax.Array  # number of operator products used (including a fused Hq0)


def lanczos_top(
    matvec: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    *,
    tol: float,
    max_iters: int = 32,
    Hq0: jax.Array | None = None,
) -> LanczosResult:
    """Top eigenpair of the symmetric operator ``matvec`` by Lanczos from ``v0``.

    Full reorthogonalisation (twice), a fixed-size Krylov basis of ``max_iters`` vectors and a
    ``lax.while_loop`` that stops at relative residual ``tol``; works under ``jit`` and in the
    dtype of ``v0``. If ``Hq0`` is given it must equal ``matvec(v0 / ||v0||)``.
    The returned vector has ``vector . v0 >= 0``.
    """
    dtype = v0.dtype
    d = v0.shape[0]
    m = int(max_iters)
    q0 = v0 / jnp.linalg.norm(v0)
    w0 = matvec(q0) if Hq0 is None else Hq0.astype(dtype)
    Q = jnp.zeros((m, d), dtype).at[0].set(q0)
    big = jnp.asarray(jnp.finfo(dtype).max ** 0.25, dtype)

    def ritz(alphas, betas, j):
        """Top Ritz pair of the (j+1)x(j+1) leading block of the tridiagonal matrix."""
        idx = jnp.arange(m)
        active = idx <= j
        diag = jnp.where(active, alphas, -big)
        off = jnp.where(idx[:-1] < j, betas[:-1], 0.0)
        T = jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
        evals, evecs = jnp.linalg.eigh(T)
        return evals[-1], evecs[:, -1]

    def body(carry):
        j, Q, w, alphas, betas, _, _, _ = carry
        qj = Q[j]
        a = jnp.dot(qj, w)
        w = w - a * qj
        # Full reorthogonalisation (modified Gram-Schmidt) against the j+1 basis vectors
        # built so far; touching only those rows keeps the memory traffic ~ 3 (j+1) vectors.
        w = jax.lax.fori_loop(0, j + 1, lambda i, w: w - jnp.dot(Q[i], w) * Q[i], w)
        b = jnp.linalg.norm(w)
        alphas = alphas.at[j].set(a)
        betas = betas.at[j].set(b)
        theta, s = ritz(alphas, betas, j)
        res = b * jnp.abs(s[j]) / jnp.maximum(jnp.abs(theta), jnp.finfo(dtype).tiny)
        done = (res <= tol) | (j + 1 >= m) | (b <= jnp.finfo(dtype).eps * jnp.abs(theta))
        # Next Lanczos vector and product, skipped (via cond) once converged.
        qn = w / jnp.where(b > 0, b, 1.0)

        def advance(_):
            return Q.at[j + 1].set(qn), matvec(qn)

        def stay(_):
            return Q, w

        Q, w = jax.lax.cond(done, stay, advance, None)
        return (j + 1, Q, w, alphas, betas, done, theta, res)

    def cond(carry):
        return ~carry[5]

    alphas = jnp.zeros((m,), dtype)
    betas = jnp.zeros((m,), dtype)
    init = (
        jnp.asarray(0, jnp.int32),
        Q,
        w0,
        alphas,
        betas,
        jnp.asarray(False),
        jnp.asarray(0.0, dtype),
        jnp.asarray(jnp.inf, dtype),
    )
    j, Q, _, alphas, betas, _, theta, res = jax.lax.while_loop(cond, body, init)
    _, s = ritz(alphas, betas, j - 1)
    # Ritz vector from the j basis vectors built (the other rows are never touched).
    y = jax.lax.fori_loop(0, j, lambda i, y: y + s[i] * Q[i], jnp.zeros_like(q0))
    y = y / jnp.linalg.norm(y)
    y = jnp.where(jnp.dot(y, q0) < 0, -y, y)
    return LanczosResult(theta, y, res, j)
