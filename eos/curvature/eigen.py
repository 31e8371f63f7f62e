r"""Extreme eigenpairs of a Hessian: one entry point, :func:`eigenpairs`, and three conveniences.

* :func:`eigenpairs` gives the ``k`` algebraically largest (``which="top"``) or smallest
  (``which="bottom"``, as the top pairs of :math:`-H`) eigenpairs of a symmetric operator
  :math:`H`, by the thick-restart block Lanczos solver of :mod:`eos.curvature.lanczos`,
  warm-started from the ``k`` columns of ``U0``;
* :func:`sharpness` is :math:`S(\theta) = \lambda_{\max}(\nabla^2 L(\theta))` with its unit
  eigenvector :math:`u(\theta)` (Definition 1);
* :func:`lambda_min` is :math:`\lambda_{\min}(\nabla^2 L)` (Assumption 5's
  :math:`|\lambda_{\min}| / \|\nabla^2 L\|`);
* :func:`lambda_2` is the second eigenvalue (App. D.3 stops once :math:`\lambda_2 \ge 1.9/\eta`).

The operator ``op`` is either

* ``hessian(f, x)``: the Hessian of a scalar function ``f`` at the flat point ``x``. ``grad f``
  is linearised once (``jax.linearize``: one gradient-like primal pass), so each product only
  pays for the tangent pass; the solve is compiled with ``f`` static, so pass a *stable*
  function (``objective.fn``), not a fresh lambda per call. Works inside an outer
  ``jax.jit`` / ``lax.fori_loop`` / ``lax.scan``; or
* a matvec ``v -> H v`` (e.g. ``Objective.hvp`` with ghost batching): compiled and cached here
  when it is a ``jax.tree_util.Partial`` (e.g. ``Partial(objective.hvp, p)``); a plain closure
  runs as is, so call it inside your own ``jax.jit``. It must be ``vmap``-able when
  ``vectorize``.

Input checks (shapes, dtypes, finiteness, ``k <= d``) run in Python before tracing and raise
``ValueError``; value checks are skipped for tracers. Everything computes in the dtype of ``x``
(Hessian operator) or of the start vectors (matvec).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax import lax

from eos import validate
from eos.curvature._calling import (
    check_block,
    check_like,
    check_max_iters,
    check_point,
    check_tols,
    jitted,
    maybe_jit,
)
from eos.curvature.derivatives import hvp
from eos.curvature.lanczos import EigenInfo, block_lanczos

__all__ = [
    "DEFAULT_MAX_ITERS",
    "DEFAULT_TOL",
    "Hessian",
    "eigenpairs",
    "hessian",
    "lambda_2",
    "lambda_min",
    "sharpness",
]

Array = jax.Array
Function = Callable[[Array], Array]
MatVec = Callable[[Array], Array]

DEFAULT_TOL = 1e-6
DEFAULT_MAX_ITERS = 100


@jax.tree_util.register_pytree_node_class
class Hessian:
    r"""The operator :math:`\nabla^2 f(x)` (build it with :func:`hessian`).

    Calling it is a Hessian-vector product (:func:`eos.curvature.hvp`); the eigen-solvers
    linearise ``grad f`` at ``x`` once instead. A pytree with ``x`` as its leaf and ``f``
    static, so it can cross a ``jax.jit`` boundary.
    """

    def __init__(self, f: Function, x: Array) -> None:
        self.f = f
        self.x = x

    def __call__(self, v: Array) -> Array:
        return hvp(self.f, self.x, v)

    def __repr__(self) -> str:
        return f"Hessian({getattr(self.f, '__name__', self.f)!r}, x: {self.x.shape} {self.x.dtype})"

    def tree_flatten(self) -> tuple[tuple[Array], Function]:
        return (self.x,), self.f

    @classmethod
    def tree_unflatten(cls, f: Function, children: tuple[Array]) -> Hessian:
        return cls(f, *children)


def hessian(f: Function, x: Array) -> Hessian:
    r"""The Hessian :math:`\nabla^2 f(x)` of scalar ``f`` at flat ``x`` as an operator for
    :func:`eigenpairs`, :func:`sharpness`, :func:`lambda_min` and :func:`lambda_2` (``x``
    float32 or float64: all work is done in its dtype; checked here)."""
    return Hessian(f, check_point(x))


Operator = Hessian | MatVec


def _block_matvec(matvec: MatVec, vectorize: bool) -> Callable[[Array], Array]:
    if vectorize:
        return jax.vmap(matvec)
    return lambda X: lax.map(matvec, X)


def _solver_sizes(d: int, k: int, basis_size: int | None, keep: int | None) -> tuple[int, int]:
    M = (
        max(20, 4 * k + 2)
        if basis_size is None
        else validate.positive_int(basis_size, "basis_size")
    )
    if keep is None:
        keep = max(k, min(M - 2 * k, (M - k) // 2))
    keep = validate.positive_int(keep, "keep")
    if keep < k:
        raise ValueError(f"keep={keep} must be >= k={k} (the number of wanted eigenpairs)")
    if keep + 2 * k > M:
        raise ValueError(
            f"basis_size={M} is too small for k={k} and keep={keep}: need basis_size >= keep + 2k = {keep + 2 * k}"
        )
    return M, keep


def _hessian_impl(
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
    vals, vecs, info = block_lanczos(mv, U0, tol, atol, max_iters, basis_size=basis_size, keep=keep)
    return sign * vals, vecs, info


def _matvec_impl(
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
    vals, vecs, info = block_lanczos(mv, U0, tol, atol, max_iters, basis_size=basis_size, keep=keep)
    return sign * vals, vecs, info


_SOLVER_STATIC = ("basis_size", "keep", "vectorize")


def _check_matvec_block(matvec: Any, U0: Any) -> Array:
    if not callable(matvec):
        raise ValueError(f"matvec must be a callable v -> H v, got {type(matvec).__name__}")
    if not hasattr(U0, "shape") or U0.ndim != 2:
        raise ValueError(f"U0 must be a (d, k) array, got {getattr(U0, 'shape', type(U0))}")
    dtype = U0.dtype if jnp.issubdtype(U0.dtype, jnp.floating) else jnp.float32
    return check_block(U0, U0.shape[0], dtype)


def eigenpairs(
    op: Operator,
    U0: Array,
    *,
    which: Literal["top", "bottom"] = "top",
    tol: float = DEFAULT_TOL,
    atol: float = 0.0,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    keep: int | None = None,
    vectorize: bool = True,
) -> tuple[Array, Array, EigenInfo]:
    r"""The ``k = U0.shape[1]`` extreme eigenpairs of the symmetric operator ``op``.

    Thick-restart block Lanczos from products only (:mod:`eos.curvature.lanczos`),
    warm-started from the columns of ``U0`` (e.g. the previous step's eigenvectors).

    Args:
        op: ``hessian(f, x)`` or a matvec ``v -> H v`` (module docstring).
        U0: ``(d, k)`` start block (orthonormalised; missing rank is filled arbitrarily).
            With a matvec it fixes ``d`` and the dtype.
        which: ``"top"``: the ``k`` algebraically largest pairs, in descending order;
            ``"bottom"``: the ``k`` smallest, ascending (the top pairs of :math:`-H`; ``tol``
            is relative to :math:`|\lambda|` and :math:`\lambda_{\min}` may be close to 0, so
            consider ``atol``, e.g. ``1e-6 * S``).
        tol: relative residual: stop when every pair has
            ``||H u - lam u|| <= max(tol * |lam|, atol)``. The residual is that of the
            computed product, whose own rounding error sets a floor of a few ``eps`` of the
            dtype: in float32 a ``tol`` below about ``1e-6`` is reported as met while the
            residual with respect to the exact Hessian stalls near that floor.
        atol: absolute residual floor (useful when an eigenvalue may be ~0).
        max_iters: maximum block steps (may be traced); at most ``max_iters * k`` products.
        basis_size: rows of the Lanczos basis buffer (static; default ``max(20, 4k + 2)``).
        keep: Ritz vectors kept at a restart (static; ``k <= keep <= basis_size - 2k``).
        vectorize: ``jax.vmap`` the ``k`` products of a block (else ``lax.map``).

    Returns:
        ``(eigvals (k,), eigvecs (d, k), info)``: orthonormal eigenvectors with sign chosen
        so ``eigvecs[:, i] . U0[:, i] >= 0``, and :class:`EigenInfo` (check
        ``info.converged``).
    """
    if which not in ("top", "bottom"):
        raise ValueError(f'which must be "top" or "bottom", got {which!r}')
    sign = 1.0 if which == "top" else -1.0
    if isinstance(op, Hessian):
        x = check_point(op.x)
        U0 = check_block(U0, x.shape[0], x.dtype)
    else:
        U0 = _check_matvec_block(op, U0)
    check_tols(tol, atol)
    max_iters = check_max_iters(max_iters)
    M, keep = _solver_sizes(U0.shape[0], U0.shape[1], basis_size, keep)
    kw = dict(basis_size=M, keep=keep, vectorize=bool(vectorize))
    if isinstance(op, Hessian):
        fn = maybe_jit(_hessian_impl, op.f, ("f", *_SOLVER_STATIC))
        return fn(op.f, x, U0, tol, atol, max_iters, sign, **kw)
    if isinstance(op, jax.tree_util.Partial):
        return jitted(_matvec_impl, _SOLVER_STATIC)(op, U0, tol, atol, max_iters, sign, **kw)
    return _matvec_impl(op, U0, tol, atol, max_iters, sign, **kw)


def _default_key(key: Array | None) -> Array:
    return jax.random.PRNGKey(0) if key is None else key


def _start_block(op: Operator, U0: Any, k: int, key: Array | None, name: str) -> Array:
    """The ``(d, k)`` start block of the conveniences: ``U0`` (``(d,)`` when ``k = 1``), or
    pseudo-random (``key``, default ``PRNGKey(0)``) for a Hessian operator when ``U0`` is None
    (a matvec needs ``U0``: it fixes ``d`` and the dtype)."""
    if U0 is None:
        if not isinstance(op, Hessian):
            raise ValueError(
                f"{name} is required with a matvec operator (it fixes d and the dtype)"
            )
        x = check_point(op.x)
        return jax.random.normal(_default_key(key), (x.shape[0], k), x.dtype)
    if isinstance(op, Hessian) and k == 1:
        x = check_point(op.x)
        return check_like(U0, x.shape[0], x.dtype, name)[:, None]
    ndim = 1 if k == 1 else 2
    if not hasattr(U0, "shape") or U0.ndim != ndim or (ndim == 2 and U0.shape[1] != k):
        want = "(d,)" if k == 1 else f"(d, {k})"
        raise ValueError(f"{name} must have shape {want}, got {getattr(U0, 'shape', type(U0))}")
    return U0[:, None] if k == 1 else U0


def _out(vals: Array, vecs: Array, info: EigenInfo, return_info: bool) -> tuple:
    return (vals, vecs, info) if return_info else (vals, vecs)


def sharpness(
    op: Operator,
    u0: Array | None = None,
    *,
    tol: float = DEFAULT_TOL,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    key: Array | None = None,
    return_info: bool = False,
) -> tuple[Array, Array] | tuple[Array, Array, EigenInfo]:
    r"""Sharpness :math:`S = \lambda_{\max}(H)` of ``op = hessian(f, x)`` (Definition 1) or of a
    matvec, and its unit eigenvector ``u``, to relative residual ``||H u - S u|| <= tol |S|``.

    Warm-start with ``u0`` (the previous eigenvector; ``u`` is returned with ``u . u0 >= 0``);
    with a Hessian operator and ``u0`` None, cold start from a random vector (``key``). A
    matvec needs ``u0`` (``(d,)``). Returns ``(S, u)``, or ``(S, u, info)`` with
    ``return_info=True``.
    """
    U0 = _start_block(op, u0, 1, key, "u0")
    vals, vecs, info = eigenpairs(op, U0, tol=tol, max_iters=max_iters, basis_size=basis_size)
    return _out(vals[0], vecs[:, 0], info, return_info)


def lambda_min(
    op: Operator,
    u0: Array | None = None,
    *,
    tol: float = DEFAULT_TOL,
    atol: float = 0.0,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    key: Array | None = None,
    return_info: bool = False,
) -> tuple[Array, Array] | tuple[Array, Array, EigenInfo]:
    r""":math:`\lambda_{\min}(H)` and its eigenvector (Assumption 5's
    :math:`|\lambda_{\min}| / \|\nabla^2 L\|`), via the top eigenpair of :math:`-H`; start as
    in :func:`sharpness`. The smallest eigenvalue sits at the edge of a dense bulk near 0 and
    converges slowly; ``atol`` (absolute residual) is usually the meaningful stopping rule."""
    U0 = _start_block(op, u0, 1, key, "u0")
    vals, vecs, info = eigenpairs(
        op, U0, which="bottom", tol=tol, atol=atol, max_iters=max_iters, basis_size=basis_size
    )
    return _out(vals[0], vecs[:, 0], info, return_info)


def lambda_2(
    op: Operator,
    U0: Array | None = None,
    *,
    tol: float = DEFAULT_TOL,
    max_iters: int = DEFAULT_MAX_ITERS,
    basis_size: int | None = None,
    key: Array | None = None,
    return_info: bool = False,
) -> tuple[Array, Array] | tuple[Array, Array, EigenInfo]:
    r"""Second eigenvalue :math:`\lambda_2(H)` (App. D.3 stops training once it reaches
    :math:`1.9/\eta`): :func:`eigenpairs` with ``k = 2``.

    Returns ``(lambda_2, U)`` with ``U`` the ``(d, 2)`` top-two eigenvectors (pass it back as
    ``U0`` to warm-start), plus ``info`` with ``return_info=True``. ``U0`` None: a random
    start (``key``), Hessian operators only.
    """
    U0 = _start_block(op, U0, 2, key, "U0")
    vals, vecs, info = eigenpairs(op, U0, tol=tol, max_iters=max_iters, basis_size=basis_size)
    return _out(vals[1], vecs, info, return_info)
