r"""Lanczos eigen-solvers for a symmetric operator given by its products (App. D.3 made concrete).

Both solvers build an orthonormal Krylov basis :math:`V` of the operator :math:`H`, with full
reorthogonalisation, and read eigenpairs off the projected matrix :math:`T = V^\top H V`
(Rayleigh-Ritz). Residuals come for free from the Lanczos relation
:math:`H V = V T + Q B E^\top`: the Ritz pair :math:`(\theta_i, y_i = V s_i)` has
:math:`\|H y_i - \theta_i y_i\| = \|B s_i^{\rm last}\|` (``s_i^{last}`` = the last block of
``s_i``; exact up to rounding with full reorthogonalisation). A solve stops when every wanted
pair has :math:`\|H y_i - \theta_i y_i\| \le \max(\mathrm{tol}\,|\theta_i|, \mathrm{atol})`:
``tol`` is a *relative residual*, not lobpcg's size-scaled tolerance
(``shared/design/algorithms.md``). Everything runs in the dtype of the start vectors.

Block solver (:func:`block_lanczos`, behind :func:`eos.curvature.eigenpairs`)
------------------------------------------------------------------------------
A *thick-restart block Lanczos* method, written as one ``lax.while_loop`` over fixed-size
buffers, for the top ``k`` eigenpairs:

* the block size is ``k = U0.shape[1]`` and the first block is ``U0`` orthonormalised, so a
  previous eigenvector is a warm start; the ``k`` products of a block are applied at once;
* the basis ``V`` (``basis_size`` rows) and :math:`T` are filled block by block; each new
  block is orthogonalised against the current and previous blocks (the Lanczos recurrence),
  then against the whole basis once more (modified Gram-Schmidt, row by row over the active
  rows only), then within itself; a Rayleigh-Ritz step (``eigh`` of the small masked
  :math:`T`) after every block gives the Ritz pairs;
* when the basis is full it is restarted from the ``keep`` best Ritz vectors plus the next
  Lanczos block (arrow-shaped :math:`T`); breakdowns (an invariant subspace, a
  rank-deficient ``U0``) are replaced by pseudo-random directions orthogonal to the basis;
  the basis buffer is only ever updated in place;
* when ``d <= basis_size`` the Krylov space is all of :math:`\mathbb{R}^d`: the operator is
  assembled from ``d`` products and solved densely (:func:`_dense_top`).

Costs per block step: ``k`` products, about two reads of the active basis rows (plus the two
rows of the recurrence) and an ``eigh`` of a ``basis_size``-square matrix; per solve, one
write of the ``(basis_size + k) x d`` buffer.

Single-vector solver (:func:`lanczos_top`, used by the tracker)
---------------------------------------------------------------
The same process with ``k = 1`` (so :math:`T` is tridiagonal), specialised for the tracked
step, which needs many top-eigenpair solves at points that move little between steps:

* the product with the (normalised) start vector may be passed in (``Hq0``), so that the
  first product is *fused* with a gradient evaluation at the same point (``jax.jvp`` of
  ``value_and_grad`` gives the loss, the gradient and :math:`H q_0` in one pass);
* a small basis (``max_iters`` rows) and no thick restart inside the loop: the loop body
  applies the operator to the current Lanczos vector and stops right after the convergence
  test, so no product is wasted; a restart (``restarts``) starts again from the Ritz vector,
  reusing the basis buffer. With a good warm start a solve takes one to three products.

Both return the number of operator products used, for the benchmarks' HVP accounting. The
Ritz vector of both is accumulated from the active basis rows by the one helper
:func:`_accumulate_rows`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["EigenInfo", "LanczosResult", "block_lanczos", "lanczos_top"]

Array = jax.Array


class EigenInfo(NamedTuple):
    """Diagnostics of an eigen-solve (a pytree of arrays).

    Attributes:
        iterations: block Lanczos steps taken (each applies ``H`` to one block).
        matvecs: Hessian-vector products applied, ``iterations * k``.
        converged: every pair met ``||H y - theta y|| <= max(tol |theta|, atol)``.
        residuals: ``(k,)`` relative residuals ``||H y_i - theta_i y_i|| / |theta_i|``
            (Lanczos estimates, equal to the true residuals up to rounding).
        restarts: thick restarts performed.
    """

    iterations: Array
    matvecs: Array
    converged: Array
    residuals: Array
    restarts: Array


class LanczosResult(NamedTuple):
    """Top Ritz pair and bookkeeping of :func:`lanczos_top`."""

    value: jax.Array  # top Ritz value (a lower bound of the top eigenvalue)
    vector: jax.Array  # unit Ritz vector, sign aligned with the start vector
    residual: jax.Array  # ||H y - value y|| / |value| (Lanczos estimate)
    matvecs: jax.Array  # number of operator products used (including a given Hq0)


# ----------------------------------------------------------------------------------------
# shared helper
# ----------------------------------------------------------------------------------------


def _accumulate_rows(s: Array, V: Array, n_rows: Array) -> Array:
    """``sum_{j < n_rows} s[j] V[j]``, one row at a time: reads only the active basis rows
    (the rest of the buffer may hold anything)."""
    return lax.fori_loop(0, n_rows, lambda j, y: y + s[j] * V[j], jnp.zeros_like(V[0]))


# ----------------------------------------------------------------------------------------
# block solver: orthogonalisation
# ----------------------------------------------------------------------------------------


def _project_out(V: Array, R: Array, start: Array, stop: Array) -> tuple[Array, Array]:
    """One modified Gram-Schmidt pass over the basis rows ``start <= j < stop``:
    ``R <- R - v_j (v_j . R)`` row by row (a ``fori_loop``: only the active rows are read,
    one at a time, so the memory traffic grows with the active basis, not the buffer, and
    rows past ``stop`` may hold anything). Returns ``(R, C)`` with ``C[j] = v_j . R``
    (zero outside the range), shape ``(V.shape[0], b)``."""
    C = jnp.zeros((V.shape[0], R.shape[0]), R.dtype)

    def body(j, carry):
        R, C = carry
        v = lax.dynamic_slice_in_dim(V, j, 1, axis=0)  # (1, d)
        c = R @ v[0]  # (b,)
        return R - c[:, None] * v, lax.dynamic_update_slice_in_dim(C, c[None], j, axis=0)

    return lax.fori_loop(start, stop, body, (R, C))


def _hash_vectors(shape: tuple[int, int], seed: Array, dtype: Any) -> Array:
    """Deterministic pseudo-random entries in [-1/2, 1/2) (murmur3 finaliser of the flat
    index and ``seed``): generic directions for breakdowns, far cheaper to compile than
    ``jax.random`` inside the solver loop."""
    h = jnp.arange(shape[0] * shape[1], dtype=jnp.uint32).reshape(shape)
    h = h * jnp.uint32(0x9E3779B1) + jnp.asarray(seed, jnp.uint32) * jnp.uint32(0x85EBCA77)
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    h = h ^ (h >> 16)
    return (h.astype(dtype) / dtype.type(2.0**32) - 0.5).astype(dtype)


def _orthonormalize_block(
    R: Array, V: Array, local_start: Array, n_rows: Array, ref: Array, seed: Array
) -> tuple[Array, Array, Array, Array]:
    """Orthonormalise the rows of ``R`` (b, d) against the basis rows ``< n_rows`` of ``V``
    and against each other.

    Pass 1 removes the rows ``local_start .. n_rows`` (the current and the previous Lanczos
    block, or everything right after a restart: in exact arithmetic the product has no
    other components); pass 2 (full reorthogonalisation) removes all rows ``< n_rows``.
    Then Gram-Schmidt twice within the block, row by row. A row whose norm collapses
    (pass 2 removes more than half of what pass 1 left, or nothing is left) is
    *dependent* (an invariant subspace, a rank-deficient start): it is dropped (zero
    coefficient) and a pseudo-random unit vector orthogonal to the basis and the kept
    rows takes its place (a zero row, marked invalid, when the space is exhausted).

    Returns ``(Q, C, B, valid)`` with ``R = C^T V + B^T Q`` up to the dropped dependent
    parts (of the size of rounding errors): ``C`` (rows of V, b) the coefficients on
    ``V``, ``B`` (b, b), ``valid`` (b,) marks the nonzero rows of ``Q``.
    """
    b, d = R.shape
    dtype = R.dtype
    tiny = jnp.finfo(dtype).eps ** 2
    zero = jnp.zeros((), jnp.int32)

    R1, C1 = _project_out(V, R, local_start, n_rows)
    n1 = jnp.linalg.norm(R1, axis=1)
    R2, C2 = _project_out(V, R1, zero, n_rows)
    n2 = jnp.linalg.norm(R2, axis=1)
    dep = ~(n2 >= 0.5 * n1) | ~(n2 > tiny * ref)
    Q, B, dep = _within_block(R2, n2, dep, ref, tiny)

    def fix(Q: Array) -> tuple[Array, Array]:
        Z = _hash_vectors((b, d), seed, jnp.dtype(dtype))
        good = jnp.where(dep[:, None], 0, Q)
        Z1 = _project_out(V, Z, zero, n_rows)[0]
        Z1 = Z1 - (Z1 @ good.T) @ good
        m1 = jnp.linalg.norm(Z1, axis=1)
        Z2 = _project_out(V, Z1, zero, n_rows)[0]
        Z2 = Z2 - (Z2 @ good.T) @ good
        m2 = jnp.linalg.norm(Z2, axis=1)
        zdep = ~dep | ~(m2 >= 0.5 * m1) | ~(m2 > tiny)  # only dependent rows are replaced
        Zq, _, zdep = _within_block(Z2, m2, zdep, jnp.ones((b,), dtype), tiny)
        return jnp.where(dep[:, None], Zq, Q), ~(dep & zdep)

    Q, valid = lax.cond(jnp.any(dep), fix, lambda Q: (Q, jnp.ones((b,), bool)), Q)
    return Q, C1 + C2, B, valid


def _within_block(
    R: Array, norms: Array, dep: Array, ref: Array, tiny: Array
) -> tuple[Array, Array, Array]:
    """Row-by-row Gram-Schmidt (twice) of ``R`` skipping rows flagged in ``dep``.

    Returns ``(Q, B, dep)``: orthonormal rows (zero where dependent), ``R = B^T Q`` for
    kept rows, and ``dep`` extended by rows that collapse here.
    """
    b = R.shape[0]
    if b == 1:
        q = jnp.where(dep[:, None], 0, R / jnp.where(dep, 1, norms)[:, None])
        return q, jnp.where(dep, 0, norms)[:, None], dep

    def body(i, carry):
        Q, B, dep = carry  # rows >= i of Q are still zero
        r = R[i]
        c1 = Q @ r
        r = r - c1 @ Q
        na = jnp.where(i == 0, norms[i], jnp.linalg.norm(r))
        c2 = Q @ r
        r = r - c2 @ Q
        nb = jnp.where(i == 0, norms[i], jnp.linalg.norm(r))
        d_i = dep[i] | ~(nb >= 0.5 * na) | ~(nb > tiny * ref[i])
        Q = Q.at[i].set(jnp.where(d_i, 0, r / jnp.where(d_i, 1, nb)))
        B = B.at[:, i].set((c1 + c2).at[i].set(jnp.where(d_i, 0, nb)))
        return Q, B, dep.at[i].set(d_i)

    init = (jnp.zeros_like(R), jnp.zeros((b, b), R.dtype), dep)
    return lax.fori_loop(0, b, body, init)


# ----------------------------------------------------------------------------------------
# block solver: Rayleigh-Ritz, steps and restarts
# ----------------------------------------------------------------------------------------


class _LanczosState(NamedTuple):
    V: Array  # (M + b, d) basis rows; rows >= p + b are stale
    T: Array  # (M, M) projected matrix V H V^T over the basis rows
    valid: Array  # (M + b,) bool: nonzero basis rows
    p: Array  # first row of the block to be multiplied next
    lstart: Array  # first row coupled to that block (previous block; 0 after a restart)
    it: Array
    restarts: Array
    theta: Array  # (k,) current Ritz values, descending
    S: Array  # (M, k) Ritz coefficient vectors
    res: Array  # (k,) absolute residual norms
    converged: Array
    B: Array  # (b, b) coupling of the last block to the next one (rows p ...)
    U: Array  # (M, M) eigenvectors of T, descending
    w: Array  # (M,) eigenvalues of T, descending (masked rows at the bottom)
    lo: Array  # the value given to masked rows


def _masked_eigh(T: Array, valid: Array) -> tuple[Array, Array, Array]:
    """eigh of T restricted to valid rows, in descending order; invalid rows get a
    value ``lo`` below the spectrum."""
    mask = valid[:, None] & valid[None, :]
    Tm = jnp.where(mask, T, 0)
    lo = -(1 + 2 * T.shape[0] * jnp.max(jnp.abs(Tm)))
    Tm = Tm + jnp.diag(jnp.where(valid, 0, lo))
    w, U = jnp.linalg.eigh(Tm)
    return w[::-1], U[:, ::-1], lo


def _combine_rows(S: Array, V: Array, n_rows: Array) -> Array:
    """``S^T V`` (``S`` has ``<= V.shape[0]`` rows) over the basis rows ``< n_rows``."""
    k = S.shape[1]
    S = jnp.zeros((V.shape[0], k), S.dtype).at[: S.shape[0]].set(S)
    S = jnp.where((jnp.arange(V.shape[0]) < n_rows)[:, None], S, 0)
    if k > 1:  # one matrix product over the whole buffer
        return S.T @ V
    return _accumulate_rows(S[:, 0], V, n_rows)[None]


def _initial_state(U0: Array, M: int) -> _LanczosState:
    """Empty basis of ``M`` rows (plus room for the pending block) holding ``U0``
    orthonormalised in its first block."""
    d, k = U0.shape
    dtype = U0.dtype
    i0 = jnp.zeros((), jnp.int32)
    # Householder QR: orthonormal columns even when U0 is rank deficient (then the
    # missing directions are arbitrary, which is all a start block needs)
    Q0 = jnp.linalg.qr(U0)[0].T
    return _LanczosState(
        V=jnp.zeros((M + k, d), dtype).at[:k].set(Q0),
        T=jnp.zeros((M, M), dtype),
        valid=jnp.zeros((M + k,), bool).at[:k].set(True),
        p=i0,
        lstart=i0,
        it=i0,
        restarts=i0,
        theta=jnp.zeros((k,), dtype),
        S=jnp.zeros((M, k), dtype),
        res=jnp.full((k,), jnp.inf, dtype),
        converged=jnp.zeros((), bool),
        B=jnp.zeros((k, k), dtype),
        U=jnp.zeros((M, M), dtype),
        w=jnp.zeros((M,), dtype),
        lo=jnp.zeros((), dtype),
    )


def _step(
    s: _LanczosState, matvec_block: Callable[[Array], Array], tol: Array, atol: Array
) -> _LanczosState:
    """One block step: multiply the block at rows ``p .. p+b``, orthogonalise the product
    against rows ``< p + b``, extend ``T``, Rayleigh-Ritz and residuals, and write the new
    block at rows ``p+b ..`` (in place)."""
    b = k = s.theta.shape[0]
    M = s.T.shape[0]
    i0 = jnp.zeros((), jnp.int32)
    p = s.p
    X = lax.dynamic_slice_in_dim(s.V, p, b, axis=0)
    W = matvec_block(X)
    Q, C, B, qvalid = _orthonormalize_block(
        W, s.V, s.lstart, p + b, jnp.linalg.norm(W, axis=1), s.it + 1
    )
    C = C[:M]
    Cpp = lax.dynamic_slice(C, (p, i0), (b, b))
    C = lax.dynamic_update_slice(C, (Cpp + Cpp.T) / 2, (p, i0))
    T = lax.dynamic_update_slice(s.T, C, (i0, p))
    T = lax.dynamic_update_slice(T, C.T, (p, i0))

    w, U, lo = _masked_eigh(T, s.valid[:M])
    theta, S = w[:k], U[:, :k]
    res = jnp.linalg.norm(B @ lax.dynamic_slice(S, (p, i0), (b, k)), axis=0)
    converged = jnp.all(res <= jnp.maximum(tol * jnp.abs(theta), atol))
    # the next block goes to rows p+b .. p+2b (< M + b), whatever happens next
    V = lax.dynamic_update_slice_in_dim(s.V, Q, p + b, axis=0)
    valid = lax.dynamic_update_slice_in_dim(s.valid, qvalid, p + b, axis=0)
    return s._replace(
        V=V, T=T, valid=valid, p=p + b, lstart=p, it=s.it + 1, theta=theta, S=S,
        res=res, converged=converged, B=B, U=U, w=w, lo=lo,
    )  # fmt: skip


def _thick_restart(s: _LanczosState, keep: int) -> _LanczosState:
    """Thick restart (the block just multiplied starts at row ``s.p - b``): keep the
    ``keep`` best Ritz vectors, then the pending block; T becomes arrow-shaped."""
    b = s.theta.shape[0]
    dtype = s.V.dtype
    i0 = jnp.zeros((), jnp.int32)
    p_last = s.p - b
    Sk = s.U[:, :keep]
    ok = s.w[:keep] > s.lo / 2
    Y = _combine_rows(Sk, s.V, s.p)
    Y = Y / jnp.maximum(jnp.linalg.norm(Y, axis=1, keepdims=True), jnp.finfo(dtype).tiny)
    Y = jnp.where(ok[:, None], Y, 0)
    Qrows = lax.dynamic_slice_in_dim(s.V, s.p, b, axis=0)
    V = s.V.at[:keep].set(Y)
    V = lax.dynamic_update_slice_in_dim(V, Qrows, keep, axis=0)
    coupling = s.B @ lax.dynamic_slice(Sk, (p_last, i0), (b, keep))  # (b, keep)
    T = jnp.zeros_like(s.T).at[:keep, :keep].set(jnp.diag(jnp.where(ok, s.w[:keep], 0)))
    T = T.at[keep : keep + b, :keep].set(coupling).at[:keep, keep : keep + b].set(coupling.T)
    qvalid = lax.dynamic_slice_in_dim(s.valid, s.p, b)
    valid = jnp.zeros_like(s.valid).at[:keep].set(ok).at[keep : keep + b].set(qvalid)
    return s._replace(
        V=V,
        T=T,
        valid=valid,
        p=jnp.asarray(keep, jnp.int32),
        lstart=i0,
        restarts=s.restarts + 1,
    )


def _dense_top(
    matvec_block: Callable[[Array], Array], U0: Array, tol: Array, atol: Array
) -> tuple[Array, Array, EigenInfo]:
    """Top-k eigenpairs when the basis would span the whole space (``d <= basis_size``).

    The Krylov space is then all of R^d and a Lanczos recurrence breaks down (its new blocks
    are round-off), so the operator is assembled from ``d`` products with the identity and
    solved by dense ``eigh``: exact, and cheaper than the recurrence at this size.
    """
    d, k = U0.shape
    dtype = U0.dtype
    H = matvec_block(jnp.eye(d, dtype=dtype))  # row i is H e_i
    H = 0.5 * (H + H.T)
    w, V = jnp.linalg.eigh(H)
    vals, vecs = w[::-1][:k], V[:, ::-1][:, :k]
    vecs = vecs * jnp.where(jnp.sum(vecs * U0, axis=0) < 0, -1, 1).astype(dtype)  # align with U0
    R = vecs.T @ H - vals[:, None] * vecs.T
    abs_res = jnp.linalg.norm(R, axis=1)
    scale = jnp.maximum(jnp.abs(vals), jnp.finfo(dtype).tiny)
    roundoff = 100 * jnp.finfo(dtype).eps * jnp.max(jnp.abs(w))
    converged = jnp.all(abs_res <= jnp.maximum(tol * jnp.abs(vals), atol) + roundoff)
    info = EigenInfo(
        iterations=jnp.asarray(-(-d // k), jnp.int32),
        matvecs=jnp.asarray(d, jnp.int32),
        converged=converged,
        residuals=abs_res / scale,
        restarts=jnp.zeros((), jnp.int32),
    )
    return vals, vecs, info


def block_lanczos(
    matvec_block: Callable[[Array], Array],
    U0: Array,
    tol: Array,
    atol: Array,
    max_iters: Array,
    *,
    basis_size: int,
    keep: int,
) -> tuple[Array, Array, EigenInfo]:
    """Top-k eigenpairs (descending) of the symmetric operator behind ``matvec_block``
    (``(b, d) -> (b, d)``, row by row), warm-started from the columns of ``U0`` (``(d, k)``).

    Unchecked (the checks are :func:`eos.curvature.eigenpairs`'s). One ``lax.while_loop``
    step is :func:`_step`; when the basis is full, :func:`_thick_restart` runs in a while
    loop of at most one trip (a ``cond`` returning the buffer would copy it), so the large
    ``(basis_size + k, d)`` buffer is never copied. Returns ``(theta (k,), Y (d, k), info)``
    with ``Y[:, i] . U0[:, i] >= 0``.
    """
    d, k = U0.shape
    dtype = U0.dtype
    tol = jnp.asarray(tol, dtype)
    atol = jnp.asarray(atol, dtype)
    if d <= basis_size:
        return _dense_top(matvec_block, U0, tol, atol)

    def cond(s: _LanczosState) -> Array:
        return (~s.converged) & (s.it < max_iters)

    def body(s: _LanczosState) -> _LanczosState:
        s = _step(s, matvec_block, tol, atol)
        full = s.p + k > basis_size  # no room for another block in the basis
        do = full & ~s.converged & (s.it < max_iters)
        # a while loop of at most one trip updates the buffer in place (a cond would copy it)
        s, _ = lax.while_loop(
            lambda c: c[1], lambda c: (_thick_restart(c[0], keep), jnp.zeros((), bool)), (s, do)
        )
        return s

    s = lax.while_loop(cond, body, _initial_state(U0, basis_size))
    Y = _combine_rows(s.S, s.V, s.p)  # Ritz vectors (k, d) from rows < p
    Y = Y / jnp.maximum(jnp.linalg.norm(Y, axis=1, keepdims=True), jnp.finfo(dtype).tiny)
    sign = jnp.where(jnp.sum(Y * U0.T, axis=1) < 0, -1, 1).astype(dtype)  # align with U0
    Y = Y * sign[:, None]
    info = EigenInfo(
        iterations=s.it,
        matvecs=s.it * k,
        converged=s.converged,
        residuals=s.res / jnp.abs(s.theta),
        restarts=s.restarts,
    )
    return s.theta, Y.T, info


# ----------------------------------------------------------------------------------------
# single-vector solver (k = 1, fused first product): the tracker's
# ----------------------------------------------------------------------------------------


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
    y = _accumulate_rows(s, Q, j)  # Ritz vector from the j rows built (the rest is never read)
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
    """Top eigenpair of the symmetric operator ``matvec`` by Lanczos from ``v0`` (the
    single-vector solver of the module docstring).

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
