r"""The state of :func:`eos.dynamics.track` between steps, and one step of it.

:class:`Tracker` holds the arrays on the device (GD's :math:`\theta_t`, the projection state of
:math:`\theta^\dagger_t`, the predicted and generalized :math:`\hat v_t`, the flow, the warm-start
vectors of every eigen-solve, the :math:`\beta_{s\to t}` followers) and the records on the host.
:meth:`Tracker.observe` records step ``t`` (the table of :mod:`eos.dynamics.tracking`) and
:meth:`Tracker.advance` moves everything to ``t + 1``, calling the compiled pieces of
:mod:`eos.dynamics._kernels`. Checkpoints: :mod:`eos.dynamics._checkpoint`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eos.dynamics.gd import divergence_message, is_diverged
from eos.dynamics.predicted import perp
from eos.dynamics.settings import TrackSettings

__all__ = ["WARM_SLOTS", "Tracker"]

# Warm starts: every eigen-solve starts from a polynomial extrapolation of its own sequence of
# vectors. The tightly solved u_t of theta-dagger (eig_tol) is extrapolated quadratically (4
# products per step on the benchmark MLP at eig_tol = 1e-8, against 8 linear and 12 from u_t
# itself); the point solves stop at the loose point_tol, and a quadratic extrapolation amplifies
# their error (by 7 against 3 for linear), so they use linear (1.5 products per solve, against
# 2.05 quadratic and 2.0 constant). Rows: constant, linear (2, -1), quadratic (3, -3, 1); terms
# newest first.
_EXTRAPOLATION = np.asarray([[1.0, 0.0, 0.0], [2.0, -1.0, 0.0], [3.0, -3.0, 1.0]])
_DAGGER_ORDER, _POINT_ORDER = 2, 1
WARM_SLOTS = 4  # point vectors kept: steps t-1..t-4 (same parity: t-2, t-4)
POINTS = ("gd", "predicted", "generalized", "flow")  # the point eigen-solves (warm starts)
# warnings raised in _check_finite (via observe, tracking._run, track) point at the caller of track()
_STACKLEVEL = 5


def _extrapolation(available: int, enabled: bool, order: int) -> np.ndarray:
    """Coefficients for a sequence with ``available`` known terms: the highest order up to
    ``order`` (0 constant, 1 linear, 2 quadratic) that they allow."""
    if not enabled or available <= 1:
        return _EXTRAPOLATION[0]
    return _EXTRAPOLATION[min(available - 1, order)]


class Tracker:
    """The state of :func:`eos.dynamics.track` between steps: arrays on device, records on the
    host. ``manifest``: the flat settings recorded in ``meta`` and in checkpoints."""

    def __init__(self, objective: Any, fns: dict[str, Callable], lr: float,
                 settings: TrackSettings, manifest: dict[str, Any]) -> None:  # fmt: skip
        self.objective = objective
        self.f = fns
        self.settings = settings
        self.manifest = manifest
        self.lr = lr
        self.gen = settings.outputs.generalized
        self.multiples = np.asarray(settings.outputs.quadratic_multiples)
        self.i_delta = int(np.argmin(np.abs(self.multiples - 1.0)))
        self.timing = settings.run.timing
        self.record_vectors = settings.recording.record_vectors
        self.times: dict[str, float] = {}  # seconds per component (timing=True)
        self.calls: dict[str, int] = {}
        self.rec: dict[str, list] = {}
        self.sparse: dict[str, list] = {}
        self.stop_reason = ""
        self.stop_detail = ""
        self.t = 0

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

    def _append(self, key: str, value) -> None:
        self.rec.setdefault(key, []).append(value)

    # ------------------------------------------------------------------ start
    def start(self, theta0: jax.Array, u0: Any) -> None:
        """Step 0: :math:`\\theta^\\dagger_0 = \\mathrm{proj}_{\\mathcal M}(\\theta_0)` and
        :math:`\\hat v_0 = \\theta_0 - \\theta^\\dagger_0` (Definition 7)."""
        f = self.f
        loss0 = float(self.objective.value(theta0))
        if not math.isfinite(loss0):
            raise ValueError("the loss at theta0 is not finite; pass the first unstable GD iterate")
        if u0 is None:
            # Cold start: restarted Lanczos (each call warm-starts from the last Ritz vector).
            u0 = jax.random.normal(jax.random.PRNGKey(0), theta0.shape, theta0.dtype)
            for _ in range(50):
                *_, u0, _, res = self._call("cold_start", f["point"], theta0, u0)
                if float(res) <= self.settings.eigen.point_tol:
                    break
        u0 = jnp.asarray(u0, theta0.dtype)
        P = self._call("initial_projection", f["initial_projection"], theta0, u0)
        v0 = theta0 - P.theta
        self.P = P
        self.gd_theta = theta0
        self.flow_theta = theta0
        self.pred_v = v0
        self.gen_v = v0
        self.warm = {k: [P.u] * WARM_SLOTS for k in POINTS}
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
        """Every ``beta_every`` steps a new :math:`\\beta_{s\\to t}` follower (eq. (10)) starts
        from :math:`\\nabla S_s^\\perp`; at most ``beta_max`` are kept."""
        rs = self.settings.recording
        if rs.beta_max == 0 or self.t % rs.beta_every != 0:
            return
        self.followers.append(
            {"start": self.t, "r": perp(self.P.grad_sharpness, self.P.u), "Hr": None}
        )
        self.beta_starts.append(self.t)
        self.beta_values[self.t] = {}
        if len(self.followers) > rs.beta_max:
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
        names, rec, mv, eig_res = self._evaluate()
        stop = self._check_finite(rec)
        if stop is not None:
            return stop
        matvecs = self._record(names, rec, mv, eig_res)
        return self._sparse_records(rec, matvecs)

    def _evaluate(self) -> tuple[list[str], dict, list, Any]:
        """Loss, gradient and sharpness at the GD, predicted, generalized and flow points in one
        batched call, each warm-started from the extrapolation of its own sequence (same parity
        for the oscillating iterates: steps t-2 and t-4); then the per-step records."""
        f, P, t, call = self.f, self.P, self.t, self._call
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
            coefs.append(_extrapolation(known, self.settings.eigen.extrapolate, _POINT_ORDER)[:2])
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
        return names, rec, mv, eig_res

    def _check_finite(self, rec: dict) -> str | None:
        """``"gd_diverged"`` or ``"constrained_failed"`` (with a warning), else None."""
        t, lr = self.t, self.lr
        loss = float(rec["gd/loss"])
        if is_diverged(loss, self.gd_loss0, self.settings.run.divergence_factor) or not (
            math.isfinite(float(rec["gd/sharpness"]))
        ):
            self.stop_detail = divergence_message("gradient descent", t, loss, lr, self.gd_loss0)
            warnings.warn(self.stop_detail + " Tracking stopped.", stacklevel=_STACKLEVEL)
            return "gd_diverged"
        if not bool(rec.pop("_dagger_finite")):
            self.stop_detail = f"the constrained trajectory became non-finite at step {t}"
            warnings.warn(self.stop_detail + "; tracking stopped.", stacklevel=_STACKLEVEL)
            return "constrained_failed"
        return None

    def _record(self, names: list[str], rec: dict, mv: list, eig_res: Any) -> int:
        """Append the per-step records and the cost accounting (products actually computed);
        return the Hessian-vector products of the step so far."""
        P = self.P
        self._append("step", self.t)
        if self.record_vectors:
            vecs = {"dagger": P.theta, "u": P.u, "gd": self.gd_theta, "predicted": self.pred_v}
            if self.gen:
                vecs["generalized"] = self.gen_v
            for k, val in vecs.items():
                self._sparse(f"vectors/{k}", val)
        for k, val in rec.items():
            self._append(k, float(val))
        for name, r in zip(names, eig_res):
            self._append(f"{name}/eig_residual", float(r))
        cost = {f"eig_{name}": int(m) for name, m in zip(names, mv)}
        cost["eig_constrained"] = int(P.matvecs)
        cost["hvps_dagger"] = self.n_hvps
        cost["flow_gradients"] = self.flow_grads
        fresh = self.settings.projection.fresh_direction
        cost["third_derivatives"] = int(P.gradients) if fresh else 1
        for k, val in cost.items():
            self._append(f"cost/{k}", val)
        return (cost["eig_constrained"] + cost["hvps_dagger"] + sum(int(m) for m in mv)
                + (1 if self.gen else 0))  # fmt: skip

    def _sparse_records(self, rec: dict, matvecs: int) -> str | None:
        """Accuracy, :math:`\\lambda_2` (App. D.3's stopping rule) and App. E/F's diagnostics
        at their spacings; the step's cost totals. Returns ``"lambda2"`` or None."""
        f, P, t, lr, call = self.f, self.P, self.t, self.lr, self._call
        rs, threshold = self.settings.recording, self.settings.run.lambda2_threshold
        stop = None
        if t % rs.accuracy_every == 0:
            self._sparse("accuracy/step", t)
            self._sparse("accuracy/value", call("accuracy", f["accuracy"], self.gd_theta))
        if t % rs.lambda2_every == 0:
            lam2, self.l2_warm, res2, mv2 = call(
                "lambda2", f["lambda2"], P.theta, P.u, self.l2_warm
            )
            lam2 = float(lam2)
            matvecs += int(mv2)
            self._sparse("lambda2/step", t)
            self._sparse("lambda2/value", lam2)
            self._sparse("lambda2/residual", res2)
            if lam2 >= threshold / lr:
                self.stop_detail = (
                    f"lambda_2 = {lam2:.6g} >= {threshold:g}/lr at step {t} "
                    "(App. D.3: a second eigenvalue is about to become unstable)"
                )
                stop = "lambda2"
        if self.settings.outputs.diagnostics and t % rs.diag_every == 0:
            self._diagnostics(float(rec["constrained/delta"]))
        self._append("cost/matvecs", matvecs)
        self._append("cost/gradients", self.flow_grads)
        return stop

    def _diagnostics(self, delta: float) -> None:
        """App. E's assumption quantities and App. F's line profile at step t."""
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
        """Step t -> t + 1: the flow interval, :math:`\\theta^\\dagger_{t+1}` (eq. (2)), GD, the
        predicted dynamics (eq. (6), eq. (11)) and the followers; then the products at the new
        :math:`\\theta^\\dagger`."""
        f, P = self.f, self.P
        self.flow_theta, flow_grads = self._call(
            "flow", f["advance_flow"], self.flow_theta, self.flow_grad, self.flow_S, self.flow_u
        )
        self.flow_grads = int(flow_grads)
        coef = _extrapolation(self.t + 1, self.settings.eigen.extrapolate, _DAGGER_ORDER)
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
    def results(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, meta)`` of the :class:`eos.dynamics.Trajectory` so far."""
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
        meta = dict(self.manifest)
        meta.update(
            steps_done=max(n - 1, 0),
            stop_reason=self.stop_reason or "completed",
            stop_detail=self.stop_detail,
            threshold=2.0 / self.lr,
        )
        if self.timing:
            meta["timing_seconds"] = dict(self.times)
            meta["timing_calls"] = dict(self.calls)
        return arrays, meta
