r"""Tracking gradient descent at the edge of stability against the theory (App. D.3, Fig. 4).

:func:`track` starts at :math:`\theta_0`, the first unstable GD iterate, and advances together

* gradient descent :math:`\theta_{t+1} = \theta_t - \eta\nabla L(\theta_t)`;
* the gradient flow from :math:`\theta_0`, sampled at times :math:`\eta t` (:mod:`.flow`);
* the constrained trajectory :math:`\theta^\dagger_t` (eq. (2), :mod:`.constrained`), with
  :math:`\theta^\dagger_0 = \mathrm{proj}_{\mathcal M}(\theta_0)`;
* the predicted dynamics :math:`\hat v_t` (Definition 7, eq. (6); :math:`\hat v_0 = \theta_0 - \theta^\dagger_0`)
  and, with ``generalized=True``, the generalized ones (App. F, eq. (11)) (:mod:`.predicted`);
* :math:`\beta_{s\to t}` (eq. (10)) for a sparse set of start times :math:`s`;

and records, at every step, the quantities of Fig. 4 and Theorem 1; every few steps the second
eigenvalue at :math:`\theta^\dagger_t` (stopping once :math:`\lambda_2 \ge 1.9/\eta`, App. D.3), the
accuracy, App. E's assumption quantities and App. F's line profiles. Everything runs in float64
(App. D.3: the dynamics are very sensitive to perturbations while :math:`|x|` is small).

Keys of :attr:`Trajectory.arrays` (one entry per recorded step ``t = 0..steps_done`` unless noted):

================================== =====================================================================
``step``                           ``t`` (GD steps since instability)
``gd/loss``, ``gd/sharpness``      :math:`L(\theta_t)`, :math:`S(\theta_t)` (eigen-solve at the iterate)
``gd/x``, ``gd/y``                 :math:`u_t\cdot v_t`, :math:`\nabla S_t^\perp\cdot v_t`, :math:`v_t = \theta_t - \theta^\dagger_t` (Definition 5)
``gd/distance``                    :math:`\|\theta_t - \theta^\dagger_t\|`
``gd/eig_residual``                relative residual :math:`\|Hy - Sy\|/S` of the eigen-solve at the iterate
``predicted/...``                  the same six at :math:`\theta^\dagger_t + \hat v_t` (loss and sharpness evaluated there)
``generalized/...``                the same six for the generalized dynamics (``generalized=True``)
``theorem1/loss``                  :math:`L(\theta^\dagger_t) + \hat x_t^2/\eta` (Theorem 1)
``theorem1/sharpness``             :math:`2/\eta + \hat y_t + (\nabla S_t\cdot u_t)\hat x_t`
``theorem1/deviation``             :math:`\|\theta_t - (\theta^\dagger_t + \hat v_t)\|`
``theorem1_generalized/...``       :math:`L(\theta^\dagger_t + \hat x_t u_t)`, :math:`2/\eta + \hat y_t + F_t''(\hat x_t)`, deviation (App. F.2)
``constrained/loss``, ``/sharpness`` :math:`L(\theta^\dagger_t)`, :math:`S(\theta^\dagger_t)`
``constrained/alpha``, ``/beta``   :math:`\alpha_t`, :math:`\beta_t = \|\nabla S_t^\perp\|^2` (Definition 4)
``constrained/delta``, ``/epsilon`` :math:`\delta_t = \sqrt{2\alpha_t/\beta_t}`, :math:`\epsilon_t = \eta\sqrt{\alpha_t}`
``constrained/grad_norm``          :math:`\|\nabla L_t\|`
``constrained/grad_sharpness_dot_u`` :math:`\nabla S_t\cdot u_t`
``constrained/residual_sharpness`` :math:`S(\theta^\dagger_t) - 2/\eta`
``constrained/residual_grad_u``    :math:`\nabla L_t\cdot u_t`
``constrained/eig_residual``, ``/substeps`` eigen-solve residual, projection sub-steps used
``flow/loss``, ``/sharpness``, ``/distance``, ``/eig_residual`` gradient flow at time :math:`\eta t`; distance to :math:`\theta^\dagger_t`
``cost/matvecs``, ``cost/gradients`` Hessian-vector products (incl. those fused with a gradient) and plain gradients of the step
``cost/<part>``                    the same by part: ``eig_gd``, ``eig_predicted``, ... (Lanczos products), ``eig_constrained``, ``hvps_dagger``, ``flow_gradients``, ``third_derivatives``
``lambda2/step``, ``/value``, ``/residual`` :math:`\lambda_2(\nabla^2L(\theta^\dagger_t))` every ``lambda2_every`` steps (Lanczos on :math:`P^\perp_u H P^\perp_u`)
``accuracy/step``, ``accuracy/value`` training accuracy of GD every ``accuracy_every`` steps
``beta_st/start``                  start times :math:`s` (shape ``(n_starts,)``)
``beta_st/value``                  ``[i, t]`` = :math:`\beta_{s_i\to t}` (NaN where not followed; recorded at step ``t + 1``)
``assumptions/step``, ``assumptions/<name>`` App. E's quantities (:func:`eos.analysis.assumptions.assumption_quantities`) every ``diag_every`` steps
``quadratic/step``, ``/x``, ``/F``, ``/dF``, ``/d2F`` App. F's :math:`F_t` on ``x = quadratic_multiples * delta_t`` (2-D: diag step x grid)
``quadratic/limiting_sharpness``   :math:`2/\eta - F_t'(\delta_t)/\delta_t + F_t''(\delta_t)` (App. F.2)
``vectors/...``                    with ``record_vectors=True``: :math:`\theta^\dagger_t, u_t, \theta_t, \hat v_t` per step (2-D)
================================== =====================================================================

:attr:`Trajectory.meta` holds ``lr``, ``steps``, ``steps_done``, ``stop_reason`` (``"completed"``,
``"lambda2"``, ``"gd_diverged"``, ``"constrained_failed"``), the settings and counters.

Initial condition. As Definition 7 prescribes, :math:`\hat v_0 = v_0 = \theta_0 - \theta^\dagger_0`, so
:math:`\hat x_0 = x_0`. At the first unstable iterate :math:`|x_0|` is tiny (about :math:`10^{-6}\delta`
for the paper's MLP), far below Theorem 1's hypothesis :math:`|\hat x_t| \ge c_1\delta`, and in GD it is
dominated by a slowly varying offset (terms the coupling theorem drops, e.g. the rotation of
:math:`u_t`) rather than by the period-2 oscillation that the instability amplifies. The predicted
blow-up can therefore come a few steps earlier or later than GD's.

Speed (see ``benchmarks/tracking.py``): every eigen-solve is a Lanczos run warm-started from the
extrapolation of its own sequence (quadratic for :math:`u_t`, linear for the loosely solved
points), whose first product is fused with the loss and gradient at its point; the four point
evaluations (GD, predicted, generalized, flow) share one compiled call; projections stop once
their residuals are below tolerance (the first linearised projection is predicted from
:math:`\theta^\dagger_t` plus the extrapolated correction of the last steps, see :mod:`.constrained`,
so one evaluation nearly always suffices); the flow uses an exponential integrator; the HVPs at
:math:`\theta^\dagger_t` are batched; App. F's line derivatives are forward-over-forward; the
expensive diagnostics run every few steps. Resumable bit-for-bit via ``resume_from`` /
``on_checkpoint``. An MLP on fewer examples than input features is cheaper still when tracked in
the row space of its inputs (:mod:`eos.reduction`: pass ``RowSpace.objective`` and reduced
vectors; the recorded numbers are the same up to rounding), which :mod:`eos.experiments` does.
"""

from __future__ import annotations

import json
import math
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eos.dynamics import _ops
from eos.dynamics._lanczos import lanczos_top
from eos.dynamics.constrained import (
    Projection,
    align,
    constrained_step,
    linearised_projection,
    predicted_point,
    project,
)
from eos.dynamics.flow import FLOW_METHODS, flow_interval
from eos.dynamics.gd import (
    check_lr,
    check_point,
    check_steps,
    divergence_message,
    is_diverged,
)
from eos.dynamics.predicted import (
    frame,
    generalized_x_next,
    perp,
    predicted_step,
    propagate_follower,
    theorem1,
)
from eos.objective import line_derivatives

__all__ = ["STOP_REASONS", "Trajectory", "track"]

STOP_REASONS = ("completed", "lambda2", "gd_diverged", "constrained_failed")
_KIND = "eos.dynamics.track"
# Warm starts: every eigen-solve starts from a polynomial extrapolation of its own sequence of
# vectors. The tightly solved u_t of theta-dagger (eig_tol) is extrapolated quadratically (4
# products per step on the benchmark MLP at eig_tol = 1e-8, against 8 linear and 12 from u_t
# itself); the point solves stop at the loose point_tol, and a quadratic extrapolation amplifies
# their error (by 7 against 3 for linear), so they use linear (1.5 products per solve, against
# 2.05 quadratic and 2.0 constant). Rows: constant, linear (2, -1), quadratic (3, -3, 1); terms
# newest first.
_EXTRAPOLATION = np.asarray([[1.0, 0.0, 0.0], [2.0, -1.0, 0.0], [3.0, -3.0, 1.0]])
_DAGGER_ORDER, _POINT_ORDER = 2, 1
_WARM_SLOTS = 4  # point vectors kept: steps t-1..t-4 (same parity: t-2, t-4)


def _extrapolation(available: int, enabled: bool, order: int) -> np.ndarray:
    """Coefficients for a sequence with ``available`` known terms: the highest order up to
    ``order`` (0 constant, 1 linear, 2 quadratic) that they allow."""
    if not enabled or available <= 1:
        return _EXTRAPOLATION[0]
    return _EXTRAPOLATION[min(available - 1, order)]


DEFAULT_QUADRATIC_MULTIPLES = tuple(float(x) for x in np.linspace(-2.0, 2.0, 17))


# ============================================================================ Trajectory
@dataclass
class Trajectory:
    """Per-step arrays of a tracked run (keys in the module docstring) and its metadata."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self.arrays[key]
        except KeyError:
            raise KeyError(
                f"no array {key!r}; available: {', '.join(sorted(self.arrays))}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self.arrays

    def keys(self):
        return self.arrays.keys()

    @property
    def lr(self) -> float:
        return float(self.meta["lr"])

    @property
    def steps_done(self) -> int:
        return int(self.meta.get("steps_done", 0))

    @property
    def stop_reason(self) -> str:
        return str(self.meta.get("stop_reason", ""))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``dict[str, np.ndarray]`` (npz-ready, no pickling): the arrays plus ``meta/<key>``."""
        out = {k: np.asarray(v) for k, v in self.arrays.items()}
        for k, v in self.meta.items():
            plain = isinstance(v, (bool, int, float, str, np.generic, np.ndarray))
            out[f"meta/{k}"] = np.asarray(v if plain else json.dumps(v))
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Trajectory:
        """Inverse of :meth:`to_arrays` (also accepts an open ``np.load`` of a saved npz)."""
        data: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {}
        for k in arrays:
            v = np.asarray(arrays[k])
            if k.startswith("meta/"):
                meta[k[5:]] = _meta_value(v)
            else:
                data[k] = v
        return cls(data, meta)

    def save(self, path: str) -> None:
        """Write an ``.npz`` file (no pickles)."""
        np.savez(path, **self.to_arrays())

    @classmethod
    def load(cls, path: str) -> Trajectory:
        with np.load(path, allow_pickle=False) as f:
            return cls.from_arrays({k: f[k] for k in f.files})


def _meta_value(v: np.ndarray) -> Any:
    if v.ndim == 0:
        item = v.item()
        if isinstance(item, str) and (item[:1] in "[{" or item == "null"):
            try:
                return json.loads(item)
            except ValueError:
                return item
        return item
    return v


# ============================================================================ compiled pieces
_CACHE: dict[tuple, tuple[weakref.ref, dict[str, Callable]]] = {}


def _functions(objective: Any, cfg: tuple) -> dict[str, Callable]:
    """The jitted pieces of a tracked step for ``objective`` and static settings ``cfg``."""
    key = (id(objective), cfg)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is objective:
        return hit[1]
    fns = _build(objective, dict(cfg))
    try:
        ref = weakref.ref(objective)
    except TypeError:  # objects without weakref support: no caching
        return fns
    _CACHE[key] = (ref, fns)
    return fns


def _build(objective: Any, c: dict[str, Any]) -> dict[str, Callable]:
    lr = c["lr"]
    data_jit = _ops.jit(objective)  # the data set is an argument, not a constant
    point_tol, eig_tol, eig_iters = c["point_tol"], c["eig_tol"], c["eig_max_iters"]
    generalized = c["generalized"]

    def point_one(obj, theta, u0):
        loss, g, r = _ops.point_eigen(
            obj, theta, u0, tol=point_tol, max_iters=c["point_max_iters"],
            restarts=c["eig_restarts"],
        )  # fmt: skip
        return loss, g, r.value, r.vector, r.matvecs, r.residual

    point = data_jit(point_one)

    @data_jit
    def points(obj, dagger, gd_theta, pred_v, gen_v, flow_theta, history, coef):
        """:func:`point` at the GD, predicted, (generalized) and flow points, one after another
        in one call, each warm-started from ``sum_j coef[i, j] history[i][j]`` (the last vectors
        of its own sequence, newest first), normalised. (Vmapping the solves batches the
        products but runs every solve as long as the slowest; on the benchmark MLP the
        sequential map is 15% faster: the solves at the oscillating iterates need restarts near
        eigenvalue crossings while the flow's converge in one or two products. Skipping the
        gradient at the predicted points saves nothing: the compiler shares the primal pass
        with the Lanczos products, and a run-time branch costs 50 ms.)"""
        thetas = [gd_theta, dagger + pred_v] + ([dagger + gen_v] if generalized else [])
        U = jnp.stack([jnp.stack(h) for h in history])
        W = jnp.einsum("ij,ijd->id", coef, U)
        W = W / jnp.linalg.norm(W, axis=-1, keepdims=True)
        return jax.lax.map(lambda a: point_one(obj, *a), (jnp.stack(thetas + [flow_theta]), W))

    @data_jit
    def line(obj, theta, u, v):
        """At theta + x u, x = u.v: L, u.grad L and u.H u (App. F's F_t, F_t', F_t'')."""
        return line_derivatives(obj.value, theta + jnp.dot(u, v) * u, u)

    @data_jit
    def advance_flow(obj, theta, g, S, u):
        return flow_interval(
            obj.grad, theta, lr, grad0=g, sharpness=S, u=u,
            method=c["flow_method"], courant=c["flow_courant"],
        )  # fmt: skip

    @data_jit
    def advance_dagger(obj, P, u_prev, coef, corr1, corr2):
        """theta-dagger_{t+1}; ``u_prev``: ``(u_{t-1}, u_{t-2})`` stacked, ``coef``: the
        extrapolation coefficients of ``(u_t, u_{t-1}, u_{t-2})`` for the warm start;
        ``corr1``, ``corr2``: the corrections that the sub-steps added to the predicted point
        at the last two steps (their extrapolation is the first guess). Returns ``P1``, the
        correction of this step and ``(u_t, u_{t-1})`` stacked."""
        warm = _ops.unit(coef[0] * P.u + coef[1] * u_prev[0] + coef[2] * u_prev[1])
        offset = 2 * corr1 - corr2 if c["extrapolate"] else corr1
        P1 = constrained_step(
            obj, P, lr, substeps=c["substeps"], tol=c["proj_tol"], eig_tol=eig_tol,
            eig_max_iters=eig_iters, eig_restarts=c["eig_restarts"], adaptive=c["adaptive"],
            predictor=c["predictor"],
            fresh_direction=c["fresh_direction"], u_warm=warm, eig_tol_first=c["eig_tol_first"],
            offset=offset if c["predictor"] else None,
        )  # fmt: skip
        P1 = P1._replace(u=align(P1.u, P.u))
        if c["predictor"]:
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

    @data_jit
    def initial_projection(obj, theta, u0):
        return project(
            obj, theta, lr, u0, substeps=2 * max(c["substeps"], 3),
            tol=min(c["proj_tol"], 1e-9), eig_tol=min(eig_tol, 1e-10),
            eig_max_iters=max(eig_iters, 32), adaptive=True,
        )  # fmt: skip

    @data_jit
    def dagger_hvps(obj, theta, u, rows):
        """``H P_u^perp v`` for every vector ``v`` of ``rows`` at theta (one primal pass)."""
        V = jnp.stack(rows)
        return _ops.hvps(obj, theta, V - (V @ u)[:, None] * u[None, :])

    @data_jit
    def lambda2(obj, theta, u, v0):
        """Top eigenpair of P H P, P = I - u u^T: the second eigenvalue (u the top vector)."""

        def deflated(v):
            w = obj.hvp(theta, v - jnp.dot(u, v) * u)
            return w - jnp.dot(u, w) * u

        r = lanczos_top(deflated, perp(v0, u), tol=c["lambda2_tol"], max_iters=c["lambda2_iters"])
        return r.value, r.vector, r.residual, r.matvecs

    @data_jit
    def accuracy(obj, theta):
        return obj.accuracy(theta)

    @jax.jit
    def records(P, gd, pred, gen, ln, flow):
        """Every per-step scalar of the module table, on device, from the evaluations."""
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

    @jax.jit
    def update(P, P1, gd_theta, gd_grad, pred_v, pred_Hv, gen_v, gen_Hv, line_gu, R, HR):
        """GD step, predicted updates (eq. (6), eq. (11)) and the beta_{s->t} followers
        (``R``, ``HR``: tuples of their vectors and products, ``None`` in ``HR`` for a
        follower started at this step)."""
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
        R_new = tuple(
            r if hr is None else propagate_follower(r, P.u, hr, lr) for r, hr in zip(R, HR)
        )
        gS_perp1 = perp(P1.grad_sharpness, P1.u)
        betas = jnp.asarray([jnp.dot(r, gS_perp1) for r in R_new], gS_perp1.dtype)
        return gd_new, pred_new, gen_new, R_new, betas

    fns = dict(
        point=point, points=points, line=line, advance_flow=advance_flow,
        advance_dagger=advance_dagger,
        initial_projection=initial_projection, dagger_hvps=dagger_hvps,
        lambda2=lambda2, accuracy=accuracy, records=records, update=update,
    )  # fmt: skip

    if c["diagnostics"]:
        from eos.analysis.assumptions import assumption_quantities, initial_warm
        from eos.analysis.quadratic import line_profile

        multiples = np.asarray(c["quadratic_multiples"], dtype=np.float64)

        @data_jit
        def assumptions(obj, theta, u, g, gS, v, warm):
            return assumption_quantities(
                obj, theta, u=u, grad_loss=g, grad_sharpness=gS, displacement=v, lr=lr,
                warm=warm,
            )  # fmt: skip

        @data_jit
        def profile(obj, theta, u, delta):
            xs = jnp.asarray(multiples, theta.dtype) * delta
            F, dF, d2F = line_profile(obj, theta, u, xs, lr)
            return xs, F, dF, d2F

        fns.update(assumptions=assumptions, profile=profile, initial_warm=initial_warm)
    return fns


# ============================================================================ the tracker
_PROJ_FIELDS = Projection._fields


def track(
    objective: Any,
    theta0: Any,
    *,
    lr: float,
    steps: int,
    generalized: bool = False,
    diag_every: int = 50,
    lambda2_every: int = 10,
    lambda2_threshold: float = 1.9,
    accuracy_every: int = 10,
    beta_every: int = 50,
    beta_max: int = 4,
    diagnostics: bool = True,
    quadratic_multiples: tuple[float, ...] = DEFAULT_QUADRATIC_MULTIPLES,
    u0: Any = None,
    eig_tol: float = 1e-7,
    eig_tol_first: float | None = None,
    point_tol: float = 1e-3,
    eig_max_iters: int = 6,
    eig_restarts: int = 3,
    point_max_iters: int = 6,
    proj_tol: float = 3e-6,
    substeps: int = 3,
    adaptive: bool = True,
    predictor: bool = True,
    fresh_direction: bool = False,
    extrapolate: bool = True,
    flow_method: str = "etd",
    flow_courant: float | None = None,
    lambda2_tol: float = 1e-4,
    lambda2_iters: int = 40,
    divergence_factor: float = 1e3,
    dtype: Any = jnp.float64,
    resume_from: dict[str, np.ndarray] | None = None,
    on_checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
    checkpoint_every: int = 100,
    progress: bool = True,
    timing: bool = False,
    record_vectors: bool = False,
) -> Trajectory:
    """Track GD, gradient flow, :math:`\\theta^\\dagger` and the predicted dynamics (module docstring).

    Args:
        objective: an :class:`eos.objective.Objective`.
        theta0: the first unstable GD iterate (e.g. ``to_instability(...).params``); cast to
            ``dtype`` (float64, App. D.3).
        lr: learning rate ``eta``; steps: GD steps to take (the run records ``steps + 1`` points).
        generalized: also run App. F's generalized predicted dynamics.
        diag_every: spacing of App. E's assumption quantities and App. F's line profiles
            (``diagnostics=False`` turns both off).
        lambda2_every / lambda2_threshold: check :math:`\\lambda_2` at :math:`\\theta^\\dagger_t` this
            often; stop once it reaches ``lambda2_threshold / lr`` (App. D.3: 1.9).
        accuracy_every: spacing of GD's training accuracy.
        beta_every / beta_max: start following :math:`\\beta_{s\\to t}` every ``beta_every`` steps,
            at most ``beta_max`` starts at once (the oldest is dropped).
        quadratic_multiples: the grid of App. F's line profile, in units of :math:`\\delta_t`
            (must contain 1).
        u0: start vector of the first eigen-solve (default: a fixed random vector).
        eig_tol / eig_max_iters: relative residual and Krylov size of the eigen-solves at
            :math:`\\theta^\\dagger` (they define :math:`u_t`, hence :math:`x_t`). The eigenvector
            error is about ``eig_tol * S / (S - lambda_2)``, at most ``20 * eig_tol`` while the
            run lasts (it stops at :math:`\\lambda_2 = 1.9/\\eta`): for the default 1e-7 that is
            2e-6, below ``proj_tol``, so :math:`\\nabla L\\cdot u = 0` is resolved as finely as it
            is imposed. (On the benchmark MLP every recorded quantity agrees with an
            ``eig_tol = 1e-8`` run to 5e-8 of its largest value, and the solves take 3.4 products
            per step instead of 5.3.) A warm-started solve then takes two or three products, so a
            basis of 6 (restarted for the hard steps, ``eig_restarts``) suffices: on the
            benchmark MLP it spends the same products as 8, with a smaller buffer to allocate
            and orthogonalise against.
        point_tol / point_max_iters: the same for the sharpness at the GD, predicted,
            generalized and flow points. The Ritz value is a lower bound of :math:`S` with error
            at most ``point_tol^2 * S^2 / (S - lambda_2)`` (Rayleigh quotient), about 1e-6
            relative for the default 1e-3, more where the top two eigenvalues nearly cross
            (measured on the benchmark MLP over 100 steps: median 7e-7, worst 1.3e-5 against a
            1e-8 solve), far below Theorem 1's sharpness error :math:`O(\\epsilon^2/\\eta)`, about
            1e-3 relative. The residual of every point solve is recorded
            (``<point>/eig_residual``).
        eig_restarts: a solve whose residual is still above its tolerance after the Krylov
            basis is full restarts from its Ritz vector, at most this many times (the hard
            points are near-crossings of the top eigenvalues, where a warm start has little
            weight on the new top vector; without restarts their sharpness can be off by 1%).
        eig_tol_first: looser tolerance of the first eigen-solve of each projection (it only
            steers the first correction; ``None``: ``eig_tol``). The first evaluation is at the
            predicted point plus the extrapolated correction of the last two steps, which is
            usually within ``proj_tol`` already: then that (tight) solve is the only one.
        proj_tol / substeps / adaptive / predictor / fresh_direction: projection settings
            (:func:`eos.dynamics.constrained.constrained_step`). ``proj_tol`` bounds
            :math:`|S - 2/\\eta|/(2/\\eta)` and :math:`|\\nabla L\\cdot u|/\\|\\nabla L\\|` at every
            :math:`\\theta^\\dagger_t` (t >= 1; 1e-9 at t = 0, which fixes :math:`\\hat v_0`); the
            latter moves :math:`\\theta^\\dagger_t` along :math:`u_t` by at most
            ``proj_tol * ||grad L|| / S`` (7e-9 for the paper's MLP at eta = 0.02, against
            Theorem 1's resolution :math:`\\epsilon\\delta \\approx 10^{-3}`).
        extrapolate: warm-start every eigen-solve from the polynomial extrapolation of its own
            sequence instead of the last vector: quadratic ``3 u_t - 3 u_{t-1} + u_{t-2}`` for
            :math:`u_{t+1}` at :math:`\theta^\\dagger`, linear ``2 u_{t-1} - u_{t-2}`` at the flow
            point and, for the oscillating GD / predicted iterates, from the same-parity vectors
            ``2 u_{t-2} - u_{t-4}``; also extrapolate the projection's correction.
        flow_method / flow_courant: gradient-flow integrator (:mod:`eos.dynamics.flow`).
        divergence_factor: GD has diverged when its loss is not finite or
            ``|loss| > divergence_factor * max(|loss at step 0|, 1)``; the run then stops with
            ``stop_reason="gd_diverged"`` and a warning that names the step.
        resume_from / on_checkpoint / checkpoint_every: checkpoint ``dict[str, np.ndarray]`` every
            ``checkpoint_every`` steps; resuming gives bit-for-bit the uninterrupted result.
        record_vectors: also record, at every step, :math:`\\theta^\\dagger_t`, :math:`u_t`,
            :math:`\\theta_t`, :math:`\\hat v_t` (and the generalized :math:`\\hat v_t`) as 2-D arrays
            ``vectors/dagger``, ``vectors/u``, ``vectors/gd``, ``vectors/predicted``,
            ``vectors/generalized`` (small models only: tests, illustrations).
        progress: tqdm bar; timing: record wall-clock seconds and calls per component in
            ``meta["timing_seconds"]`` / ``meta["timing_calls"]`` (synchronising after each
            call; for ``benchmarks/tracking.py``).

    Raises:
        ValueError: bad arguments (``lr <= 0``, ``steps <= 0``, ...), a checkpoint of another
            run, or a start point where the loss is not finite.
    """
    objective = _ops.check_objective(objective)
    lr = check_lr(lr)
    steps = check_steps(steps, "steps")
    for name, val in (("diag_every", diag_every), ("lambda2_every", lambda2_every),
                      ("accuracy_every", accuracy_every), ("beta_every", beta_every),
                      ("checkpoint_every", checkpoint_every), ("substeps", substeps),
                      ("eig_max_iters", eig_max_iters), ("point_max_iters", point_max_iters)):  # fmt: skip
        check_steps(val, name)
    for name, val in (("beta_max", beta_max), ("eig_restarts", eig_restarts)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {val!r}")
    if flow_method not in FLOW_METHODS:
        raise ValueError(
            f"flow_method must be one of {', '.join(FLOW_METHODS)}, got {flow_method!r}"
        )
    if not (isinstance(lambda2_threshold, (int, float)) and 0 < lambda2_threshold):
        raise ValueError(
            f"lambda2_threshold must be a positive number (units of 1/lr), got {lambda2_threshold!r}"
        )
    multiples = tuple(float(m) for m in quadratic_multiples)
    if diagnostics and 1.0 not in multiples:
        raise ValueError(f"quadratic_multiples must contain 1 (x = delta_t), got {multiples}")
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating-point type, got {dtype}")
    theta0 = check_point(theta0, "theta0").astype(dtype)
    if flow_courant is None:
        flow_courant = 2.5 if flow_method == "etd" else 0.5
    flow_courant = float(flow_courant)
    if not flow_courant > 0:
        raise ValueError(f"flow_courant must be positive, got {flow_courant!r}")

    cfg = (
        ("lr", lr), ("point_tol", point_tol), ("eig_tol", eig_tol),
        ("eig_max_iters", int(eig_max_iters)), ("point_max_iters", int(point_max_iters)),
        ("eig_restarts", int(eig_restarts)),
        ("eig_tol_first", eig_tol_first),
        ("proj_tol", proj_tol), ("substeps", int(substeps)),
        ("adaptive", bool(adaptive)), ("predictor", bool(predictor)),
        ("fresh_direction", bool(fresh_direction)), ("flow_method", flow_method),
        ("extrapolate", bool(extrapolate)),
        ("flow_courant", flow_courant), ("lambda2_tol", lambda2_tol),
        ("lambda2_iters", int(lambda2_iters)), ("diagnostics", bool(diagnostics)),
        ("quadratic_multiples", multiples), ("generalized", bool(generalized)),
    )  # fmt: skip
    fns = _functions(objective, cfg)
    settings = dict(
        lr=lr, steps=steps, generalized=bool(generalized), diag_every=int(diag_every),
        lambda2_every=int(lambda2_every), lambda2_threshold=float(lambda2_threshold),
        accuracy_every=int(accuracy_every), beta_every=int(beta_every), beta_max=int(beta_max),
        diagnostics=bool(diagnostics), eig_tol=eig_tol, point_tol=point_tol, proj_tol=proj_tol,
        substeps=int(substeps), adaptive=bool(adaptive), predictor=bool(predictor),
        fresh_direction=bool(fresh_direction), flow_method=flow_method,
        extrapolate=bool(extrapolate),
        flow_courant=flow_courant, dtype=str(dtype), num_params=int(theta0.shape[0]),
        divergence_factor=float(divergence_factor), eig_max_iters=int(eig_max_iters),
        eig_restarts=int(eig_restarts),
        eig_tol_first=eig_tol_first,
        point_max_iters=int(point_max_iters), lambda2_tol=float(lambda2_tol),
        lambda2_iters=int(lambda2_iters), quadratic_multiples=list(multiples),
    )  # fmt: skip
    tracker = _Tracker(objective, fns, settings, multiples, timing)
    tracker.record_vectors = bool(record_vectors)
    if resume_from is None:
        tracker.start(theta0, u0)
    else:
        tracker.restore(resume_from, theta0)

    from eos.progress import progress_bar

    bar = progress_bar(total=steps, initial=tracker.t, desc="tracking", disable=not progress)
    try:
        while True:
            stop = tracker.observe()
            if stop is not None or tracker.t >= steps:
                tracker.stop_reason = stop or "completed"
                break
            tracker.advance()
            bar.update(1)
            if tracker.stop_reason:
                break
            if (
                on_checkpoint is not None
                and tracker.t % checkpoint_every == 0
                and tracker.t < steps
            ):
                on_checkpoint(tracker.checkpoint())
    finally:
        bar.close()
    return tracker.trajectory()


class _Tracker:
    """The state of :func:`track` between steps: arrays on device, records on the host."""

    def __init__(self, objective, fns, settings, multiples, timing):
        self.objective = objective
        self.f = fns
        self.s = settings
        self.lr = settings["lr"]
        self.gen = settings["generalized"]
        self.multiples = np.asarray(multiples)
        self.i_delta = int(np.argmin(np.abs(self.multiples - 1.0)))
        self.timing = timing
        self.times: dict[str, float] = {}  # seconds per component (timing=True)
        self.calls: dict[str, int] = {}
        self.rec: dict[str, list] = {}
        self.sparse: dict[str, list] = {}
        self.stop_reason = ""
        self.stop_detail = ""
        self.t = 0
        self.record_vectors = False

    # ------------------------------------------------------------------ helpers
    def _call(self, name: str, fn: Callable, *args):
        if not self.timing:
            return fn(*args)
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0
        self.calls[name] = self.calls.get(name, 0) + 1
        return out

    def _sparse(self, key: str, value) -> None:
        self.sparse.setdefault(key, []).append(np.asarray(value, dtype=np.float64))

    # ------------------------------------------------------------------ start
    def start(self, theta0: jax.Array, u0: Any) -> None:
        f = self.f
        loss0 = float(self.objective.value(theta0))
        if not math.isfinite(loss0):
            raise ValueError("the loss at theta0 is not finite; pass the first unstable GD iterate")
        if u0 is None:
            # Cold start: restarted Lanczos (each call warm-starts from the last Ritz vector).
            u0 = jax.random.normal(jax.random.PRNGKey(0), theta0.shape, theta0.dtype)
            for _ in range(50):
                *_, u0, _, res = self._call("cold_start", f["point"], theta0, u0)
                if float(res) <= self.s["point_tol"]:
                    break
        u0 = jnp.asarray(u0, theta0.dtype)
        P = self._call("initial_projection", f["initial_projection"], theta0, u0)
        v0 = theta0 - P.theta
        self.P = P
        self.gd_theta = theta0
        self.flow_theta = theta0
        self.pred_v = v0
        self.gen_v = v0
        self.warm = {k: [P.u] * _WARM_SLOTS for k in ("gd", "predicted", "generalized", "flow")}
        self.u_prev = jnp.stack([P.u, P.u])
        self.corr1 = self.corr2 = jnp.zeros_like(theta0)
        self.l2_warm = jax.random.normal(jax.random.PRNGKey(1), theta0.shape, theta0.dtype)
        self.assump_warm = None
        self.followers: list[dict[str, Any]] = []  # {"start", "r", "Hr"}
        self.beta_starts: list[int] = []
        self.beta_values: dict[int, dict[int, float]] = {}
        self.gd_loss0 = loss0
        self.t = 0
        self.flow_grads = 0
        self._maybe_start_follower()
        self._hvps_at_dagger()

    def _maybe_start_follower(self) -> None:
        if self.s["beta_max"] == 0 or self.t % self.s["beta_every"] != 0:
            return
        self.followers.append(
            {"start": self.t, "r": perp(self.P.grad_sharpness, self.P.u), "Hr": None}
        )
        self.beta_starts.append(self.t)
        self.beta_values[self.t] = {}
        if len(self.followers) > self.s["beta_max"]:
            self.followers.pop(0)

    def _hvps_at_dagger(self) -> None:
        """``H_t P^perp`` of v_pred, v_gen and the followers, batched at theta-dagger_t."""
        rows = [self.pred_v] + ([self.gen_v] if self.gen else [])
        old = [fl for fl in self.followers if fl["start"] < self.t]  # not at their start step
        rows += [fl["r"] for fl in old]
        H = self._call("hvps_dagger", self.f["dagger_hvps"], self.P.theta, self.P.u, tuple(rows))
        self.pred_Hv = H[0]
        self.gen_Hv = H[1] if self.gen else H[0]
        k0 = 2 if self.gen else 1
        for i, fl in enumerate(old):
            fl["Hr"] = H[k0 + i]
        self.n_hvps = len(rows)

    # ------------------------------------------------------------------ one observation
    def observe(self) -> str | None:
        """Record everything at step t; return a stop reason or None."""
        f, s, lr, P, t = self.f, self.s, self.lr, self.P, self.t
        call = self._call

        # Loss, gradient and sharpness at the GD, predicted, generalized and flow points in
        # one batched call; each warm-started from the extrapolation of its own sequence
        # (same parity for the oscillating iterates: steps t-2 and t-4).
        names = ["gd", "predicted"] + (["generalized"] if self.gen else []) + ["flow"]
        # Linear extrapolation (_POINT_ORDER = 1): the last two terms of each sequence.
        history, coefs = [], []
        for name in names:
            slots = self.warm[name]  # vectors of steps t-1, ..., t-4 (newest first)
            if name == "flow":
                seq, known = slots[0:2], t
            elif t < 2:  # no earlier iterate of the same parity: the last vector
                seq, known = slots[0:2], 0
            else:
                seq, known = slots[1:4:2], t // 2
            history.append(tuple(seq))
            coefs.append(_extrapolation(known, s["extrapolate"], _POINT_ORDER)[:2])
        Ls, Gs, Ss, Us, Ms, Rs = call(
            "points", f["points"], P.theta, self.gd_theta, self.pred_v, self.gen_v,
            self.flow_theta, tuple(history), np.stack(coefs).astype(P.theta.dtype),
        )  # fmt: skip
        for i, name in enumerate(names):
            self.warm[name].insert(0, Us[i])
            self.warm[name].pop()
        gd_L, self.gd_grad, gd_S = Ls[0], Gs[0], Ss[0]
        pL, pS = Ls[1], Ss[1]
        gen = ln = None
        if self.gen:
            gen = (self.gen_v, Ls[2], Ss[2])
            ln = call("line", f["line"], P.theta, P.u, self.gen_v)
            self.line_gu = ln[1]
        fL, self.flow_grad, self.flow_S, self.flow_u = Ls[-1], Gs[-1], Ss[-1], Us[-1]
        mv = [Ms[i] for i in range(len(names))]
        rec = call(
            "records", f["records"], P, (self.gd_theta, gd_L, gd_S), (self.pred_v, pL, pS),
            gen, ln, (self.flow_theta, fL, self.flow_S),
        )  # fmt: skip
        rec, mv, eig_res = jax.device_get((rec, mv, Rs))
        loss = float(rec["gd/loss"])
        if is_diverged(loss, self.gd_loss0, s["divergence_factor"]) or not math.isfinite(
            float(rec["gd/sharpness"])
        ):
            self.stop_detail = divergence_message("gradient descent", t, loss, lr, self.gd_loss0)
            warnings.warn(self.stop_detail + " Tracking stopped.", stacklevel=3)
            return "gd_diverged"
        if not bool(rec.pop("_dagger_finite")):
            self.stop_detail = f"the constrained trajectory became non-finite at step {t}"
            warnings.warn(self.stop_detail + "; tracking stopped.", stacklevel=3)
            return "constrained_failed"
        self.rec.setdefault("step", []).append(t)
        if self.record_vectors:
            vecs = {"dagger": P.theta, "u": P.u, "gd": self.gd_theta, "predicted": self.pred_v}
            if self.gen:
                vecs["generalized"] = self.gen_v
            for k, val in vecs.items():
                self._sparse(f"vectors/{k}", val)
        for k, val in rec.items():
            self.rec.setdefault(k, []).append(float(val))
        for name, r in zip(names, eig_res):
            self.rec.setdefault(f"{name}/eig_residual", []).append(float(r))
        # Cost accounting (products actually computed).
        cost = {f"eig_{name}": int(m) for name, m in zip(names, mv)}
        cost["eig_constrained"] = int(P.matvecs)
        cost["hvps_dagger"] = self.n_hvps
        cost["flow_gradients"] = self.flow_grads
        cost["third_derivatives"] = int(P.gradients) if s["fresh_direction"] else 1
        for k, val in cost.items():
            self.rec.setdefault(f"cost/{k}", []).append(val)
        matvecs = (cost["eig_constrained"] + cost["hvps_dagger"] + sum(int(m) for m in mv)
                   + (1 if self.gen else 0))  # fmt: skip
        grads = self.flow_grads

        stop = None
        if t % s["accuracy_every"] == 0:
            self._sparse("accuracy/step", t)
            self._sparse("accuracy/value", call("accuracy", f["accuracy"], self.gd_theta))
        if t % s["lambda2_every"] == 0:
            lam2, self.l2_warm, res2, mv2 = call(
                "lambda2", f["lambda2"], P.theta, P.u, self.l2_warm
            )
            lam2 = float(lam2)
            matvecs += int(mv2)
            self._sparse("lambda2/step", t)
            self._sparse("lambda2/value", lam2)
            self._sparse("lambda2/residual", res2)
            if lam2 >= s["lambda2_threshold"] / lr:
                self.stop_detail = (
                    f"lambda_2 = {lam2:.6g} >= {s['lambda2_threshold']:g}/lr at step {t} "
                    "(App. D.3: a second eigenvalue is about to become unstable)"
                )
                stop = "lambda2"
        if s["diagnostics"] and t % s["diag_every"] == 0:
            self._diagnostics(float(rec["constrained/delta"]))
        self.rec.setdefault("cost/matvecs", []).append(matvecs)
        self.rec.setdefault("cost/gradients", []).append(grads)
        return stop

    def _diagnostics(self, delta: float) -> None:
        P, t, f = self.P, self.t, self.f
        if self.assump_warm is None:
            self.assump_warm = f["initial_warm"](P.theta, u=P.u, grad_sharpness=P.grad_sharpness)
        q, self.assump_warm = self._call(
            "assumptions", f["assumptions"], P.theta, P.u, P.grad, P.grad_sharpness,
            self.pred_v, self.assump_warm,
        )  # fmt: skip
        self._sparse("assumptions/step", t)
        for k, val in q.items():
            self._sparse(f"assumptions/{k}", val)
        xs, F, dF, d2F = self._call(
            "quadratic", f["profile"], P.theta, P.u, jnp.asarray(delta, P.theta.dtype)
        )
        from eos.analysis.quadratic import limiting_sharpness

        i = self.i_delta
        self._sparse("quadratic/step", t)
        self._sparse("quadratic/delta", delta)
        self._sparse("quadratic/x", xs)
        self._sparse("quadratic/F", F)
        self._sparse("quadratic/dF", dF)
        self._sparse("quadratic/d2F", d2F)
        self._sparse(
            "quadratic/limiting_sharpness",
            limiting_sharpness(float(dF[i]), float(d2F[i]), delta, self.lr),
        )

    # ------------------------------------------------------------------ one step
    def advance(self) -> None:
        f, P = self.f, self.P
        self.flow_theta, flow_grads = self._call(
            "flow", f["advance_flow"], self.flow_theta, self.flow_grad, self.flow_S, self.flow_u
        )
        self.flow_grads = int(flow_grads)
        coef = _extrapolation(self.t + 1, self.s["extrapolate"], _DAGGER_ORDER)
        coef = coef.astype(P.theta.dtype)
        P1, corr, self.u_prev = self._call(
            "constrained", f["advance_dagger"], P, self.u_prev, coef, self.corr1, self.corr2
        )
        # (no extrapolation from the zero initial value: at the first step both are set)
        self.corr1, self.corr2 = corr, (self.corr1 if self.t > 0 else corr)
        R = tuple(fl["r"] for fl in self.followers)
        HR = tuple(fl["Hr"] for fl in self.followers)
        self.gd_theta, self.pred_v, gen_v, R, betas = self._call(
            "update", f["update"], P, P1, self.gd_theta, self.gd_grad, self.pred_v, self.pred_Hv,
            self.gen_v, self.gen_Hv, self.line_gu if self.gen else np.zeros((), P.theta.dtype),
            R, HR,
        )  # fmt: skip
        if self.gen:
            self.gen_v = gen_v
        betas = np.asarray(betas)
        for i, fl in enumerate(self.followers):
            fl["r"] = R[i]
            self.beta_values[fl["start"]][self.t] = float(betas[i])
        self.P = P1
        self.t += 1
        self._maybe_start_follower()
        self._hvps_at_dagger()

    # ------------------------------------------------------------------ results
    def trajectory(self) -> Trajectory:
        n = len(self.rec.get("step", []))
        arrays: dict[str, np.ndarray] = {}
        for k, vals in self.rec.items():
            arrays[k] = np.asarray(vals[:n], dtype=np.float64)
        for k in ["step", "constrained/substeps"] + [k for k in arrays if k.startswith("cost/")]:
            if k in arrays:
                arrays[k] = arrays[k].astype(np.int64)
        for k, vals in self.sparse.items():
            arrays[k] = np.stack(vals)
        for k in ("lambda2/step", "accuracy/step", "assumptions/step", "quadratic/step"):
            if k in arrays:
                arrays[k] = arrays[k].astype(np.int64)
        starts = np.asarray(self.beta_starts, dtype=np.int64)
        values = np.full((len(starts), n), np.nan)
        for i, s0 in enumerate(starts):
            for tt, val in self.beta_values.get(int(s0), {}).items():
                if tt < n:
                    values[i, tt] = val
        arrays["beta_st/start"] = starts
        arrays["beta_st/value"] = values
        meta = dict(self.s)
        meta.update(
            steps_done=max(n - 1, 0),
            stop_reason=self.stop_reason or "completed",
            stop_detail=self.stop_detail,
            threshold=2.0 / self.lr,
        )
        if self.timing:
            meta["timing_seconds"] = dict(self.times)
            meta["timing_calls"] = dict(self.calls)
        return Trajectory(arrays, meta)

    # ------------------------------------------------------------------ checkpoints
    def _vectors(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self._vector_names()}
        out.update(u_prev=self.u_prev, corr1=self.corr1, corr2=self.corr2)
        for name, slots in self.warm.items():
            for i, w in enumerate(slots):
                out[f"warm_{name}_{i}"] = w
        return out

    def checkpoint(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            "kind": np.asarray(_KIND),
            "settings": np.asarray(json.dumps(self.s, sort_keys=True)),
            "step": np.asarray(self.t, np.int64),
            "gd_loss0": np.asarray(self.gd_loss0, np.float64),
            "flow_grads": np.asarray(self.flow_grads, np.int64),
        }
        for name in _PROJ_FIELDS:
            out[f"P/{name}"] = np.asarray(getattr(self.P, name))
        for k, val in self._vectors().items():
            out[f"v/{k}"] = np.asarray(val)
        if self.assump_warm is not None:
            for k, val in self.assump_warm.items():
                out[f"assump_warm/{k}"] = np.asarray(val)
        for i, fl in enumerate(self.followers):
            out[f"follower/{i}/start"] = np.asarray(fl["start"], np.int64)
            out[f"follower/{i}/r"] = np.asarray(fl["r"])
            if fl["Hr"] is not None:
                out[f"follower/{i}/Hr"] = np.asarray(fl["Hr"])
        out["beta/starts"] = np.asarray(self.beta_starts, np.int64)
        for s0, d in self.beta_values.items():
            out[f"beta/values/{s0}/t"] = np.asarray(list(d.keys()), np.int64)
            out[f"beta/values/{s0}/v"] = np.asarray(list(d.values()), np.float64)
        for k, vals in self.rec.items():
            out[f"rec/{k}"] = np.asarray(vals, np.float64)
        for k, vals in self.sparse.items():
            out[f"sparse/{k}"] = np.stack(vals)
        return out

    def restore(self, st: Mapping[str, np.ndarray], theta0: jax.Array) -> None:
        if "kind" not in st or str(np.asarray(st["kind"])) != _KIND:
            raise ValueError(
                "resume_from is not a track() checkpoint; pass the dict that on_checkpoint received"
            )
        saved = json.loads(str(np.asarray(st["settings"])))
        now = json.loads(json.dumps(self.s, sort_keys=True))
        diff = sorted(k for k in now if saved.get(k) != now[k] and k != "steps")
        if diff:
            raise ValueError(
                f"resume_from was saved with different settings {diff}: saved "
                f"{[saved.get(k) for k in diff]}, now {[now[k] for k in diff]}"
            )
        if np.asarray(st["v/gd_theta"]).shape != theta0.shape:
            raise ValueError("resume_from holds parameters of a different size than theta0")
        dt = theta0.dtype

        def arr(key):
            a = np.asarray(st[key])
            return jnp.asarray(a, dt) if a.dtype.kind == "f" else jnp.asarray(a)

        self.P = Projection(*(arr(f"P/{name}") for name in _PROJ_FIELDS))
        self.t = int(st["step"])
        self.gd_loss0 = float(st["gd_loss0"])
        for k in self._vector_names():
            setattr(self, k, arr(f"v/{k}"))
        self.warm = {}
        for name in ("gd", "predicted", "generalized", "flow"):
            self.warm[name] = [arr(f"v/warm_{name}_{i}") for i in range(_WARM_SLOTS)]
        self.u_prev = arr("v/u_prev")
        self.corr1, self.corr2 = arr("v/corr1"), arr("v/corr2")
        aw = {k[len("assump_warm/") :]: arr(k) for k in st if k.startswith("assump_warm/")}
        self.assump_warm = aw or None
        self.followers = []
        i = 0
        while f"follower/{i}/start" in st:
            hr = f"follower/{i}/Hr"
            self.followers.append(
                {"start": int(st[f"follower/{i}/start"]), "r": arr(f"follower/{i}/r"),
                 "Hr": arr(hr) if hr in st else None}
            )  # fmt: skip
            i += 1
        self.beta_starts = [int(x) for x in np.asarray(st["beta/starts"])]
        self.beta_values = {}
        for s0 in self.beta_starts:
            ts = np.asarray(st[f"beta/values/{s0}/t"])
            vs = np.asarray(st[f"beta/values/{s0}/v"])
            self.beta_values[s0] = {int(a): float(b) for a, b in zip(ts, vs)}
        self.rec = {k[4:]: list(np.asarray(st[k]).tolist()) for k in st if k.startswith("rec/")}
        self.sparse = {k[7:]: list(np.asarray(st[k])) for k in st if k.startswith("sparse/")}
        self.n_hvps = (2 if self.gen else 1) + sum(
            1 for fl in self.followers if fl["start"] < self.t
        )
        self.flow_grads = int(st["flow_grads"])

    @staticmethod
    def _vector_names() -> tuple[str, ...]:
        return (
            "gd_theta", "flow_theta", "pred_v", "pred_Hv", "gen_v", "gen_Hv", "l2_warm",
        )  # fmt: skip
