r"""The constrained trajectory :math:`\theta^\dagger_t` (eq. (2)): projected gradient descent on

.. math::  \mathcal M = \{\theta : S(\theta) \le 2/\eta \ \text{and}\ \nabla L(\theta)\cdot u(\theta) = 0\},

:math:`\theta^\dagger_0 = \mathrm{proj}_{\mathcal M}(\theta_0)`,
:math:`\theta^\dagger_{t+1} = \mathrm{proj}_{\mathcal M}(\theta^\dagger_t - \eta\nabla L(\theta^\dagger_t))`.

The exact projection is replaced, as in App. D.3, by *linearised projections* inspired by
Lemma 13: at a point :math:`\theta` with :math:`S, u, \nabla L` and :math:`\nabla S = \nabla^3L(u,u)`
(Lemma 2), :math:`\nabla S^\perp = P_u^\perp\nabla S`, move by
:math:`-a\,\nabla S^\perp - b\,u` with

.. math::  b = \frac{u\cdot\nabla L}{S}, \qquad
           a = \frac{S - 2/\eta - b\,(u\cdot\nabla S)}{\|\nabla S^\perp\|^2},

i.e. a Newton step on :math:`\nabla L\cdot u = 0` along :math:`u` (the Hessian acts as :math:`S`
along :math:`u`) and the minimum-norm move along the sharpness gradient that brings the
linearised sharpness back to :math:`2/\eta`. This is the minimum-norm solution of the two
linearised constraints (the design notes' formula plus the cross term :math:`b\,u\cdot\nabla S`,
which vanishes when :math:`\nabla S\perp u`).

The sharpness constraint :math:`S \le 2/\eta` is an inequality. When it is *active* (the point
to project has :math:`S > 2/\eta` even after the Newton step, which is the case of Lemma 13 when
:math:`\alpha_t > 0`, and by definition at :math:`\theta^\dagger_0`: time is shifted so that
:math:`S(\theta^\dagger_0) = 2/\eta`, Sec. 3), the projection lands on the boundary and the
sub-steps solve :math:`S = 2/\eta` (``a`` of either sign, so that a curved sharpness cannot leave
the point strictly inside :math:`\mathcal M`, away from the nearest point). When it is inactive
only the Newton step is taken (``a = 0``, i.e. :math:`\max(0, \cdot)` in the design notes). The paper repeats it three times per projection,
re-evaluating everything each time (three eigen-solves); here each sub-step starts with a
warm-started eigen-solve, and sub-steps stop early once both residuals

.. math::  |S(\theta) - 2/\eta| \le \mathrm{tol}\cdot 2/\eta \ (\text{active; else } S - 2/\eta \le \dots),
           \qquad |\nabla L\cdot u| \le \mathrm{tol}\,\|\nabla L\|

hold (they are reported either way). Eigenvector signs are kept consistent:
:math:`u_{t+1}\cdot u_t > 0` (every solve is warm-started from the previous vector and the
result aligned with it), which the coordinate :math:`x_t = u_t\cdot v_t` needs.

For the tracked step two cheaper options (defaults of :func:`constrained_step`, both change the
result only within the projection tolerance):

* ``predictor``: the first linearised projection uses the Taylor quantities already known at
  :math:`\theta^\dagger_t` (:math:`S(\theta') \approx S_t - \eta\nabla S_t\cdot\nabla L_t`,
  :math:`u\cdot\nabla L(\theta') \approx (1 - \eta S_t)\,u_t\cdot\nabla L_t`, directions
  :math:`\nabla S_t^\perp, u_t`), saving the eigen-solve at :math:`\theta'`; this is exactly
  Lemma 13's first-order update :math:`-\eta P^\perp_{u_t,\nabla S_t}\nabla L_t` when
  :math:`\theta^\dagger_t\in\mathcal M`;
* ``fresh_direction=False``: later sub-steps move along :math:`\nabla S` of the previous point
  of :math:`\mathcal M` (re-projected against the current :math:`u`) instead of recomputing the
  third derivative at every sub-step; :math:`\nabla S` is computed exactly at the final point.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from eos.dynamics import _ops

__all__ = [
    "Projection",
    "align",
    "constrained_step",
    "linearised_projection",
    "predicted_point",
    "project",
]


class Projection(NamedTuple):
    r"""A point of (approximately) :math:`\mathcal M` with the Taylor quantities of Definition 3.

    Attributes:
        theta: the point.
        loss, grad: :math:`L` and :math:`\nabla L` there.
        sharpness, u: top Hessian eigenpair (:math:`u` unit, sign-aligned with the warm start).
        grad_sharpness: :math:`\nabla S = \nabla^3 L(u, u)` (Lemma 2).
        residual_sharpness: :math:`S - 2/\eta`.
        residual_grad_u: :math:`\nabla L\cdot u`.
        eig_residual: relative residual :math:`\|Hu - Su\|/S` of the eigen-solve.
        substeps: linearised projections applied.
        matvecs: Hessian-vector products spent in eigen-solves.
        gradients: gradient evaluations (primal passes).
        active: whether the sharpness constraint was treated as active (:math:`S = 2/\eta`).
    """

    theta: jax.Array
    loss: jax.Array
    grad: jax.Array
    sharpness: jax.Array
    u: jax.Array
    grad_sharpness: jax.Array
    residual_sharpness: jax.Array
    residual_grad_u: jax.Array
    eig_residual: jax.Array
    substeps: jax.Array
    matvecs: jax.Array
    gradients: jax.Array
    active: jax.Array


def linearised_projection(
    theta: jax.Array,
    *,
    sharpness: jax.Array,
    u: jax.Array,
    grad_u: jax.Array,
    grad_sharpness: jax.Array,
    lr: float,
    active: jax.Array | bool = False,
) -> jax.Array:
    r"""One linearised projection onto :math:`\mathcal M` (module docstring; Lemma 13).

    ``grad_u`` is :math:`u\cdot\nabla L`; ``grad_sharpness`` is :math:`\nabla S` (its component
    along ``u`` is removed here). ``active``: solve :math:`S = 2/\eta` (move along
    :math:`\nabla S^\perp` in either direction); otherwise only an excess :math:`S > 2/\eta`
    is removed.
    """
    threshold = jnp.asarray(2.0 / lr, theta.dtype)
    gSu = jnp.dot(u, grad_sharpness)
    gS_perp = grad_sharpness - gSu * u
    beta = jnp.dot(gS_perp, gS_perp)
    b = grad_u / sharpness
    excess = sharpness - threshold - b * gSu
    excess = jnp.where(active, excess, jnp.maximum(excess, 0.0))
    a = excess / jnp.where(beta > 0, beta, 1.0)
    return theta - a * gS_perp - b * u


class _Eval(NamedTuple):
    theta: jax.Array
    loss: jax.Array
    grad: jax.Array
    sharpness: jax.Array
    u: jax.Array
    eig_residual: jax.Array


def _evaluate(
    objective: Any, theta, u0, eig_tol, eig_iters, eig_restarts=0
) -> tuple[_Eval, jax.Array]:
    loss, g, r = _ops.point_eigen(
        objective, theta, u0, tol=eig_tol, max_iters=eig_iters, restarts=eig_restarts
    )
    return _Eval(theta, loss, g, r.value, r.vector, r.residual), r.matvecs


def _converged(e: _Eval, lr: float, tol: float, active: jax.Array, eig_tol: float) -> jax.Array:
    """Both residuals below ``tol``, measured with a converged eigenvector."""
    threshold = 2.0 / lr
    excess = e.sharpness - threshold
    ok_s = jnp.where(active, jnp.abs(excess), excess) <= tol * threshold
    ok_g = jnp.abs(jnp.dot(e.grad, e.u)) <= tol * jnp.linalg.norm(e.grad)
    return ok_s & ok_g & (e.eig_residual <= 10 * eig_tol)


def _active_after_newton(e: _Eval, gS: jax.Array, threshold: jax.Array) -> jax.Array:
    r"""Whether the sharpness constraint is active at ``e``: the linearised sharpness after the
    Newton step :math:`-b\,u` (:math:`b = u\cdot\nabla L / S`), :math:`S - b\,u\cdot\nabla S`,
    still exceeds :math:`2/\eta` (``threshold``)."""
    b = jnp.dot(e.u, e.grad) / e.sharpness
    return e.sharpness - b * jnp.dot(e.u, gS) > threshold


def _projection(
    e: _Eval,
    gS: jax.Array,
    threshold: jax.Array,
    substeps: jax.Array,
    matvecs: jax.Array,
    gradients: jax.Array,
    active: jax.Array,
) -> Projection:
    r"""The :class:`Projection` at the evaluated point ``e`` with :math:`\nabla S` = ``gS``: the
    residuals :math:`S - 2/\eta` and :math:`\nabla L\cdot u` and the loop's counters."""
    return Projection(
        theta=e.theta,
        loss=e.loss,
        grad=e.grad,
        sharpness=e.sharpness,
        u=e.u,
        grad_sharpness=gS,
        residual_sharpness=e.sharpness - threshold,
        residual_grad_u=jnp.dot(e.grad, e.u),
        eig_residual=e.eig_residual,
        substeps=substeps,
        matvecs=matvecs,
        gradients=gradients,
        active=active,
    )


def _project_loop(
    objective: Any,
    theta: jax.Array,
    u0: jax.Array,
    lr: float,
    *,
    substeps: int,
    tol: float,
    eig_tol: float,
    eig_iters: int,
    eig_restarts: int = 0,
    direction: jax.Array | None,
    adaptive: bool,
    active: jax.Array | bool | None,
    eig_tol_first: float | None = None,
) -> Projection:
    r"""Evaluate, test, project; repeat (one ``lax.while_loop``, the evaluation compiled once).

    Each pass evaluates :math:`L, \nabla L, S, u` at the current point (eigen-solve warm-started
    from the previous ``u``); it stops when the residuals are below ``tol`` (``adaptive``) or
    after ``substeps`` projections, otherwise applies one linearised projection along
    ``direction`` (:math:`\nabla S` of an earlier point) or, if ``None``, along a freshly computed
    :math:`\nabla^3L(u, u)`. :math:`\nabla S` is then computed at the final point. ``active``:
    the sharpness constraint is an equality (``True``), an inequality (``False``), or (``None``)
    decided at the first evaluation: active when the linearised sharpness after the Newton step
    along :math:`u` still exceeds :math:`2/\eta`. ``eig_tol_first``: a looser tolerance for the
    first eigen-solve (its vector only steers the first correction; a point is accepted only
    after a solve to ``eig_tol``).
    """
    dtype = theta.dtype
    zero_s = jnp.zeros((), dtype)
    e0 = _Eval(theta, zero_s, jnp.zeros_like(theta), zero_s, u0, zero_s)
    zero_i = jnp.asarray(0, jnp.int32)
    threshold = jnp.asarray(2.0 / lr, dtype)

    def cond(carry):
        return ~carry[-1]

    def body(carry):
        theta, u, _, _, k, mv, ng, act, _ = carry
        tol_k = eig_tol if eig_tol_first is None else jnp.where(k == 0, eig_tol_first, eig_tol)
        e, m = _evaluate(objective, theta, u, tol_k, eig_iters, eig_restarts)
        gS = _ops.d3(objective, e.theta, e.u) if direction is None else direction
        if active is None:
            act = jnp.where(k == 0, _active_after_newton(e, gS, threshold), act)
        stop = k >= substeps
        if adaptive:
            stop = stop | _converged(e, lr, tol, act, eig_tol)

        def step(_):
            return linearised_projection(
                e.theta,
                sharpness=e.sharpness,
                u=e.u,
                grad_u=jnp.dot(e.u, e.grad),
                grad_sharpness=gS,
                lr=lr,
                active=act,
            )

        theta_next = jax.lax.cond(stop, lambda _: e.theta, step, None)
        return theta_next, e.u, e, gS, k + jnp.where(stop, 0, 1), mv + m, ng + 1, act, stop

    act0 = jnp.asarray(False) if active is None else jnp.asarray(active)
    gS0 = jnp.zeros_like(theta)
    init = (theta, u0, e0, gS0, zero_i, zero_i, zero_i, act0, jnp.asarray(False))
    _, _, e, gS, k, matvecs, gradients, act, _ = jax.lax.while_loop(cond, body, init)
    if direction is not None:  # the loop moved along an earlier gradient: compute it here
        gS = _ops.d3(objective, e.theta, e.u)
    return _projection(e, gS, threshold, k, matvecs, gradients, act)


def project(
    objective: Any,
    theta: jax.Array,
    lr: float,
    u0: jax.Array,
    *,
    substeps: int = 3,
    tol: float = 1e-10,
    eig_tol: float = 1e-10,
    eig_max_iters: int = 32,
    eig_restarts: int = 0,
    adaptive: bool = True,
    active: bool | None = True,
) -> Projection:
    r"""Project ``theta`` onto :math:`\mathcal M` by linearised projections (module docstring).

    Each sub-step evaluates :math:`S, u, \nabla L` (eigen-solve warm-started from the previous
    ``u``, starting from ``u0``) and :math:`\nabla S = \nabla^3L(u,u)` at the current point, as
    the paper's App. D.3 (at most ``eig_max_iters`` Lanczos products per run, restarted from
    the Ritz vector up to ``eig_restarts`` times while the residual is above ``eig_tol``).
    ``adaptive`` stops once both residuals are below ``tol`` (relative to
    :math:`2/\eta` and :math:`\|\nabla L\|`); ``substeps`` caps the number of projections.
    ``active=True`` (default) projects onto the boundary :math:`S = 2/\eta`, as for
    :math:`\theta^\dagger_0` (Sec. 3); ``None`` decides from the first evaluation; ``False``
    only removes an excess. The returned :class:`Projection` holds the Taylor quantities at the
    final point (with :math:`\nabla S` recomputed there) and both residuals. Jit-compatible;
    works in the dtype of ``theta``; ``u0`` sets the sign of ``u``.
    """
    theta = jnp.asarray(theta)
    u0 = jnp.asarray(u0, theta.dtype)
    return _project_loop(
        objective,
        theta,
        u0,
        lr,
        substeps=substeps,
        tol=tol,
        eig_tol=eig_tol,
        eig_iters=eig_max_iters,
        eig_restarts=eig_restarts,
        direction=None,
        adaptive=adaptive,
        active=active,
    )


def constrained_step(
    objective: Any,
    current: Projection,
    lr: float,
    *,
    substeps: int = 3,
    tol: float = 1e-10,
    eig_tol: float = 1e-10,
    eig_max_iters: int = 32,
    eig_restarts: int = 0,
    adaptive: bool = True,
    predictor: bool = True,
    fresh_direction: bool = False,
    u_warm: jax.Array | None = None,
    eig_tol_first: float | None = None,
    offset: jax.Array | None = None,
) -> Projection:
    r""":math:`\theta^\dagger_{t+1} = \mathrm{proj}_{\mathcal M}(\theta^\dagger_t - \eta\nabla L_t)` (eq. (2)).

    ``current`` is the :class:`Projection` at :math:`\theta^\dagger_t`. With
    ``predictor=False, fresh_direction=True, adaptive=False`` this is the paper's procedure
    (evaluate at :math:`\theta' = \theta^\dagger_t - \eta\nabla L_t`, then ``substeps`` linearised
    projections, each with a fresh eigen-solve and third derivative); the defaults are the
    cheaper variant described in the module docstring (``predictor`` counts as one sub-step).
    Whether the sharpness constraint is active is decided from the linearisation at
    :math:`\theta^\dagger_t` (predictor) or at the first evaluation. ``eig_max_iters`` /
    ``eig_restarts``: as in :func:`project`. ``u_warm``: start vector of
    the first eigen-solve (default :math:`u_t`; e.g. the extrapolation :math:`2u_t - u_{t-1}`).
    The new :math:`u_{t+1}` is sign-aligned with it. ``eig_tol_first``: a looser tolerance for
    the first eigen-solve, whose vector only steers the first correction. ``offset``: a guess of
    the correction that the sub-steps will add to the predicted point (e.g. the last step's,
    extrapolated; see :func:`predicted_point`): its components along :math:`u_t` and
    :math:`\nabla S_t^\perp` are added before the first evaluation, so that often one evaluation
    suffices; the accepted point is then the one the sub-steps reach without it, up to the
    tolerance and second-order terms.
    """
    one = jnp.asarray(1, jnp.int32)
    active = None
    if predictor:
        theta, active = predicted_point(current, lr)
    else:
        theta = current.theta - jnp.asarray(lr, current.theta.dtype) * current.grad
    if offset is not None:
        # Only the components along the normals of M at theta-dagger_t (u and grad S^perp):
        # the sub-steps move along normals, so the accepted point is the one they would reach
        # anyway, up to the tolerance (a tangential guess would shift it along M).
        gSp = current.grad_sharpness - jnp.dot(current.u, current.grad_sharpness) * current.u
        s_hat = _ops.unit(gSp)
        offset = jnp.dot(offset, current.u) * current.u + jnp.dot(offset, s_hat) * s_hat
        theta = theta + offset
    warm = current.u if u_warm is None else u_warm
    out = _project_loop(
        objective,
        theta,
        warm,
        lr,
        substeps=substeps - (1 if predictor else 0),
        tol=tol,
        eig_tol=eig_tol,
        eig_iters=eig_max_iters,
        eig_restarts=eig_restarts,
        direction=None if fresh_direction else current.grad_sharpness,
        adaptive=adaptive,
        active=active,
        eig_tol_first=eig_tol_first,
    )
    return out._replace(substeps=out.substeps + (one if predictor else 0))


def predicted_point(current: Projection, lr: float) -> tuple[jax.Array, jax.Array]:
    r"""The predictor of :func:`constrained_step`: one linearised projection of
    :math:`\theta^\dagger_t - \eta\nabla L_t` with the Taylor quantities at :math:`\theta^\dagger_t`
    (Lemma 13's first-order update), and whether the sharpness constraint is active."""
    lr_ = jnp.asarray(lr, current.theta.dtype)
    theta = current.theta - lr_ * current.grad
    s_lin = current.sharpness - lr_ * jnp.dot(current.grad_sharpness, current.grad)
    gu_lin = (1 - lr_ * current.sharpness) * jnp.dot(current.u, current.grad)
    b = gu_lin / current.sharpness
    active = s_lin - b * jnp.dot(current.u, current.grad_sharpness) > 2.0 / lr
    theta = linearised_projection(
        theta,
        sharpness=s_lin,
        u=current.u,
        grad_u=gu_lin,
        grad_sharpness=current.grad_sharpness,
        lr=lr,
        active=active,
    )
    return theta, active


def align(u: jax.Array, reference: jax.Array) -> jax.Array:
    """``u`` with its sign flipped if needed so that ``u . reference >= 0``."""
    return jnp.where(jnp.dot(u, reference) < 0, -u, u)
