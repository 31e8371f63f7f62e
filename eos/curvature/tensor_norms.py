r"""Operator norms of symmetric derivative tensors: :math:`\rho_3` and :math:`\rho_4` (Assumption 3, App. E).

For a symmetric tensor :math:`T` of order :math:`m \ge 2`,
:math:`\|T\|_{op} = \max_{\|v\|=1} |T(v, \dots, v)|` (Banach). :func:`tensor_norm` maximises
it from ``contract(v) = T(v, ..., v, .)`` by the shifted symmetric higher-order power method
(SS-HOPM, Kolda & Mayo 2011): ``v <- normalize(sign(lam) T(v,..,v,.) + alpha v)`` with
``lam = T(v, ..., v)``; a step that decreases ``|lam|`` is rejected and the shift ``alpha``
raised, which makes the iteration monotone. Several starts run ``vmap``-ed and the best is
kept; the value is a lower bound on the norm, exact when the global maximiser is found.

* :func:`rho3` estimates :math:`\rho_3 = \|\nabla^3 f(x)\|_{op}` from
  :math:`v \mapsto \nabla^3 f(x)(v, v)`;
* :func:`rho4` estimates :math:`\rho_4 = \|\nabla^4 f(x)\|_{op}` (the Lipschitz constant of
  :math:`\nabla^3 L`) from :math:`v \mapsto \nabla^4 f(x)(v, v, v)`;

both with the directional derivatives of :mod:`eos.curvature.derivatives` (no tensor is formed),
compiled with ``f`` static (pass a stable function).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from eos import validate
from eos.curvature._calling import check_like, check_max_iters, check_point, is_tracer, maybe_jit
from eos.curvature.derivatives import D_traced

__all__ = ["TensorNormInfo", "rho3", "rho4", "tensor_norm"]

Array = jax.Array
Function = Callable[[Array], Array]


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


def _check_power_args(
    v0: Any, d: int, dtype: Any, tol: Any, max_iters: Any, name: str = "v0"
) -> tuple[Array, Any]:
    if not hasattr(v0, "shape"):
        v0 = np.asarray(v0)
    if v0.ndim == 1:
        v0 = v0[:, None]
    V0 = check_like(v0, d, dtype, name, ndim=2)
    if V0.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one start vector")
    if not is_tracer(V0) and bool(jnp.any(jnp.linalg.norm(V0, axis=0) == 0)):
        raise ValueError(f"{name} has a zero start vector")
    if not is_tracer(tol):
        validate.positive_number(tol, "tol")
    return V0, check_max_iters(max_iters)


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
    contract = lambda v: D_traced(f, x, order, (v,) * (order - 1))  # noqa: E731
    return _tensor_norm_impl(contract, V0, order, tol, max_iters)


def _rho(f, x, v0, order, tol, max_iters, num_starts, key):
    x = check_point(x)
    if v0 is None:
        n = validate.positive_int(num_starts, "num_starts")
        key = jax.random.PRNGKey(0) if key is None else key
        v0 = jax.random.normal(key, (x.shape[0], n), x.dtype)
    V0, max_iters = _check_power_args(v0, x.shape[0], x.dtype, tol, max_iters)
    fn = maybe_jit(_rho_impl, f, ("f", "order"))
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
