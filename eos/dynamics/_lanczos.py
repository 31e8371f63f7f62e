"""A warm-started, jit-compatible Lanczos solver for the top eigenpair, tuned for tracking.

The tracked step needs many top-eigenpair solves at points that move little between steps,
so every solve is warm-started from a nearby vector and stops as soon as the Lanczos
residual ``||H y - theta y|| = b_j |s_j|`` (exact with full reorthogonalisation) falls below
``tol * |theta|``; with a good start this takes one to three products. Two features that the
general solver of :mod:`eos.curvature` does not offer:

* ``Hq0``: the product of the operator with the (normalised) start vector may be passed in,
  so that the first product can be *fused* with a gradient evaluation at the same point
  (``jax.jvp`` of ``value_and_grad`` gives the loss, the gradient and ``H q0`` in one pass);
* little work beyond the products themselves: the loop body applies the operator to the
  current Lanczos vector and stops right after the convergence test, so no product is wasted;
  the Krylov basis (``max_iters`` rows, small) is orthogonalised against row by row (modified
  Gram-Schmidt over the rows built so far), which matters for 650k-parameter models.

The number of operator products is returned, for the benchmark's HVP accounting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["LanczosResult", "lanczos_top"]


class LanczosResult(NamedTuple):
    """Top Ritz pair and bookkeeping of :func:`lanczos_top`."""

    value: jax.Array  # top Ritz value (a lower bound of the top eigenvalue)
    vector: jax.Array  # unit Ritz vector, sign aligned with the start vector
    residual: jax.Array  # ||H y - value y|| / |value| (Lanczos estimate)
    matvecs: jax.Array  # number of operator products used (including a given Hq0)


def _run(matvec, q0, w0, Q, *, tol, m: int):
    """One Lanczos run of at most ``m`` steps from the unit vector ``q0`` (``w0 = H q0``).

    ``Q`` is the ``(m, d)`` basis buffer; only the rows a run writes are read, so its initial
    contents do not matter and it is returned for reuse by a restart."""
    dtype = q0.dtype
    big = jnp.asarray(jnp.finfo(dtype).max ** 0.25, dtype)
    tiny = jnp.finfo(dtype).tiny
    eps = jnp.finfo(dtype).eps

    def ritz(alphas, betas, j):
        """Top Ritz pair of the (j+1)x(j+1) leading block of the tridiagonal matrix."""
        idx = jnp.arange(m)
        diag = jnp.where(idx <= j, alphas, -big)
        off = jnp.where(idx[:-1] < j, betas[:-1], 0.0)
        T = jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
        evals, evecs = jnp.linalg.eigh(T)
        return evals[-1], evecs[:, -1]

    def step(carry, w):
        """One Lanczos step given ``w = H q_j``: orthogonalise, Ritz pair, convergence test."""
        j, Q, q, alphas, betas, _, _, _ = carry
        Q = Q.at[j].set(q)
        a = jnp.dot(q, w)
        # Full reorthogonalisation: modified Gram-Schmidt against the j+1 basis vectors.
        w = jax.lax.fori_loop(0, j + 1, lambda i, w: w - jnp.dot(Q[i], w) * Q[i], w)
        b = jnp.linalg.norm(w)
        alphas = alphas.at[j].set(a)
        betas = betas.at[j].set(b)
        theta, s = ritz(alphas, betas, j)
        res = b * jnp.abs(s[j]) / jnp.maximum(jnp.abs(theta), tiny)
        done = (res <= tol) | (j + 1 >= m) | (b <= eps * jnp.abs(theta))
        q_next = w / jnp.where(b > 0, b, 1.0)
        return j + 1, Q, q_next, alphas, betas, done, theta, res

    init = (
        jnp.asarray(0, jnp.int32),
        Q,
        q0,
        jnp.zeros((m,), dtype),
        jnp.zeros((m,), dtype),
        jnp.asarray(False),
        jnp.asarray(0.0, dtype),
        jnp.asarray(jnp.inf, dtype),
    )
    # The first step is peeled off the loop so that a given w0 needs no branch (a branch on the
    # loop counter would compute both sides under vmap, wasting a product).
    first = step(init, w0)
    j, Q, _, alphas, betas, _, theta, res = jax.lax.while_loop(
        lambda c: ~c[5], lambda c: step(c, matvec(c[2])), first
    )
    _, s = ritz(alphas, betas, j - 1)
    # Ritz vector from the j rows built (the rest of Q is never read).
    y = jax.lax.fori_loop(0, j, lambda i, y: y + s[i] * Q[i], jnp.zeros_like(q0))
    y = y / jnp.linalg.norm(y)
    return theta, y, res, j, Q


def lanczos_top(
    matvec: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    *,
    tol: float,
    max_iters: int = 8,
    Hq0: jax.Array | None = None,
    restarts: int = 0,
) -> LanczosResult:
    """Top eigenpair of the symmetric operator ``matvec`` by Lanczos from ``v0``.

    Full reorthogonalisation, a Krylov basis of at most ``max_iters`` vectors, one
    ``lax.while_loop`` that stops at relative residual ``tol``; works under ``jit``/``vmap`` and in
    the dtype of ``v0``. There is no restart inside (XLA loops that hold a basis buffer cost
    milliseconds even when they do not run): call again from the returned vector to restart,
    and check ``residual``. A small basis keeps the per-call overhead low; warm-started solves
    need one to six products. If ``Hq0`` is given it must equal ``matvec(v0 / ||v0||)``. The
    returned vector has ``vector . v0 >= 0``.

    ``restarts``: while the residual is above ``tol``, restart (at most this many times) from
    the Ritz vector, reusing the basis buffer: a solve that meets a hard point (a near-crossing
    of the top eigenvalues, where a warm start has little weight on the new top vector) still
    converges, while the usual solve pays only for a small basis.
    """
    m = int(max_iters)
    q0 = v0 / jnp.linalg.norm(v0)
    w0 = matvec(q0) if Hq0 is None else Hq0.astype(q0.dtype)
    Q = jnp.zeros((m,) + q0.shape, q0.dtype)
    theta, y, res, n, Q = _run(matvec, q0, w0, Q, tol=tol, m=m)
    if restarts > 0:

        def again(carry):
            k, _, y, _, n, Q = carry
            theta, y, res, j, Q = _run(matvec, y, matvec(y), Q, tol=tol, m=m)
            return k + 1, theta, y, res, n + j, Q

        def more(carry):
            k, _, _, res, _, _ = carry
            return (k < restarts) & (res > tol)

        _, theta, y, res, n, _ = jax.lax.while_loop(more, again, (0, theta, y, res, n, Q))
    y = jnp.where(jnp.dot(y, q0) < 0, -y, y)
    return LanczosResult(theta, y, res, n)
