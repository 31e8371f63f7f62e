r"""Numbers of the central-flow chapter (beyond the paper): the central flow
(:mod:`eos.dynamics.central`) against self-stabilization's constrained trajectory
:math:`\theta^\dagger` (eq. (2)) on the runs of :mod:`eos.experiments.central`.

* :func:`cycle_mean` -- the mean over one period-2 cycle, :math:`(a_t + a_{t+1})/2`;
* :func:`time_averaged_loss` -- GD's time-averaged loss
  :math:`(L_{t-1} + 2L_t + L_{t+1})/4` (the quantity the central flow predicts,
  :math:`L(w) + \tfrac12\sum_i\sigma_i^2 S_i`; self-stabilization's analogue is
  :math:`L(\theta^\dagger_t) + \delta_t^2/\eta`, the loss at the fixed point
  :math:`|x| = \delta_t` of eq. (4), Sec. 4.2);
* :func:`amplitude`, :func:`onsets`, :func:`cycle_window` -- the steps after the first
  blow-up, over whole self-stabilization cycles: before it GD sits on the flows and any
  average is dominated by steps where neither theory is tested;
* :func:`window_comparison` -- per run and over that window, the distances of GD's time
  average to the central flow, to :math:`\theta^\dagger` and to gradient flow, the relative
  errors of the loss predictions, and :math:`\sigma^2` and :math:`\delta_t^2` against GD's
  mean :math:`\|x_t\|^2` (the chapter's table);
* :func:`discretisation_study` -- :math:`\|\theta^\dagger_t - w(\eta t)\|` at a fixed flow time
  as :math:`\eta` shrinks, on a curved constraint, and its order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "amplitude",
    "cycle_mean",
    "cycle_window",
    "discretisation_study",
    "onsets",
    "time_averaged_loss",
    "window_comparison",
]


def cycle_mean(a: Any) -> np.ndarray:
    """``(a_t + a_{t+1})/2`` along the first axis (one entry fewer)."""
    a = np.asarray(a, np.float64)
    return (a[1:] + a[:-1]) / 2


def time_averaged_loss(loss: Any) -> np.ndarray:
    """``(L_{t-1} + 2 L_t + L_{t+1})/4`` (NaN at both ends): the mean of two consecutive
    cycle means, centred at ``t``."""
    loss = np.asarray(loss, np.float64)
    out = np.full_like(loss, np.nan)
    out[1:-1] = (loss[:-2] + 2 * loss[1:-1] + loss[2:]) / 4
    return out


def amplitude(x: Any) -> np.ndarray:
    r"""The oscillation's envelope :math:`a_t = \max(\|x_t\|, \|x_{t+1}\|)` (the last entry
    :math:`\|x_T\|`): ``x`` is ``(T+1,)`` or ``(T+1, k)`` (GD's displacement along the tracked
    eigenvectors); the max over two steps removes the period-2 sign flicker."""
    x = np.asarray(x, np.float64)
    n = np.abs(x) if x.ndim == 1 else np.linalg.norm(x, axis=1)
    out = n.copy()
    out[:-1] = np.maximum(n[:-1], n[1:])
    return out


def onsets(a: Any, level: float) -> np.ndarray:
    """Steps ``t`` where ``a_t >= level`` and ``a_{t-1} < level`` (``t = 0`` if ``a_0 >= level``):
    the starts of the excursions above ``level``."""
    a = np.asarray(a, np.float64)
    above = a >= level
    starts = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    return np.concatenate([[0], starts]) if above[0] else starts


def cycle_window(x: Any, frac: float = 0.1) -> tuple[int, int, int]:
    r"""``(start, stop, cycles)``: the steps after the instability has set in, over whole
    self-stabilization cycles. A blow-up starts where the envelope (:func:`amplitude`) first
    exceeds ``frac`` times its largest value; the window runs from the first blow-up's start
    to the start of the last one (``cycles`` complete cycles), or, with a single blow-up, to
    the end of the series (``cycles = 0``: one cycle, possibly incomplete)."""
    a = amplitude(x)
    starts = onsets(a, frac * float(a.max()))
    if len(starts) >= 2:
        return int(starts[0]), int(starts[-1]), len(starts) - 1
    return int(starts[0]), len(a), 0


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def window_comparison(traj: Mapping[str, np.ndarray], lr: float, frac: float = 0.1) -> dict:
    r"""One run's numbers over :func:`cycle_window` (``traj``: the ``trajectory`` arrays of a
    ``"central"`` result); every average is a plain mean over the window's steps.

    ``start``, ``stop``, ``cycles``: the window. ``dist_central`` / ``dist_constrained`` /
    ``dist_flow``: mean distance from GD's time average :math:`\bar\theta_t` to the central
    flow :math:`w(\eta t)`, to :math:`\theta^\dagger_t` and to gradient flow; ``dist_gd``: GD
    itself to the central flow; ``final_*``: the same at the window's last step.
    ``loss_gd``: GD's mean loss; ``loss_err_central``: relative error of the mean of the central
    flow's prediction :math:`L(w) + \tfrac12\sum_i\sigma_i^2S_i` against it;
    ``loss_err_constrained``: the same for :math:`L(\theta^\dagger_t) + \delta_t^2/\eta`;
    ``loss_err_flow``: gradient flow's loss. ``x2``: the mean of GD's
    :math:`\|x_t\|^2` (all tracked directions); ``sigma2_ratio``: mean of
    :math:`\sum_i\sigma_i^2` over it, ``delta2_ratio``: mean :math:`\delta_t^2` over it (1:
    the prediction of the oscillation's size holds). ``edge_max``: the most eigenvalues at
    the edge (:math:`\sigma_i^2 > 0`) at once, ``edge_steps``: steps with two or more.
    """
    start, stop, cycles = cycle_window(traj["gd/x"], frac)
    w = slice(start, stop)

    def mean(key: str) -> float:
        return float(np.nanmean(np.asarray(traj[key], np.float64)[w]))

    out: dict[str, float] = {"start": start, "stop": stop, "cycles": cycles}
    pick = {"central": "distance/gd_average", "constrained": "distance/gd_average_constrained",
            "flow": "distance/gd_average_flow", "gd": "distance/gd"}  # fmt: skip
    for name, key in pick.items():
        d = np.asarray(traj[key], np.float64)[w]
        out[f"dist_{name}"] = float(np.nanmean(d))
        out[f"final_{name}"] = float(d[np.isfinite(d)][-1])
    loss = out["loss_gd"] = mean("gd/loss")
    out["loss_err_central"] = _rel(mean("central/predicted_loss"), loss)
    ss = np.asarray(traj["constrained/loss"]) + np.asarray(traj["constrained/delta2"]) / lr
    out["loss_err_constrained"] = _rel(float(np.mean(ss[w])), loss)
    out["loss_err_flow"] = _rel(mean("flow/loss"), loss)
    x = np.asarray(traj["gd/x"], np.float64)
    x2 = (x**2 if x.ndim == 1 else (x**2).sum(axis=1))[w]
    s2 = np.asarray(traj["central/sigma2"], np.float64)
    out["x2"] = float(np.mean(x2))
    out["sigma2_ratio"] = float(np.mean(s2.sum(axis=1)[w])) / out["x2"]
    out["delta2_ratio"] = mean("constrained/delta2") / out["x2"]
    on = (s2 > 0).sum(axis=1)
    out["edge_max"] = int(on.max())
    out["edge_steps"] = int((on >= 2).sum())
    return out


# ============================================================================ order in eta
def _curved_loss(eta: float):
    """``L = (2/eta + y + z^2/2) x^2/2 - y + z``: on ``x = 0`` the constraint
    ``S = 2/eta`` is the curve ``y = -z^2/2``, the same for every ``eta``."""
    import jax.numpy as jnp

    def loss(theta):
        x, y, z = theta[0], theta[1], theta[2]
        return (2 / eta + y + z**2 / 2) * x**2 / 2 - y + z + 0 * jnp.sum(theta)

    return loss


def _dagger_path(obj: Any, eta: float, steps: int) -> np.ndarray:
    import jax
    import jax.numpy as jnp

    from eos.dynamics import constrained_step, project

    step = jax.jit(lambda cur: constrained_step(obj, cur, eta))
    cur = project(obj, jnp.zeros(3), eta, jnp.array([1.0, 0.0, 0.0]))
    path = [np.asarray(cur.theta)]
    for _ in range(steps):
        cur = step(cur)
        path.append(np.asarray(cur.theta))
    return np.stack(path)


def discretisation_study(etas: Sequence[float] = (0.2, 0.1, 0.05, 0.025), tau: float = 0.8):
    r"""``{eta: distance}`` of :math:`\|\theta^\dagger_t - w(\eta t)\|` at :math:`\eta t = \tau`
    on :func:`_curved_loss` (both from the origin, where :math:`S = 2/\eta`), and the fitted
    order (slope of :math:`\log` distance against :math:`\log\eta`)."""
    from eos.dynamics.central import central_flow
    from eos.objective import Objective

    out: dict[float, float] = {}
    for eta in etas:
        steps = int(round(tau / eta))
        obj = Objective.from_function(_curved_loss(eta), num_params=3)
        ref = _dagger_path(obj, eta, steps)
        flow = central_flow(obj, np.zeros(3), lr=eta, steps=steps,
                            U0=np.array([[1.0], [0.0], [0.0]]), references={"dagger": ref})  # fmt: skip
        out[float(eta)] = float(flow["distance/dagger"][-1])
    order = float(np.polyfit(np.log(list(out)), np.log(list(out.values())), 1)[0])
    return out, order
