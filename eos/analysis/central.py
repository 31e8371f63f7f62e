r"""Numbers of the central-flow chapter (beyond the paper): the central flow
(:mod:`eos.dynamics.central`) against self-stabilization's constrained trajectory
:math:`\theta^\dagger` (eq. (2)) on the runs of :mod:`eos.experiments.central`.

* :func:`cycle_mean` -- the mean over one period-2 cycle, :math:`(a_t + a_{t+1})/2`;
* :func:`time_averaged_loss` -- GD's time-averaged loss
  :math:`(L_{t-1} + 2L_t + L_{t+1})/4` (the quantity the central flow predicts,
  :math:`L(w) + \tfrac12\sum_i\sigma_i^2 S_i`; self-stabilization's analogue is
  :math:`L(\theta^\dagger_t) + \delta_t^2/\eta`, the loss at the fixed point
  :math:`|x| = \delta_t` of eq. (4), Sec. 4.2);
* :func:`comparison` -- per run, the distances of GD's time average to the central flow, to
  :math:`\theta^\dagger` and to gradient flow, and the relative errors of the two loss
  predictions (the chapter's table);
* :func:`discretisation_study` -- :math:`\|\theta^\dagger_t - w(\eta t)\|` at a fixed flow time
  as :math:`\eta` shrinks, on a curved constraint, and its order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["comparison", "cycle_mean", "discretisation_study", "time_averaged_loss"]


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


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.median(np.abs(a[ok] - b[ok]) / np.abs(b[ok]))) if ok.any() else np.nan


def comparison(traj: Mapping[str, np.ndarray], lr: float) -> dict[str, float]:
    r"""One run's numbers (``traj``: the ``trajectory`` arrays of a ``"central"`` result).

    ``dist_*``: the median over steps :math:`t \ge 1` of the distance from GD's time average
    to the central flow, :math:`\theta^\dagger`, gradient flow (and GD itself to the central
    flow); ``final_*``: the same at the last step; ``loss_err_central`` /
    ``loss_err_constrained``: median relative error of the central flow's predicted
    time-averaged loss and of :math:`L(\theta^\dagger_t) + \delta_t^2/\eta` against GD's
    time-averaged loss; ``sigma2_vs_x2``: median relative gap between :math:`\sigma_1^2` and
    the cycle-averaged :math:`x_t^2` of GD along :math:`u_1(w)` (where :math:`\sigma_1^2>0`);
    ``sigma2_vs_delta2``: the same against :math:`\delta_t^2`; ``edge_max``: the most
    eigenvalues at the edge (:math:`\sigma_i^2 > 0`) at once.
    """
    pick = {"central": "distance/gd_average", "constrained": "distance/gd_average_constrained",
            "flow": "distance/gd_average_flow", "gd_central": "distance/gd"}  # fmt: skip
    out: dict[str, float] = {}
    for name, key in pick.items():
        d = np.asarray(traj[key], np.float64)[1:]
        out[f"dist_{name}"] = float(np.nanmedian(d))
        out[f"final_{name}"] = float(d[np.isfinite(d)][-1])
    avg = time_averaged_loss(traj["gd/loss"])
    out["loss_err_central"] = _rel(traj["central/predicted_loss"], avg)
    ss = np.asarray(traj["constrained/loss"]) + np.asarray(traj["constrained/delta2"]) / lr
    out["loss_err_constrained"] = _rel(ss, avg)
    s2 = np.asarray(traj["central/sigma2"], np.float64)
    x2 = np.full(len(s2), np.nan)
    x2[:-1] = cycle_mean(np.asarray(traj["gd/x"])[:, 0] ** 2)
    on = s2[:, 0] > 0
    out["sigma2_vs_x2"] = _rel(s2[on, 0], x2[on]) if on.any() else np.nan
    out["sigma2_vs_delta2"] = _rel(s2[on, 0], np.asarray(traj["constrained/delta2"])[on])
    out["edge_max"] = float((s2 > 0).sum(axis=1).max())
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
