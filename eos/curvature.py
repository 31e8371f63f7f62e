r"""Curvature engine: derivatives, Hessian eigenpairs, sharpness and tensor norms.

Everything here works from Hessian-vector products (HVPs) and higher directional
derivatives of a scalar function ``f`` of a flat parameter vector ``x``; the Hessian
(let alone a third- or fourth-derivative tensor) is never formed unless a caller asks
for free indices of :func:`D` on a tiny problem.

Mathematics (numbers refer to the paper, ``/work/shared/paper/self-stabilization.md``):

* :func:`D` is :math:`\nabla^m L(x)[v_1, \dots, v_j]`, forward-over-reverse
  (``jax.jvp`` nested over ``jax.grad``), :math:`1 \le m \le 4`.
* :func:`sharpness` is :math:`S(\theta) = \lambda_{\max}(\nabla^2 L(\theta))`
  with its unit eigenvector :math:`u(\theta)` (Definition 1).
* :func:`sharpness_gradient` is :math:`\nabla S = \nabla^3 L(u, u)` (Lemma 2; valid
  when the top eigenvalue is simple).
* :func:`rho3` / :func:`rho4` estimate :math:`\|\nabla^3 L\|_{op}` and
  :math:`\|\nabla^4 L\|_{op}` (Assumption 3, App. E) by a shifted symmetric
  higher-order power method.
* :func:`lambda_min` gives :math:`\lambda_{\min}(\nabla^2 L)` (Assumption 5) and
  :func:`lambda_2` the second eigenvalue (App. D.3 stops once :math:`\lambda_2 \ge 1.9/\eta`).

Eigen-solver (App. D.3 made concrete, see ``shared/design/algorithms.md``)
------------------------------------------------------------------------
:func:`top_eigenpairs` runs a *thick-restart block Lanczos* method with full
reorthogonalisation, written as one ``lax.while_loop`` over fixed-size buffers:

* the block size is ``k = U0.shape[1]`` and the first block is ``U0``
  orthonormalised, so a previous eigenvector is a warm start; the ``k`` HVPs of a
  block are ``jax.vmap``-ed; with ``f`` given, ``grad f`` is linearised once
  (``jax.linearize``) so each HVP only pays for the tangent pass;
* the basis ``V`` (``basis_size`` rows) and the projected matrix
  :math:`T = V^\top H V` are filled block by block; each new block is orthogonalised
  against the current and previous blocks (the Lanczos recurrence), then against the
  whole basis once more (modified Gram-Schmidt, row by row over the active rows only),
  then within itself; a Rayleigh-Ritz step
  (``eigh`` of the small masked ``T``) after every block gives the Ritz pairs
  :math:`(\theta_i, y_i = V^\top s_i)`;
* residuals come for free from the block Lanczos relation
  :math:`H V = V T + Q B E^\top`: :math:`\|H y_i - \theta_i y_i\| = \|B s_i^{\rm last}\|`
  (``s_i^{last}`` = the last block of ``s_i``);
* convergence: every one of the ``k`` pairs satisfies
  :math:`\|H y_i - \theta_i y_i\| \le \max(\mathrm{tol}\,|\theta_i|, \mathrm{atol})`.
  ``tol`` is therefore a *relative residual*, not lobpcg's size-scaled tolerance;
* when the basis is full it is restarted from the ``keep`` best Ritz vectors plus
  the next Lanczos block (arrow-shaped ``T``); breakdowns (an invariant subspace,
  rank-deficient ``U0``) are replaced by pseudo-random directions orthogonal to the
  basis; the basis buffer is only ever updated in place.

Costs per block step: ``k`` HVPs, about two reads of the active basis rows (plus the
two rows of the recurrence) and an ``eigh`` of a ``basis_size``-square matrix; per
solve, one write of the ``(basis_size + k) x d`` buffer and, with ``f``, one
gradient-like primal pass (the linearisation).

Calling conventions
-------------------
* Functions taking ``f`` are ``jax.jit``-compiled internally with ``f`` static, so
  pass a *stable* function (``objective.fn``), not a fresh lambda per call; they
  also work inside an outer ``jax.jit`` / ``lax.fori_loop`` / ``lax.scan``.
* ``*_matvec`` variants take ``matvec(v) -> H v`` (e.g. ``Objective.hvp`` with ghost
  batching). They are compiled internally when ``matvec`` is a
  ``jax.tree_util.Partial`` (e.g. ``Partial(objective.hvp, p)``); a plain closure
  is run as is, so call them inside your own ``jax.jit``.
* Input checks (shapes, dtypes, finiteness, ``k <= d``) run in Python before tracing
  and raise ``ValueError``; value checks are skipped for tracers.
* Everything computes in the dtype of ``x`` (float32 or float64).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array
Function = Callable[[Array], Array]
MatVec = Callable[[Array], Array]

__all__ = [
    "D",
    "EigenInfo",
    "TensorNormInfo",
    "bottom_eigenpairs",
    "bottom_eigenpairs_matvec",
    "hvp",
    "lambda_2",
    "lambda_min",
    "lambda_min_matvec",
    "rho3",
    "rho4",
    "sharpness",
    "sharpness_gradient",
    "sharpness_matvec",
    "tensor_norm",
    "top_eigenpairs",
    "top_eigenpairs_matvec",
]

DEFAULT_TOL = 1e-6
DEFAULT_MAX_ITERS = 100


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


class TensorNormInfo(NamedTuple):
    """Diagnostics of :func:`tensor_norm` (a pytree of arrays).

    Attributes:
        iterations: power steps of the longest-running start.
        evaluations: tensor contractions ``T(v, ..., v, .)`` over all starts.
        converged: the best start met ``||T(v,..,v,.) - lam v|| <= tol |lam|``.
        residual: that relative residual for the best start.
        values: ``(s,)`` final ``|T(v, ..., v)|`` of every start.
        shift: final shift of the best start (0 when no shift was needed).
    """

    iterations: Array
    evaluations: Array
    converged: Array
    residual: Array
    values: Array
    shift: Array


# ----------------------------------------------------------------------------------------
# validation helpers (Python, before tracing)
# ----------------------------------------------------------------------------------------


def _is_tracer(a: Any) -> bool:
    return isinstance(a, jax.core.Tracer)


def _check_point(x: Any, name: str = "x") -> Array:
    """A flat floating point array; finite when concrete."""
    if not hasattr(x, "dtype"):
        x = np.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(
            f"{name} must be a floating-point array (float32 or float64), got dtype {x.dtype}"
        )
    if x.ndim != 1:
        raise ValueError(
            f"{name} must be a flat (1-D) parameter vector, got shape {tuple(x.shape)}"
        )
    if x.shape[0] < 1:
        raise ValueError(f"{name} must have at least one entry")
    x = jnp.asarray(x)
    if not _is_tracer(x) and not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"{name} contains non-finite values (nan or inf)")
    return x


def _check_like(v: Any, d: int, dtype: Any, name: str, ndim: int = 1) -> Array:
    """An array of shape (d,) (ndim=1) or (d, k) (ndim=2) cast to ``dtype``; finite if concrete."""
    if not hasattr(v, "shape"):
        v = np.asarray(v)
    if v.ndim != ndim or v.shape[0] != d:
        want = f"({d},)" if ndim == 1 else f"({d}, k)"
        raise ValueError(f"{name} must have shape {want} to match x, got shape {tuple(v.shape)}")
    if not (jnp.issubdtype(v.dtype, jnp.floating) or jnp.issubdtype(v.dtype, jnp.integer)):
        raise ValueError(f"{name} must be a real floating-point array, got dtype {v.dtype}")
    v = jnp.asarray(v, dtype=dtype)
    if not _is_tracer(v) and not bool(jnp.all(jnp.isfinite(v))):
        raise ValueError(f"{name} contains non-finite values (nan or inf)")
    return v


def _check_tols(tol: Any, atol: Any) -> None:
    for name, t in (("tol", tol), ("atol", atol)):
        if not _is_tracer(t):
            t = float(t)
            if not np.isfinite(t) or t < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {t}")
    if not _is_tracer(tol) and not _is_tracer(atol) and float(tol) == 0 and float(atol) == 0:
        raise ValueError("tol and atol cannot both be 0 (the solver could never stop early)")


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a Python int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _hashable(f: Any) -> bool:
    try:
        hash(f)
    except TypeError:
        return False
    return True


def _maybe_jit(impl: Callable, f: Any, static: tuple[str, ...]) -> Callable:
    """``impl`` compiled with ``f`` static when ``f`` is hashable (cached per ``f``)."""
    if _hashable(f):
        return _jitted(impl, static)
    return impl


@functools.cache
def _jitted(impl: Callable, static: tuple[str, ...]) -> Callable:
    return jax.jit(impl, static_argnames=static)


# ----------------------------------------------------------------------------------------
# derivatives
# ----------------------------------------------------------------------------------------


def _directional(g: Function, v: Array) -> Function:
    """y -> d/dt g(y + t v) at t = 0 (one forward-mode layer)."""
    return lambda y: jax.jvp(g, (y,), (v,))[1]


def _D_impl(f: Function, x: Array, order: int, vs: tuple[Array, ...]) -> Array:
    g: Function = jax.grad(f)  # reverse mode: first derivative, one free index
    used = vs[: order - 1]
    for v in used:  # forward mode over it, one direction per layer
        g = _directional(g, v)
    for _ in range(order - 1 - len(used)):  # remaining free indices (tiny problems only)
        g = jax.jacfwd(g)
    out = g(x)
    if len(vs) == order:  # the last direction contracts the gradient's own index
        out = jnp.dot(out, vs[-1])
    return out


def D(f: Function, x: Array, order: int, *vs: Array) -> Array:
    r"""The ``order``-th derivative of scalar ``f`` at flat ``x``, contracted with ``vs``.

    ``D(f, x, m, v1, ..., vj) = \nabla^m f(x)[v1, ..., vj, ., ..., .]``: a scalar when
    ``j = m``, otherwise an array with ``m - j`` free indices of size ``d`` (free
    indices materialise ``d**(m-j)`` numbers: tiny problems only). Computed
    forward-over-reverse: ``jax.grad`` once, then one ``jax.jvp`` per direction
    (``jax.jacfwd`` for free indices). The tensor is symmetric, so the order of
    ``vs`` does not matter. Orders 1 to 4; ``D(f, x, 2, v)`` is an HVP and
    ``D(f, x, 3, u, u)`` is :math:`\nabla S` (Lemma 2).
    """
    x = _check_point(x)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= 4:
        raise ValueError(f"order must be an int in 1..4, got {order!r}")
    if len(vs) > order:
        raise ValueError(f"at most order={order} directions may be given, got {len(vs)}")
    vs = tuple(_check_like(v, x.shape[0], x.dtype, f"vs[{i}]") for i, v in enumerate(vs))
    return _maybe_jit(_D_impl, f, ("f", "order"))(f, x, order=int(order), vs=vs)


def hvp(f: Function, x: Array, v: Array) -> Array:
    r"""Hessian-vector product :math:`\nabla^2 f(x) v` (forward-over-reverse)."""
    return D(f, x, 2, v)


def sharpness_gradient(f: Function, x: Array, u: Array) -> Array:
    r""":math:`\nabla^3 L(x)(u, u)`, which is :math:`\nabla S(x)` when the top eigenvalue is
    simple and ``u`` is its eigenvector (Lemma 2). ``u`` is normalised first."""
    x = _check_point(x)
    u = _check_like(u, x.shape[0], x.dtype, "u")
    return _maybe_jit(_sharpness_gradient_impl, f, ("f",))(f, x, u)


def _sharpness_gradient_impl(f: Function, x: Array, u: Array) -> Array:
    u = u / jnp.linalg.norm(u)
    return _D_impl(f, x, 3, (u, u))


# ----------------------------------------------------------------------------------------
# block Lanczos
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

    def body(j, Y):  # one row at a time: reads only the active rows
        return Y + S[j][:, None] * lax.dynamic_slice_in_dim(V, j, 1, axis=0)

    return lax.fori_loop(0, n_rows, body, jnp.zeros((k, V.shape[1]), V.dtype))


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


def _block_lanczos(
    matvec_block: Callable[[Array], Array],
    U0: Array,
    tol: Array,
    atol: Array,
    max_iters: Array,
    *,
    basis_size: int,
    keep: int,
) -> tuple[Array, Array, EigenInfo]:
    """Top-k eigenpairs (descending) of the symmetric operator behind ``matvec_block``.

    One ``lax.while_loop`` step multiplies the block at rows ``p .. p+b``, orthogonalises
    the product against rows ``< p + b``, writes the new block at rows ``p+b ..`` and does
    the Rayleigh-Ritz step. The basis buffer is only updated in place (dynamic slices;
    the rare thick restart runs in a while loop of at most one trip, since a ``cond``
    returning the buffer would copy it), so the large ``(M + b, d)`` buffer is never copied.
    """
    d, k = U0.shape
    b, M = k, basis_size
    M_buf = M + b  # room for the pending block
    dtype = U0.dtype
    tol = jnp.asarray(tol, dtype)
    atol = jnp.asarray(atol, dtype)
    i0 = jnp.zeros((), jnp.int32)
    if d <= M:
        return _dense_top(matvec_block, U0, tol, atol)

    X0 = U0.T
    # Householder QR: orthonormal columns even when U0 is rank deficient (then the
    # missing directions are arbitrary, which is all a start block needs)
    Q0 = jnp.linalg.qr(U0)[0].T
    state = _LanczosState(
        V=jnp.zeros((M_buf, d), dtype).at[:b].set(Q0),
        T=jnp.zeros((M, M), dtype),
        valid=jnp.zeros((M_buf,), bool).at[:b].set(True),
        p=i0,
        lstart=i0,
        it=i0,
        restarts=i0,
        theta=jnp.zeros((k,), dtype),
        S=jnp.zeros((M, k), dtype),
        res=jnp.full((k,), jnp.inf, dtype),
        converged=jnp.zeros((), bool),
        B=jnp.zeros((b, b), dtype),
        U=jnp.zeros((M, M), dtype),
        w=jnp.zeros((M,), dtype),
        lo=jnp.zeros((), dtype),
    )

    def cond(s: _LanczosState) -> Array:
        return (~s.converged) & (s.it < max_iters)

    def step(s: _LanczosState) -> _LanczosState:
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
        # the next block goes to rows p+b .. p+2b (< M_buf), whatever happens next
        V = lax.dynamic_update_slice_in_dim(s.V, Q, p + b, axis=0)
        valid = lax.dynamic_update_slice_in_dim(s.valid, qvalid, p + b, axis=0)
        return s._replace(
            V=V, T=T, valid=valid, p=p + b, lstart=p, it=s.it + 1, theta=theta, S=S,
            res=res, converged=converged, B=B, U=U, w=w, lo=lo,
        )  # fmt: skip

    def restart(s: _LanczosState) -> _LanczosState:
        """Thick restart (the block just multiplied starts at row ``s.p - b``): keep the
        ``keep`` best Ritz vectors, then the pending block; T becomes arrow-shaped."""
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

    def body(s: _LanczosState) -> _LanczosState:
        s = step(s)
        full = s.p + b > M  # no room for another block in the basis
        do = full & ~s.converged & (s.it < max_iters)
        # a while loop of at most one trip updates the buffer in place (a cond would copy it)
        s, _ = lax.while_loop(
            lambda c: c[1], lambda c: (restart(c[0]), jnp.zeros((), bool)), (s, do)
        )
        return s

    s = lax.while_loop(cond, body, state)
    Y = _combine_rows(s.S, s.V, s.p)  # Ritz vectors (k, d) from rows < p
    Y = Y / jnp.maximum(jnp.linalg.norm(Y, axis=1, keepdims=True), jnp.finfo(dtype).tiny)
    sign = jnp.where(jnp.sum(Y * X0, axis=1) < 0, -1, 1).astype(dtype)  # align with U0
    Y = Y * sign[:, None]
    info = EigenInfo(
        iterations=s.it,
        matvecs=s.it * b,
        converged=s.converged,
        residuals=s.res / jnp.abs(s.theta),
        restarts=s.restarts,
    )
    return s.theta, Y.T, info


def _block_matvec(matvec: MatVec, vectorize: bool) -> Callable[[Array], Array]:
    if vectorize:
        return jax.vmap(matvec)
    return lambda X: lax.map(matvec, X)


def _solver_sizes(d: int, k: int, basis_size: int | None, keep: int | None) -> tuple[int, int]:
    M = max(20, 4 * k + 2) if basis_size is None else _check_int(basis_size, "basis_size", 1)
    if keep is None:
        keep = max(k, min(M - 2 * k, (M - k) // 2))
    keep = _check_int(keep, "keep", 1)
    if keep < k:
        raise ValueError(f"keep={keep} must be >= k={k} (the number of wanted eigenpairs)")
    if keep + 2 * k > M:
        raise ValueError(
            f"basis_size={M} is too small for k={k} and keep={keep}: need basis_size >= keep + 2k = {keep + 2 * k}"
        )
    return M, keep


def _validate_block(U0: Any, d: int, dtype: Any, name: str = "U0") -> Array:
    U0 = _check_like(U0, d, dtype, name, ndim=2)
    k = U0.shape[1]
    if k < 1:
        raise ValueError(f"{name} must have at least one column (k >= 1)")
    if k > d:
        raise ValueError(f"{name} asks for k={k} eigenpairs but the dimension is only d={d}")
    return U0


def _default_key(key: Array | None) -> Array:
    return jax.random.PRNGKey(0) if key is None else key


def _top_f_impl(
    f: Function,
    x: Array,
    U0: Array,
    tol: Array,
    atol: Array,
    max_iters: Array,
    sign: Array,
    *,
    basis_size: int,
    keep: int,
    vectorize: bool,
) -> tuple[Array, Array, EigenInfo]:
    _, lin = jax.linearize(jax.grad(f), x)  # primal pass once; each HVP is a tangent pass
    sign = jnp.asarray(sign, x.dtype)
    mv = _block_matvec(lambda v: sign * lin(v), vectorize)
    vals, vecs, info = _block_lanczos(
        mv, U0, tol, atol, max_iters, basis_size=basis_size, keep=keep
    )
    return sign * vals, vecs, info


def _top_mv_impl(
    matvec: MatVec,
    U0: Array,
    tol: Array,
    atol: Array,
    max_iters: Array,
    sign: Array,
    *,
    basis_size: int,
    keep: int,
    vectorize: bool,
) -> tuple[Array, Array, EigenInfo]:
    sign = jnp.asarray(sign, U0.dtype)
    mv = _block_matvec(lambda v: (sign * matvec(v)).astype(U0.dtype), vectorize)
    vals, vecs, info = _block_lanczos(
        mv, U0, tol, atol, max_iters, basis_size=basis_size, keep=keep
    )
    return sign * vals, vecs, info


_SOLVER_STATIC = ("basis_size", "keep", "vectorize")


def _check_max_iters(max_iters: Any) -> Any:
    """A Python int >= 1 (a tracer passes unchecked: the loop bound may be dynamic)."""
    if _is_tracer(max_iters):
        return max_iters
    return _check_int(max_iters, "max_iters", 1)


def _eigenpairs_f(f, x, U0, tol, atol, max_iters, basis_size, keep, vectorize, sign):
    x = _check_point(x)
    U0 = _validate_block(U0, x.shape[0], x.dtype)
    _check_tols(tol, atol)
    max_iters = _check_max_iters(max_iters)
    M, keep = _solver_sizes(x.shape[0], U0.shape[1], basis_size, keep)
    fn = _maybe_jit(_top_f_impl, f, ("f", *_SOLVER_STATIC))
    return fn(
        f, x, U0, tol, atol, max_iters, sign, basis_size=M, keep=keep, vectorize=bool(vectorize)
    )


def _eigenpairs_mv(matvec, U0, tol, atol, max_iters, basis_size, keep, vectorize, sign):
    if not callable(matvec):
        raise ValueError(f"matvec must be a callable v -> H v, got {type(matvec).__name__}")
    if not hasattr(U0, "shape") or U0.ndim != 2:
        raise ValueError(f"U0 must be a (d, k) array, got {getattr(U0, 'shape', type(U0))}")
    dtype = U0.dtype if jnp.issubdtype(U0.dtype, jnp.floating) else jnp.float32
    U0 = _validate_block(U0, U0.shape[0], dtype)
    _check_tols(tol, atol)
    max_iters = _check_max_iters(max_iters)
    M, keep = _solver_sizes(U0.shape[0], U0.shape[1], basis_size, keep)
    kw = dict(basis_size=M, keep=keep, vectorize=bool(vectorize))
    if isinstance(matvec, jax.tree_util.Partial):
        return _jitted(_top_mv_impl, _SOLVER_STATIC)(matvec, U0, tol, atol, max_iters, sign, **kw)
    return _top_mv_impl(matvec, U0, tol, atol, max_iters, sign, **kw)


def top_eigenpairs(
    f: Function,
    x: Array,
    U0: Array,
    *,
    tol: float = DEFAULT_TOL,
    atol: float = 0.0,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    keep: int | None = None,
    vectorize: bool = True,
) -> tuple[Array, Array, EigenInfo]:
    r"""Top ``k = U0.shape[1]`` (algebraically largest) eigenpairs of :math:`\nabla^2 f(x)`.

    Thick-restart block Lanczos from HVPs only (module docstring), warm-started from
    the columns of ``U0`` (e.g. the previous step's eigenvectors).

    Args:
        f: scalar function of the flat vector ``x`` (hashable: compiled with ``f`` static).
        x: flat point, float32 or float64; all work is done in its dtype.
        U0: ``(d, k)`` start block (orthonormalised; missing rank is filled arbitrarily).
        tol: relative residual: stop when every pair has
            ``||H u - lam u|| <= max(tol * |lam|, atol)``. The residual is that of the
            computed HVP, whose own rounding error sets a floor of a few ``eps`` of the
            dtype: in float32 a ``tol`` below about ``1e-6`` is reported as met while the
            residual with respect to the exact Hessian stalls near that floor.
        atol: absolute residual floor (useful when an eigenvalue may be ~0).
        max_iters: maximum block steps (may be traced); at most ``max_iters * k`` HVPs.
        basis_size: rows of the Lanczos basis buffer (static; default ``max(20, 4k + 2)``).
        keep: Ritz vectors kept at a restart (static; ``k <= keep <= basis_size - 2k``).
        vectorize: ``jax.vmap`` the ``k`` HVPs of a block (else ``lax.map``).

    Returns:
        ``(eigvals (k,), eigvecs (d, k), info)``: eigenvalues in descending order,
        orthonormal eigenvectors with sign chosen so ``eigvecs[:, i] . U0[:, i] >= 0``,
        and :class:`EigenInfo` (check ``info.converged``).
    """
    return _eigenpairs_f(f, x, U0, tol, atol, max_iters, basis_size, keep, vectorize, 1.0)


def top_eigenpairs_matvec(
    matvec: MatVec,
    U0: Array,
    *,
    tol: float = DEFAULT_TOL,
    atol: float = 0.0,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    keep: int | None = None,
    vectorize: bool = True,
) -> tuple[Array, Array, EigenInfo]:
    """:func:`top_eigenpairs` for a symmetric operator given as ``matvec(v) -> H v``.

    ``U0`` fixes ``d``, ``k`` and the dtype. For ghost batching use e.g.
    ``matvec = jax.tree_util.Partial(objective.hvp, p)`` (then this call is
    compiled and cached here); a plain closure runs uncompiled, so call it inside
    your own ``jax.jit``. ``matvec`` must be ``vmap``-able when ``vectorize``.
    """
    return _eigenpairs_mv(matvec, U0, tol, atol, max_iters, basis_size, keep, vectorize, 1.0)


def bottom_eigenpairs(
    f: Function,
    x: Array,
    U0: Array,
    *,
    tol: float = DEFAULT_TOL,
    atol: float = 0.0,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    keep: int | None = None,
    vectorize: bool = True,
) -> tuple[Array, Array, EigenInfo]:
    r"""The ``k`` algebraically smallest eigenpairs (ascending), as :func:`top_eigenpairs` of
    :math:`-\nabla^2 f(x)`. ``tol`` is relative to :math:`|\lambda|`; since
    :math:`\lambda_{\min}` may be close to 0, consider ``atol`` (e.g. ``1e-6 * S``)."""
    return _eigenpairs_f(f, x, U0, tol, atol, max_iters, basis_size, keep, vectorize, -1.0)


def bottom_eigenpairs_matvec(
    matvec: MatVec,
    U0: Array,
    *,
    tol: float = DEFAULT_TOL,
    atol: float = 0.0,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    keep: int | None = None,
    vectorize: bool = True,
) -> tuple[Array, Array, EigenInfo]:
    """:func:`bottom_eigenpairs` for ``matvec(v) -> H v`` (see :func:`top_eigenpairs_matvec`)."""
    return _eigenpairs_mv(matvec, U0, tol, atol, max_iters, basis_size, keep, vectorize, -1.0)


def _start_vector(u0: Array | None, x: Array, key: Array | None, name: str = "u0") -> Array:
    d = x.shape[0]
    if u0 is None:
        return jax.random.normal(_default_key(key), (d, 1), x.dtype)
    return _check_like(u0, d, x.dtype, name)[:, None]


def sharpness(
    f: Function,
    x: Array,
    u0: Array | None = None,
    *,
    tol: float = DEFAULT_TOL,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    key: Array | None = None,
    return_info: bool = False,
) -> tuple[Array, Array] | tuple[Array, Array, EigenInfo]:
    r"""Sharpness :math:`S(x) = \lambda_{\max}(\nabla^2 f(x))` and its unit eigenvector
    ``u`` (Definition 1), to relative residual ``||H u - S u|| <= tol |S|``.

    Warm-start with ``u0`` (the previous eigenvector; ``u`` is returned with
    ``u . u0 >= 0``); cold start from a random vector (``key``) when ``u0`` is None.
    Returns ``(S, u)``, or ``(S, u, info)`` with ``return_info=True``.
    """
    x = _check_point(x)
    U0 = _start_vector(u0, x, key)
    vals, vecs, info = top_eigenpairs(f, x, U0, tol=tol, max_iters=max_iters, basis_size=basis_size)
    out = (vals[0], vecs[:, 0])
    return (*out, info) if return_info else out


def sharpness_matvec(
    matvec: MatVec,
    u0: Array,
    *,
    tol: float = DEFAULT_TOL,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    key: Array | None = None,
    return_info: bool = False,
) -> tuple[Array, Array] | tuple[Array, Array, EigenInfo]:
    """:func:`sharpness` from ``matvec(v) -> H v``; ``u0`` (d,) is required (it fixes d and dtype)."""
    if not hasattr(u0, "shape") or u0.ndim != 1:
        raise ValueError(f"u0 must be a (d,) array, got {getattr(u0, 'shape', type(u0))}")
    vals, vecs, info = top_eigenpairs_matvec(
        matvec, u0[:, None], tol=tol, max_iters=max_iters, basis_size=basis_size
    )
    out = (vals[0], vecs[:, 0])
    return (*out, info) if return_info else out


def lambda_min(
    f: Function,
    x: Array,
    u0: Array | None = None,
    *,
    tol: float = DEFAULT_TOL,
    atol: float = 0.0,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    key: Array | None = None,
    return_info: bool = False,
) -> tuple[Array, Array] | tuple[Array, Array, EigenInfo]:
    r""":math:`\lambda_{\min}(\nabla^2 f(x))` and its eigenvector (Assumption 5's
    :math:`|\lambda_{\min}| / \|\nabla^2 L\|`), via the top eigenpair of :math:`-\nabla^2 f`.
    The smallest eigenvalue sits at the edge of a dense bulk near 0 and converges slowly;
    ``atol`` (absolute residual) is usually the meaningful stopping rule."""
    x = _check_point(x)
    U0 = _start_vector(u0, x, key)
    vals, vecs, info = bottom_eigenpairs(
        f, x, U0, tol=tol, atol=atol, max_iters=max_iters, basis_size=basis_size
    )
    out = (vals[0], vecs[:, 0])
    return (*out, info) if return_info else out


def lambda_min_matvec(
    matvec: MatVec,
    u0: Array,
    *,
    tol: float = DEFAULT_TOL,
    atol: float = 0.0,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    key: Array | None = None,
    return_info: bool = False,
) -> tuple[Array, Array] | tuple[Array, Array, EigenInfo]:
    """:func:`lambda_min` from ``matvec(v) -> H v``; ``u0`` (d,) is required."""
    if not hasattr(u0, "shape") or u0.ndim != 1:
        raise ValueError(f"u0 must be a (d,) array, got {getattr(u0, 'shape', type(u0))}")
    vals, vecs, info = bottom_eigenpairs_matvec(
        matvec, u0[:, None], tol=tol, atol=atol, max_iters=max_iters, basis_size=basis_size
    )
    out = (vals[0], vecs[:, 0])
    return (*out, info) if return_info else out


def lambda_2(
    f: Function,
    x: Array,
    U0: Array | None = None,
    *,
    tol: float = DEFAULT_TOL,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    key: Array | None = None,
    return_info: bool = False,
) -> tuple[Array, Array] | tuple[Array, Array, EigenInfo]:
    r"""Second eigenvalue :math:`\lambda_2(\nabla^2 f(x))` (App. D.3 stops training once
    it reaches :math:`1.9/\eta`): :func:`top_eigenpairs` with ``k = 2``.

    Returns ``(lambda_2, U)`` with ``U`` the ``(d, 2)`` top-two eigenvectors (pass it
    back as ``U0`` to warm-start), plus ``info`` with ``return_info=True``.
    """
    x = _check_point(x)
    if U0 is None:
        U0 = jax.random.normal(_default_key(key), (x.shape[0], 2), x.dtype)
    elif not hasattr(U0, "shape") or U0.ndim != 2 or U0.shape[1] != 2:
        raise ValueError(f"U0 must have shape (d, 2), got {getattr(U0, 'shape', type(U0))}")
    vals, vecs, info = top_eigenpairs(f, x, U0, tol=tol, max_iters=max_iters, basis_size=basis_size)
    out = (vals[1], vecs)
    return (*out, info) if return_info else out


# ----------------------------------------------------------------------------------------
# operator norms of symmetric derivative tensors (Assumption 3, App. E)
# ----------------------------------------------------------------------------------------


def _power_single(
    contract: Callable[[Array], Array], v0: Array, order: int, tol: Array, max_iters: int
) -> tuple[Array, Array, Array, Array, Array, Array, Array]:
    """Shifted symmetric higher-order power method (SS-HOPM) for one start.

    Maximises ``|T(v, ..., v)|`` over unit ``v``, ``T`` symmetric of order ``order``,
    with ``g(v) = T(v, ..., v, .)`` given by ``contract``. Odd order: ``v`` is flipped so
    ``lam = v.g >= 0``. Step ``v <- normalize(sign(lam) g + alpha v)``; a step that
    decreases ``|lam|`` is rejected and the shift ``alpha`` raised (to ``max(2 alpha,
    |lam|)``), which makes the iteration monotone (Kolda & Mayo, 2011).
    """
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    odd = order % 2 == 1

    def evaluate(v):
        g = contract(v)
        lam = jnp.vdot(v, g)
        if odd:
            flip = jnp.where(lam < 0, -1, 1).astype(dtype)
            v, lam = v * flip, lam * flip
        res = jnp.linalg.norm(g - lam * v) / jnp.maximum(jnp.abs(lam), jnp.finfo(dtype).tiny)
        return v, g, lam, res

    v, g, lam, res = evaluate(v0 / jnp.linalg.norm(v0))
    zero = jnp.zeros((), jnp.int32)
    state = (v, g, lam, res, jnp.zeros((), dtype), zero, jnp.ones((), jnp.int32))

    def cond(s):
        return (s[3] > tol) & (s[5] < max_iters)

    def body(s):
        v, g, lam, res, alpha, it, nev = s
        sigma = jnp.where(lam < 0, -1, 1).astype(dtype)
        w = sigma * g + alpha * v
        nw = jnp.linalg.norm(w)
        vn, gn, lamn, resn = evaluate(jnp.where(nw > 0, w / jnp.where(nw > 0, nw, 1), v))
        accept = jnp.abs(lamn) >= jnp.abs(lam) * (1 - 4 * eps)
        pick = lambda a, b_: jnp.where(accept, a, b_)  # noqa: E731
        alpha = jnp.where(accept, alpha, jnp.maximum(2 * alpha, jnp.abs(lam)))
        return (pick(vn, v), pick(gn, g), pick(lamn, lam), pick(resn, res), alpha, it + 1, nev + 1)

    v, g, lam, res, alpha, it, nev = lax.while_loop(cond, body, state)
    return v, jnp.abs(lam), res, alpha, it, nev, res <= tol


def _tensor_norm_impl(contract, V0, order, tol, max_iters):
    tol = jnp.asarray(tol, V0.dtype)
    run = jax.vmap(lambda v0: _power_single(contract, v0, order, tol, max_iters), in_axes=1)
    v, val, res, alpha, it, nev, conv = run(V0)
    best = jnp.argmax(val)
    info = TensorNormInfo(
        iterations=jnp.max(it),
        evaluations=jnp.sum(nev).astype(jnp.int32),
        converged=conv[best],
        residual=res[best],
        values=val,
        shift=alpha[best],
    )
    return val[best], v[best], info


def _check_power_args(v0, d, dtype, tol, max_iters, name="v0"):
    if not hasattr(v0, "shape"):
        v0 = np.asarray(v0)
    if v0.ndim == 1:
        v0 = v0[:, None]
    V0 = _check_like(v0, d, dtype, name, ndim=2)
    if V0.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one start vector")
    if not _is_tracer(V0) and bool(jnp.any(jnp.linalg.norm(V0, axis=0) == 0)):
        raise ValueError(f"{name} has a zero start vector")
    if not _is_tracer(tol) and not (np.isfinite(float(tol)) and float(tol) > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol}")
    return V0, _check_max_iters(max_iters)


def tensor_norm(
    contract: Callable[[Array], Array],
    v0: Array,
    order: int,
    *,
    tol: float = 1e-4,
    max_iters: int = 100,
) -> tuple[Array, Array, TensorNormInfo]:
    r"""Operator norm of a symmetric tensor :math:`T` of order ``order`` (>= 2) from
    ``contract(v) = T(v, ..., v, .)`` (``order - 1`` copies of ``v``).

    For symmetric tensors :math:`\|T\|_{op} = \max_{\|v\|=1} |T(v, \dots, v)|` (Banach),
    maximised by a shifted symmetric power method from each column of ``v0``
    (``(d,)`` or ``(d, s)``: ``s`` starts run ``vmap``-ed, ``contract`` must be
    vmappable) until ``||T(v,..,v,.) - lam v|| <= tol |lam|``. The value is a lower bound
    on the norm, exact when the global maximiser is found (use a few starts, and warm
    starts along a trajectory). Returns ``(rho, v, info)`` for the best start.
    Uncompiled here: call inside ``jax.jit``. E.g. with an ``Objective``:
    ``tensor_norm(lambda v: objective.D(p, 3, v, v), v0, 3)``.
    """
    if not callable(contract):
        raise ValueError("contract must be a callable v -> T(v, ..., v, .)")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2:
        raise ValueError(f"order must be an int >= 2, got {order!r}")
    if not hasattr(v0, "shape") or v0.ndim not in (1, 2):
        raise ValueError(f"v0 must be a (d,) or (d, s) array, got {getattr(v0, 'shape', type(v0))}")
    dtype = v0.dtype if jnp.issubdtype(v0.dtype, jnp.floating) else jnp.float32
    V0, max_iters = _check_power_args(v0, v0.shape[0], dtype, tol, max_iters)
    return _tensor_norm_impl(contract, V0, int(order), tol, max_iters)


def _rho_impl(f, x, V0, tol, max_iters, *, order):
    contract = lambda v: _D_impl(f, x, order, (v,) * (order - 1))  # noqa: E731
    return _tensor_norm_impl(contract, V0, order, tol, max_iters)


def _rho(f, x, v0, order, tol, max_iters, num_starts, key):
    x = _check_point(x)
    if v0 is None:
        n = _check_int(num_starts, "num_starts", 1)
        v0 = jax.random.normal(_default_key(key), (x.shape[0], n), x.dtype)
    V0, max_iters = _check_power_args(v0, x.shape[0], x.dtype, tol, max_iters)
    fn = _maybe_jit(_rho_impl, f, ("f", "order"))
    return fn(f, x, V0, tol, max_iters, order=order)


def rho3(
    f: Function,
    x: Array,
    v0: Array | None = None,
    *,
    tol: float = 1e-4,
    max_iters: int = 100,
    num_starts: int = 4,
    key: Array | None = None,
) -> tuple[Array, Array, TensorNormInfo]:
    r"""Estimate of :math:`\rho_3 = \|\nabla^3 f(x)\|_{op}` (Assumption 3) by power
    iteration on :math:`v \mapsto \nabla^3 f(x)(v, v)` (see :func:`tensor_norm`).

    Warm-start with ``v0`` (``(d,)`` or ``(d, s)``, e.g. the previous maximiser);
    otherwise ``num_starts`` random starts. Returns ``(rho3, v, info)``.
    """
    return _rho(f, x, v0, 3, tol, max_iters, num_starts, key)


def rho4(
    f: Function,
    x: Array,
    v0: Array | None = None,
    *,
    tol: float = 1e-4,
    max_iters: int = 100,
    num_starts: int = 4,
    key: Array | None = None,
) -> tuple[Array, Array, TensorNormInfo]:
    r"""Estimate of :math:`\rho_4 = \|\nabla^4 f(x)\|_{op}` (Assumption 3: the Lipschitz
    constant of :math:`\nabla^3 L`) by power iteration on
    :math:`v \mapsto \nabla^4 f(x)(v, v, v)`. Returns ``(rho4, v, info)``."""
    return _rho(f, x, v0, 4, tol, max_iters, num_starts, key)
