r"""Directional derivatives of a scalar function of a flat vector: the one operator :func:`D`.

:math:`D(f, x, m, v_1, \dots, v_j) = \nabla^m f(x)[v_1, \dots, v_j, \cdot, \dots, \cdot]`,
:math:`1 \le m \le 4`, computed forward-over-reverse: ``G_0 = jax.grad(f)`` (reverse mode,
one free index), then ``G_i(y) = d/ds G_{i-1}(y + s v_i)|_{s=0}`` (one ``jax.jvp`` layer per
direction), so ``G_{m-1}(x)`` is :math:`\nabla^m f(x)[v_1, \dots, v_{m-1}, \cdot]`. With
``j = m`` directions the last one contracts the gradient's own index (a scalar); with fewer
than ``m - 1`` the remaining free indices are filled by ``jax.jacfwd`` (``d**(m-j)`` numbers:
tiny problems only, e.g. the dense tensors of :func:`eos.theory.scale_invariant.derivative_tensor`).
The tensor is symmetric, so the order of the directions does not matter. No Hessian or
higher tensor is formed when all ``m - 1`` directions are given.

Special cases (numbers refer to the paper):

* :func:`hvp` is :math:`\nabla^2 f(x) v = D(f, x, 2, v)`, the product every eigen-solver of
  this package is built on;
* :func:`sharpness_gradient` is :math:`\nabla^3 L(x)(u, u) = D(f, x, 3, u, u)`, which is
  :math:`\nabla S(x)` when :math:`u` is the unit top eigenvector of a simple top eigenvalue
  (Lemma 2).

:class:`eos.objective.Objective`'s ``D`` and ``hvp`` apply these operators chunk by chunk
(ghost batching), and :mod:`eos.analysis.assumptions` applies them to plain functions.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from eos.curvature._calling import check_like, check_point, maybe_jit

__all__ = ["D", "D_traced", "hvp", "sharpness_gradient"]

Array = jax.Array
Function = Callable[[Array], Array]

MAX_ORDER = 4


def _directional(g: Function, v: Array) -> Function:
    """y -> d/dt g(y + t v) at t = 0 (one forward-mode layer)."""
    return lambda y: jax.jvp(g, (y,), (v,))[1]


def D_traced(f: Function, x: Array, order: int, vs: tuple[Array, ...]) -> Array:
    """The computation of :func:`D` without argument checks or compilation (``order`` a
    Python int, ``vs`` a tuple of arrays in the dtype of ``x``): for code that is traced
    already, e.g. the power iterations of :mod:`eos.curvature.tensor_norms`."""
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

    Compiled with ``f`` static when ``f`` is hashable; works inside an outer ``jax.jit``
    (then the finiteness checks are skipped). The directions are cast to the dtype of ``x``.
    """
    x = check_point(x)
    if (
        isinstance(order, bool)
        or not isinstance(order, (int, np.integer))
        or not 1 <= order <= MAX_ORDER
    ):
        raise ValueError(f"order must be an int in 1..{MAX_ORDER}, got {order!r}")
    if len(vs) > order:
        raise ValueError(f"at most order={order} directions may be given, got {len(vs)}")
    vs = tuple(check_like(v, x.shape[0], x.dtype, f"vs[{i}]") for i, v in enumerate(vs))
    return maybe_jit(D_traced, f, ("f", "order"))(f, x, order=int(order), vs=vs)


def hvp(f: Function, x: Array, v: Array) -> Array:
    r"""Hessian-vector product :math:`\nabla^2 f(x) v` (forward-over-reverse), ``D(f, x, 2, v)``."""
    return D(f, x, 2, v)


def sharpness_gradient(f: Function, x: Array, u: Array) -> Array:
    r""":math:`\nabla^3 L(x)(u, u)`, which is :math:`\nabla S(x)` when the top eigenvalue is
    simple and ``u`` is its eigenvector (Lemma 2). ``u`` is normalised first."""
    x = check_point(x)
    u = check_like(u, x.shape[0], x.dtype, "u")
    return maybe_jit(_sharpness_gradient, f, ("f",))(f, x, u)


def _sharpness_gradient(f: Function, x: Array, u: Array) -> Array:
    u = u / jnp.linalg.norm(u)
    return D_traced(f, x, 3, (u, u))
