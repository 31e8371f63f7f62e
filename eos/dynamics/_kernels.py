r"""The compiled pieces of one tracked step of :func:`eos.dynamics.track`.

Each function below computes one part of a step at the current points (GD :math:`\theta_t`, the
constrained trajectory :math:`\theta^\dagger_t`, the predicted displacement :math:`\hat v_t`, the
generalized one and the gradient flow). Its settings are keyword arguments, bound by
:func:`functions` and compiled in as constants: the functions that evaluate the objective are
jitted through its own jit helper (:func:`eos.dynamics._ops.jit`: the data set is an argument of
the compiled program, not a constant), the others with :func:`jax.jit`. :func:`functions` caches
the compiled set per objective, learning rate and
:meth:`~eos.dynamics.settings.TrackSettings.compiled_key`.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eos.curvature.lanczos import lanczos_top
from eos.dynamics import _ops
from eos.dynamics.constrained import (
    Projection,
    align,
    constrained_step,
    linearised_projection,
    predicted_point,
    project,
)
from eos.dynamics.flow import flow_interval
from eos.dynamics.predicted import (
    frame,
    generalized_x_next,
    perp,
    predicted_step,
    propagate_follower,
    theorem1,
)
from eos.dynamics.settings import (
    EigenSettings,
    FlowSettings,
    OutputSettings,
    ProjectionSettings,
    TrackSettings,
)
from eos.objective import line_derivatives

__all__ = ["functions"]


# ============================================================================ at the points
def point_solve(obj: Any, theta: jax.Array, u0: jax.Array, *, eigen: EigenSettings) -> tuple:
    """:math:`L(\\theta)`, :math:`\\nabla L(\\theta)` and the top eigenpair
    :math:`(S(\\theta), u(\\theta))` of :math:`\\nabla^2 L(\\theta)` (a Lanczos run warm-started
    from ``u0`` to ``point_tol``, its first product fused with the gradient), with the products
    spent and the relative residual."""
    loss, g, r = _ops.point_eigen(
        obj, theta, u0, tol=eigen.point_tol, max_iters=eigen.point_max_iters,
        restarts=eigen.eig_restarts,
    )  # fmt: skip
    return loss, g, r.value, r.vector, r.matvecs, r.residual


def points(obj, dagger, gd_theta, pred_v, gen_v, flow_theta, history, coef, *,
           eigen: EigenSettings, generalized: bool) -> tuple:  # fmt: skip
    """:func:`point_solve` at GD's :math:`\\theta_t`, the predicted point
    :math:`\\theta^\\dagger_t + \\hat v_t` (Theorem 1's loss and sharpness are compared with
    these), the generalized one (App. F, ``generalized``) and the gradient flow, one after
    another in one call, each warm-started from ``sum_j coef[i, j] history[i][j]`` (the last
    vectors of its own sequence, newest first), normalised.

    (Vmapping the solves batches the products but runs every solve as long as the slowest; on
    the benchmark MLP the sequential map is 15% faster: the solves at the oscillating iterates
    need restarts near eigenvalue crossings while the flow's converge in one or two products.
    Skipping the gradient at the predicted points saves nothing: the compiler shares the primal
    pass with the Lanczos products, and a run-time branch costs 50 ms.)"""
    thetas = [gd_theta, dagger + pred_v] + ([dagger + gen_v] if generalized else [])
    U = jnp.stack([jnp.stack(h) for h in history])
    W = jnp.einsum("ij,ijd->id", coef, U)
    W = W / jnp.linalg.norm(W, axis=-1, keepdims=True)
    return jax.lax.map(
        lambda a: point_solve(obj, *a, eigen=eigen), (jnp.stack(thetas + [flow_theta]), W)
    )


def line(obj: Any, theta: jax.Array, u: jax.Array, v: jax.Array) -> tuple:
    """App. F's loss along the top eigenvector, :math:`F_t` (shifted) at :math:`x = u\\cdot v`:
    :math:`L(\\theta + x u)`, :math:`u\\cdot\\nabla L(\\theta + x u)` and
    :math:`u^\\top\\nabla^2L(\\theta + x u)\\,u` (for eq. (11) and App. F.2's generalized
    Theorem 1)."""
    return line_derivatives(obj.value, theta + jnp.dot(u, v) * u, u)


def dagger_hvps(obj: Any, theta: jax.Array, u: jax.Array, rows: tuple) -> jax.Array:
    """:math:`\\nabla^2L(\\theta)\\,P_u^\\perp v` for every vector :math:`v` of ``rows`` at
    :math:`\\theta = \\theta^\\dagger_t` (one primal pass): the products of eq. (6) and of the
    :math:`\\beta_{s\\to t}` followers (eq. (10))."""
    V = jnp.stack(rows)
    return _ops.hvps(obj, theta, V - (V @ u)[:, None] * u[None, :])


def lambda2(obj, theta, u, v0, *, eigen: EigenSettings) -> tuple:
    """The second eigenvalue of :math:`\\nabla^2L(\\theta)` (``u`` the top eigenvector): the top
    eigenpair of :math:`P\\nabla^2L P`, :math:`P = I - uu^\\top`, warm-started from ``v0``;
    App. D.3 stops the run once it reaches :math:`1.9/\\eta`. Returns the value, vector,
    residual and products."""

    def deflated(v):
        w = obj.hvp(theta, v - jnp.dot(u, v) * u)
        return w - jnp.dot(u, w) * u

    r = lanczos_top(deflated, perp(v0, u), tol=eigen.lambda2_tol, max_iters=eigen.lambda2_iters)
    return r.value, r.vector, r.residual, r.matvecs


def accuracy(obj: Any, theta: jax.Array) -> jax.Array:
    """GD's training accuracy at :math:`\\theta_t`."""
    return obj.accuracy(theta)


# ============================================================================ advancing
def advance_flow(obj, theta, g, S, u, *, lr: float, flow: FlowSettings) -> tuple:
    """The gradient flow :math:`\\dot\\theta = -\\nabla L(\\theta)` over one interval of length
    :math:`\\eta` from ``theta`` (gradient ``g``, sharpness ``S`` along ``u`` known there), so
    that the flow is sampled at times :math:`\\eta t` (:func:`eos.dynamics.flow.flow_interval`)."""
    return flow_interval(
        obj.grad, theta, lr, grad0=g, sharpness=S, u=u,
        method=flow.flow_method, courant=flow.flow_courant,
    )  # fmt: skip


def advance_dagger(obj, P: Projection, u_prev, coef, corr1, corr2, *, lr: float,
                   eigen: EigenSettings, projection: ProjectionSettings) -> tuple:  # fmt: skip
    """:math:`\\theta^\\dagger_{t+1} = \\mathrm{proj}_{\\mathcal M}(\\theta^\\dagger_t -
    \\eta\\nabla L(\\theta^\\dagger_t))` (eq. (2)) by linearised projections
    (:func:`eos.dynamics.constrained.constrained_step`), with :math:`u_{t+1}` sign-aligned with
    :math:`u_t`.

    ``u_prev``: ``(u_{t-1}, u_{t-2})`` stacked; ``coef``: the extrapolation coefficients of
    ``(u_t, u_{t-1}, u_{t-2})`` for the warm start; ``corr1``, ``corr2``: the corrections that the
    sub-steps added to the predicted point at the last two steps (their extrapolation is the
    first guess). Returns ``P1``, the correction of this step and ``(u_t, u_{t-1})`` stacked."""
    warm = _ops.unit(coef[0] * P.u + coef[1] * u_prev[0] + coef[2] * u_prev[1])
    offset = 2 * corr1 - corr2 if eigen.extrapolate else corr1
    P1 = constrained_step(
        obj, P, lr, substeps=projection.substeps, tol=projection.proj_tol, eig_tol=eigen.eig_tol,
        eig_max_iters=eigen.eig_max_iters, eig_restarts=eigen.eig_restarts,
        adaptive=projection.adaptive, predictor=projection.predictor,
        fresh_direction=projection.fresh_direction, u_warm=warm,
        eig_tol_first=eigen.eig_tol_first, offset=offset if projection.predictor else None,
    )  # fmt: skip
    P1 = P1._replace(u=align(P1.u, P.u))
    if projection.predictor:
        # The correction the sub-steps would reach: the accepted point plus the linearised
        # projection that its own residuals still ask for (free: every quantity is at hand).
        # Recording this instead of the accepted point alone keeps the sequence smooth when
        # steps alternate between one and two evaluations, so its extrapolation stays good.
        exact = linearised_projection(
            P1.theta, sharpness=P1.sharpness, u=P1.u, grad_u=P1.residual_grad_u,
            grad_sharpness=P1.grad_sharpness, lr=lr, active=P1.active,
        )  # fmt: skip
        corr = exact - predicted_point(P, lr)[0]
    else:
        corr = corr1
    return P1, corr, jnp.stack([P.u, u_prev[0]])


def initial_projection(obj, theta, u0, *, lr: float, eigen: EigenSettings,
                       projection: ProjectionSettings) -> Projection:  # fmt: skip
    """:math:`\\theta^\\dagger_0 = \\mathrm{proj}_{\\mathcal M}(\\theta_0)` (eq. (2)), solved more
    tightly than the later steps (it fixes :math:`\\hat v_0 = \\theta_0 - \\theta^\\dagger_0`,
    Definition 7): at least 6 sub-steps, residuals below 1e-9, eigen-solves to 1e-10."""
    return project(
        obj, theta, lr, u0, substeps=2 * max(projection.substeps, 3),
        tol=min(projection.proj_tol, 1e-9), eig_tol=min(eigen.eig_tol, 1e-10),
        eig_max_iters=max(eigen.eig_max_iters, 32), adaptive=True,
    )  # fmt: skip


def update(P, P1, gd_theta, gd_grad, pred_v, pred_Hv, gen_v, gen_Hv, line_gu, R, HR, *,
           lr: float, generalized: bool) -> tuple:  # fmt: skip
    """One step of everything that is not an eigen-solve: GD
    :math:`\\theta_{t+1} = \\theta_t - \\eta\\nabla L(\\theta_t)`, the predicted dynamics
    :math:`\\hat v_{t+1}` (Definition 7, eq. (6)), the generalized ones (App. F, eq. (11)) and the
    :math:`\\beta_{s\\to t}` followers (eq. (10): ``R``, ``HR`` are tuples of their vectors and
    products, ``None`` in ``HR`` for a follower started at this step). Returns the new GD point,
    both displacements, the followers and :math:`\\beta_{s\\to t}` per follower."""
    fr = frame(P.u, P.grad, P.grad_sharpness, lr)
    gd_new = gd_theta - jnp.asarray(lr, gd_theta.dtype) * gd_grad
    pred_new = predicted_step(pred_v, fr, hvp_perp=pred_Hv, u_next=P1.u, lr=lr)
    if generalized:
        x, y = jnp.dot(fr.u, gen_v), jnp.dot(fr.grad_sharpness_perp, gen_v)
        x_next = generalized_x_next(x, y, line_gu, lr, jnp.dot(fr.u, P.grad))
        gen_new = predicted_step(gen_v, fr, hvp_perp=gen_Hv, u_next=P1.u, lr=lr, x_next=x_next)
    else:
        gen_new = gen_v
    # followers: r <- (I - eta H_t) P_perp r (not at their start step), then gS_perp(t+1) . r
    R_new = tuple(r if hr is None else propagate_follower(r, P.u, hr, lr) for r, hr in zip(R, HR))
    gS_perp1 = perp(P1.grad_sharpness, P1.u)
    betas = jnp.asarray([jnp.dot(r, gS_perp1) for r in R_new], gS_perp1.dtype)
    return gd_new, pred_new, gen_new, R_new, betas


# ============================================================================ records
def records(P: Projection, gd, pred, gen, ln, flow, *, lr: float, generalized: bool) -> dict:
    """Every per-step scalar of :mod:`eos.dynamics.tracking`'s table, on device, from the
    evaluations: at each point :math:`x = u_t\\cdot v`, :math:`y = \\nabla S_t^\\perp\\cdot v`
    (Definition 5) and the distance to :math:`\\theta^\\dagger_t`; Theorem 1's predicted loss
    :math:`L(\\theta^\\dagger_t) + \\hat x_t^2/\\eta` and sharpness
    :math:`2/\\eta + \\hat y_t + (\\nabla S_t\\cdot u_t)\\hat x_t`, and App. F.2's generalized
    ones; :math:`\\alpha_t, \\beta_t, \\delta_t, \\epsilon_t` (Definitions 4 and 6) and the
    projection's residuals."""
    fr = frame(P.u, P.grad, P.grad_sharpness, lr)
    out = {}

    def point_rec(prefix, v, loss, S):
        out[f"{prefix}/loss"] = loss
        out[f"{prefix}/sharpness"] = S
        out[f"{prefix}/x"] = jnp.dot(fr.u, v)
        out[f"{prefix}/y"] = jnp.dot(fr.grad_sharpness_perp, v)
        out[f"{prefix}/distance"] = jnp.linalg.norm(v)

    gd_theta, gd_loss, gd_S = gd
    v = gd_theta - P.theta
    point_rec("gd", v, gd_loss, gd_S)
    pred_v, pred_loss, pred_S = pred
    point_rec("predicted", pred_v, pred_loss, pred_S)
    tl, ts = theorem1(P.loss, fr, out["predicted/x"], out["predicted/y"], lr)
    out["theorem1/loss"] = tl
    out["theorem1/sharpness"] = ts
    out["theorem1/deviation"] = jnp.linalg.norm(v - pred_v)
    if generalized:
        gen_v, gen_loss, gen_S = gen
        point_rec("generalized", gen_v, gen_loss, gen_S)
        line_loss, _, line_uHu = ln
        out["theorem1_generalized/loss"] = line_loss
        # 2/eta + y + F''(x), F''(x) = u.H(theta-dagger + x u).u - 2/eta (App. F.2)
        out["theorem1_generalized/sharpness"] = out["generalized/y"] + line_uHu
        out["theorem1_generalized/deviation"] = jnp.linalg.norm(v - gen_v)
    flow_theta, flow_loss, flow_S = flow
    out["flow/loss"] = flow_loss
    out["flow/sharpness"] = flow_S
    out["flow/distance"] = jnp.linalg.norm(flow_theta - P.theta)
    cons = {
        "loss": P.loss, "sharpness": P.sharpness, "alpha": fr.alpha, "beta": fr.beta,
        "delta": fr.delta, "epsilon": fr.epsilon, "grad_norm": jnp.linalg.norm(P.grad),
        "grad_sharpness_dot_u": fr.grad_sharpness_dot_u,
        "residual_sharpness": P.residual_sharpness, "residual_grad_u": P.residual_grad_u,
        "eig_residual": P.eig_residual, "substeps": P.substeps,
    }  # fmt: skip
    out.update({f"constrained/{k}": val for k, val in cons.items()})
    out["_dagger_finite"] = jnp.all(jnp.isfinite(P.theta)) & jnp.isfinite(P.sharpness)
    return out


# ============================================================================ App. E / F
def assumptions(obj, theta, u, g, gS, v, warm, *, lr: float) -> tuple:
    """App. E's assumption quantities at :math:`\\theta^\\dagger_t` with displacement
    :math:`\\hat v_t` (:func:`eos.analysis.assumptions.assumption_quantities`), warm-started."""
    from eos.analysis.assumptions import assumption_quantities

    return assumption_quantities(
        obj, theta, u=u, grad_loss=g, grad_sharpness=gS, displacement=v, lr=lr, warm=warm,
    )  # fmt: skip


def profile(obj, theta, u, delta, *, lr: float, multiples: tuple[float, ...]) -> tuple:
    """App. F's :math:`F_t, F_t', F_t''` on the line :math:`\\theta^\\dagger_t + x u_t` at
    :math:`x = m\\,\\delta_t` for every multiple :math:`m`
    (:func:`eos.analysis.quadratic.line_profile`). Returns ``(xs, F, dF, d2F)``."""
    from eos.analysis.quadratic import line_profile

    xs = jnp.asarray(np.asarray(multiples, dtype=np.float64), theta.dtype) * delta
    F, dF, d2F = line_profile(obj, theta, u, xs, lr)
    return xs, F, dF, d2F


# ============================================================================ compiling
_CACHE: dict[tuple, tuple[weakref.ref, dict[str, Callable]]] = {}


def functions(objective: Any, lr: float, settings: TrackSettings) -> dict[str, Callable]:
    """The compiled pieces of a tracked step for ``objective``, cached per objective (held
    weakly), ``lr`` and ``settings.compiled_key()``: settings that do not change the compiled
    code (e.g. ``checkpoint_every``) reuse it."""
    key = (id(objective), lr, settings.compiled_key())
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is objective:
        return hit[1]
    fns = build(objective, lr, *settings.compiled_key())
    try:
        ref = weakref.ref(objective)
    except TypeError:  # objects without weakref support: no caching
        return fns
    _CACHE[key] = (ref, fns)
    return fns


def build(objective: Any, lr: float, eigen: EigenSettings, projection: ProjectionSettings,
          flow: FlowSettings, outputs: OutputSettings) -> dict[str, Callable]:  # fmt: skip
    """The functions of this module with their settings bound and compiled (``flow`` with its
    Courant number resolved)."""
    data_jit = _ops.jit(objective)  # the data set is an argument, not a constant
    gen = outputs.generalized

    def bind(fn: Callable, **kw: Any) -> Callable:
        return data_jit(functools.partial(fn, **kw))

    fns = dict(
        point=bind(point_solve, eigen=eigen),
        points=bind(points, eigen=eigen, generalized=gen),
        line=data_jit(line),
        advance_flow=bind(advance_flow, lr=lr, flow=flow),
        advance_dagger=bind(advance_dagger, lr=lr, eigen=eigen, projection=projection),
        initial_projection=bind(initial_projection, lr=lr, eigen=eigen, projection=projection),
        dagger_hvps=data_jit(dagger_hvps),
        lambda2=bind(lambda2, eigen=eigen),
        accuracy=data_jit(accuracy),
        records=jax.jit(functools.partial(records, lr=lr, generalized=gen)),
        update=jax.jit(functools.partial(update, lr=lr, generalized=gen)),
    )
    if outputs.diagnostics:
        from eos.analysis.assumptions import initial_warm

        fns.update(
            assumptions=bind(assumptions, lr=lr),
            profile=bind(profile, lr=lr, multiples=outputs.quadratic_multiples),
            initial_warm=initial_warm,
        )
    return fns
