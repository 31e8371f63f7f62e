r"""The central-flow runs (beyond the paper; :mod:`eos.dynamics.central`) as ``"central"``
experiments, and their phase.

A ``"central"`` configuration shares its objective, learning rate and phase 1 (float32 GD to
instability, App. D.3, cached under :data:`eos.experiments.runner.PHASE1_FIELDS`) with the run
it is compared against; from the first unstable iterate :math:`\theta_0` it advances together,
in float64 and for ``track_steps`` GD steps,

* gradient descent :math:`\theta_t` and its time average
  :math:`\bar\theta_t = (\theta_{t-1} + 2\theta_t + \theta_{t+1})/4` (the mean of the two
  consecutive midpoints, which cancels a period-2 oscillation);
* the constrained trajectory :math:`\theta^\dagger_t` (eq. (2), :func:`eos.dynamics.project`,
  :func:`eos.dynamics.constrained_step`);
* the gradient flow from :math:`\theta_0` at time :math:`\eta t` (the central flow's
  Runge-Kutta pair and tolerances);
* the central flow :math:`w(\eta t)` from :math:`\theta_0` with the ``k`` top eigenvalues
  (:func:`eos.dynamics.central.central_flow`, eigen-solves to relative residual ``eig_tol``),

and records their distances, losses, sharpnesses, :math:`\sigma^2`, :math:`\delta_t^2 =
2\alpha_t/\beta_t` at :math:`\theta^\dagger_t` and GD's displacement
:math:`x^{(i)}_t = u_i(w)\cdot(\theta_t - w)` along the central flow's eigenvectors.

Registered runs (:func:`central_experiments`):

* ``central-mlp``: the MLP run of Fig. 1 / Fig. 4 (``mlp-mse-cifar10-lr0.02``'s configuration,
  one eigenvalue at the edge, ``k = 1`` tracked: the second is 25% below :math:`2/\eta` at
  instability, and a second tracked pair doubles the cost of every eigen-solve);
* ``central-fig5``: the run of Fig. 5 (``fig5-multiple-unstable``'s objective and learning
  rate), several eigenvalues at the edge. Its cost grows with their number: two eigenvalues
  on :math:`2/\eta` at once make the diagonal restriction's right-hand side non-smooth
  (:mod:`eos.dynamics.central`), and the adaptive steps fall to :math:`\eta/6` (three:
  :math:`\eta/20`); ``quick`` stops at 200 steps, before the third joins (about step 210).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from eos.experiments.config import Experiment, ExperimentConfig
from eos.experiments.implications import implications_experiments
from eos.experiments.settings import app_experiments

__all__ = ["BASES", "CENTRAL_STEPS", "central_experiments", "central_phase"]

#: GD steps after instability per profile and run.
CENTRAL_STEPS = {
    "central-mlp": {"smoke": 8, "quick": 120, "paper": 600},
    "central-fig5": {"smoke": 12, "quick": 200, "paper": 3000},
}
_K = {"central-mlp": 1, "central-fig5": 4}
_EIG_TOL = 1e-7
_RESTORING = 1.0
_GROUP = "central"


#: The registered run each central run is compared against.
BASES = {"central-mlp": "mlp-mse-cifar10-lr0.02", "central-fig5": "fig5-multiple-unstable"}


def _resolver(name: str) -> Callable[[str], ExperimentConfig]:
    def resolve(profile: str) -> ExperimentConfig:
        bases = {**app_experiments(), **implications_experiments()}
        return _derive(bases[BASES[name]].config(profile), name, profile)

    return resolve


def _derive(base: ExperimentConfig, name: str, profile: str) -> ExperimentConfig:
    """``base`` (a registered run) as a ``"central"`` run: same objective, learning rate and
    phase 1; its own steps, ``k`` and eigen-solver tolerance."""
    defaults = {f.name: f.default for f in dataclasses.fields(ExperimentConfig)}
    keep = ("model", "model_kwargs", "dataset", "n", "data_kwargs", "pool", "criterion", "lr",
            "seed", "max_steps", "chunk_size", "row_space")  # fmt: skip
    fields = {k: getattr(base, k) for k in keep}
    fields.update(model_kwargs=base.model_kw, data_kwargs=base.data_kw)
    return ExperimentConfig(
        name=name,
        kind="central",
        track_steps=CENTRAL_STEPS[name][profile],
        k=_K[name],
        eig_tol=_EIG_TOL,
        checkpoint_every=max(1, CENTRAL_STEPS[name][profile] // 6),
        generalized=defaults["generalized"],
        **fields,
    )


def central_experiments() -> dict[str, Experiment]:
    """The central-flow chapter's runs."""
    entries = [
        Experiment("central-mlp", "central flow vs GD, theta-dagger and gradient flow (MLP)",
                   "beyond the paper; Fig. 1, Fig. 4's run", (_GROUP,), _resolver("central-mlp")),
        Experiment("central-fig5", "central flow with several eigenvalues at the edge",
                   "beyond the paper; Sec. 8.2, Fig. 5's run", (_GROUP,), _resolver("central-fig5")),
    ]  # fmt: skip
    return {e.name: e for e in entries}


# ============================================================================ the phase
class _Companions:
    """GD, its time average, theta-dagger and gradient flow beside the central flow
    (:class:`eos.dynamics.central.Companion`)."""

    def __init__(self, objective: Any, theta0, u0, lr: float, settings) -> None:
        import jax.numpy as jnp

        from eos.dynamics import _ops, constrained_step, project

        self.obj, self.lr, self.settings = objective, lr, settings
        jit = _ops.jit(objective)
        self._grad = jit(lambda o, p: o.value_and_grad(p))
        # theta-dagger to the flow's eigen tolerance (the projection's own default, 1e-10, costs
        # twice the Lanczos steps for changes far below what the chapter compares)
        tol = settings.eig_tol
        self._step = jit(lambda o, cur: constrained_step(o, cur, lr, tol=tol, eig_tol=tol,
                                                         eig_tol_first=1e-4))  # fmt: skip
        theta0 = jnp.asarray(theta0, jnp.float64)
        self.prev = None
        self.gd = np.asarray(theta0)
        self.dagger = jit(lambda o, p, u: project(o, p, lr, u))(theta0, jnp.asarray(u0))
        self.flow, self.h = np.asarray(theta0), float("nan")

    def _flow_advance(self) -> None:
        import scipy.integrate

        def rhs(_tau, p):
            return -np.asarray(self._grad(p)[1])

        first = None if not np.isfinite(self.h) else min(1.2 * self.h, self.lr)
        st = self.settings
        sol = scipy.integrate.solve_ivp(rhs, (0.0, self.lr), self.flow, method=st.method,
                                        rtol=st.rtol, atol=st.atol, first_step=first)  # fmt: skip
        self.h = float(np.diff(sol.t).max())
        self.flow = sol.y[:, -1]

    def record(self, t: int, point) -> dict[str, Any]:
        w, lr = point.w, self.lr
        loss, g = (np.asarray(a) for a in self._grad(self.gd))
        nxt = self.gd - lr * g
        avg = np.full_like(w, np.nan) if self.prev is None else (self.prev + 2 * self.gd + nxt) / 4
        d = self.dagger
        dg, gS, u = (np.asarray(a) for a in (d.theta, d.grad_sharpness, d.u))
        gS_perp = gS - np.dot(u, gS) * u
        alpha = -float(np.dot(np.asarray(d.grad), gS))
        flow_loss = float(self._grad(self.flow)[0])
        dist = np.linalg.norm
        row = {
            "gd/loss": float(loss),
            "gd/x": point.U.T @ (self.gd - w),
            "constrained/loss": float(d.loss),
            "constrained/sharpness": float(d.sharpness),
            "constrained/delta2": 2 * alpha / float(np.dot(gS_perp, gS_perp)),
            "flow/loss": flow_loss,
            "distance/gd": dist(self.gd - w),
            "distance/gd_average": dist(avg - w),
            "distance/constrained": dist(dg - w),
            "distance/flow": dist(self.flow - w),
            "distance/gd_average_constrained": dist(avg - dg),
            "distance/gd_average_flow": dist(avg - self.flow),
        }
        self.prev, self.gd = self.gd, nxt
        self.dagger = self._step(self.dagger)
        self._flow_advance()
        return row

    def state(self) -> dict[str, np.ndarray]:
        out = {f"companion/dagger/{k}": np.asarray(v) for k, v in self.dagger._asdict().items()}
        out.update({"companion/gd": self.gd, "companion/flow": self.flow,
                    "companion/h": np.asarray(self.h),
                    "companion/prev": self.gd * np.nan if self.prev is None else self.prev})  # fmt: skip
        return out

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        import jax.numpy as jnp

        from eos.dynamics import Projection

        fields = {k: jnp.asarray(state[f"companion/dagger/{k}"]) for k in Projection._fields}
        self.dagger = Projection(**fields)
        self.gd, self.flow = np.asarray(state["companion/gd"]), np.asarray(state["companion/flow"])
        prev = np.asarray(state["companion/prev"])
        self.prev = None if np.isnan(prev).all() else prev
        self.h = float(state["companion/h"])


def _start_vectors(theta_star, u_star, k: int, seed: int) -> np.ndarray:
    """``(d, k)``: ``u_star`` and ``k - 1`` random directions (the solver orthonormalises)."""
    rng = np.random.default_rng(seed)
    U0 = rng.standard_normal((len(theta_star), k))
    U0[:, 0] = u_star
    return U0


def central_phase(config: ExperimentConfig, ws, theta_star, u_star, ckpt, state, progress):
    """The phase of a ``"central"`` run (module docstring) -> (arrays, meta)."""
    from eos.dynamics.central import CentralSettings, central_flow

    lr = config.lr
    theta0 = np.asarray(theta_star, np.float64)
    settings = CentralSettings(restoring=_RESTORING, eig_tol=config.eig_tol)
    companion = _Companions(ws.objective, theta0, u_star, lr, settings)
    flow = central_flow(
        ws.objective,
        theta0,
        lr=lr,
        steps=config.track_steps,
        U0=_start_vectors(theta0, u_star, config.k, config.seed),
        settings=settings,
        companion=companion,
        progress=progress,
        resume_from=state,
        on_checkpoint=ckpt.save,
        checkpoint_every=config.checkpoint_every,
    )
    arrays = {k: np.asarray(v) for k, v in flow.arrays.items()}
    meta = dict(flow.meta, threshold=config.threshold, dtype="float64")
    return arrays, meta
