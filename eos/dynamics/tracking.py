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
``"lambda2"``, ``"gd_diverged"``, ``"constrained_failed"``), ``stop_detail``, ``threshold``
(:math:`2/\eta`), ``dtype``, ``num_params`` and the settings
(:meth:`eos.dynamics.settings.TrackSettings.manifest`: every field but ``checkpoint_every``,
``timing`` and ``record_vectors``; with ``timing``, ``timing_seconds`` and ``timing_calls``).

Layout: :mod:`eos.dynamics.settings` (:class:`TrackSettings`), :mod:`eos.dynamics._kernels` (the
compiled pieces of a step), :mod:`eos.dynamics._tracker` (the state between steps),
:mod:`eos.dynamics._checkpoint` (checkpoints); this module holds :func:`track` and
:class:`Trajectory`.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np

from eos.dynamics import _checkpoint, _kernels
from eos.dynamics._tracker import Tracker
from eos.dynamics.settings import TrackSettings
from eos.objective import check_objective
from eos.records import Record
from eos.validate import flat_vector, positive_int, positive_number

__all__ = ["STOP_REASONS", "TrackSettings", "Trajectory", "track"]

STOP_REASONS = ("completed", "lambda2", "gd_diverged", "constrained_failed")


# ============================================================================ Trajectory
@dataclass
class Trajectory(Record):
    """Per-step arrays of a tracked run (keys in the module docstring) and its metadata
    (accessors from :class:`eos.records.Record`; ``meta["lr"]`` is the learning rate)."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

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


# ============================================================================ track
def track(
    objective: Any,
    theta0: Any,
    *,
    lr: float,
    steps: int,
    settings: TrackSettings | None = None,
    u0: Any = None,
    dtype: Any = jnp.float64,
    resume_from: Mapping[str, np.ndarray] | None = None,
    on_checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Trajectory:
    """Track GD, gradient flow, :math:`\\theta^\\dagger` and the predicted dynamics (module docstring).

    Args:
        objective: an :class:`eos.objective.Objective`.
        theta0: the first unstable GD iterate (e.g. ``to_instability(...).params``); cast to
            ``dtype`` (float64, App. D.3).
        lr: learning rate ``eta``; steps: GD steps to take (the run records ``steps + 1`` points).
        settings: a :class:`~eos.dynamics.settings.TrackSettings` (default: its defaults), where
            every setting is documented: the eigen-solves, projections, flow integrator,
            App. E/F diagnostics and generalized dynamics, recording spacings, stopping rules,
            ``checkpoint_every``, ``timing``, ``record_vectors``.
        **overrides: settings by their flat field names (``generalized=True``,
            ``diag_every=25``, ``substeps=1``, ...), applied by ``settings.replace(**overrides)``.
        u0: start vector of the first eigen-solve (default: a fixed random vector).
        resume_from / on_checkpoint: ``on_checkpoint`` receives a checkpoint
            ``dict[str, np.ndarray]`` every ``checkpoint_every`` steps; passing one as
            ``resume_from`` gives bit-for-bit the uninterrupted result.
        progress: a tqdm bar.

    Raises:
        ValueError: bad arguments (``lr <= 0``, ``steps <= 0``, an unknown or invalid setting,
            ...), a checkpoint of another run, or a start point where the loss is not finite.
    """
    objective = check_objective(objective)
    lr = positive_number(lr, "lr", what="the step size eta")
    steps = positive_int(steps, "steps")
    if settings is None:
        settings = TrackSettings()
    elif not isinstance(settings, TrackSettings):
        raise ValueError(f"settings must be a TrackSettings, got {type(settings).__name__}")
    settings = settings.replace(**overrides)
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating-point type, got {dtype}")
    theta0 = flat_vector(theta0, "theta0").astype(dtype)
    manifest = dict(lr=lr, steps=steps, **settings.manifest(), dtype=str(dtype),
                    num_params=int(theta0.shape[0]))  # fmt: skip
    tracker = Tracker(
        objective, _kernels.functions(objective, lr, settings), lr, settings, manifest
    )
    if resume_from is None:
        tracker.start(theta0, u0)
    else:
        _checkpoint.restore(tracker, resume_from, theta0)
    _run(tracker, steps, on_checkpoint, settings.run.checkpoint_every, progress)
    return Trajectory(*tracker.results())


def _run(tracker: Tracker, steps: int, on_checkpoint: Callable | None, every: int,
         progress: bool) -> None:  # fmt: skip
    """Observe and advance until ``steps`` or a stop reason; checkpoint every ``every`` steps."""
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
            if on_checkpoint is not None and tracker.t % every == 0 and tracker.t < steps:
                on_checkpoint(_checkpoint.save(tracker))
    finally:
        bar.close()
