r"""App. G.2: gradient descent against the standard and the generalized predicted dynamics.

Three panels -- loss, two-step-averaged sharpness and :math:`x_t = u_t\cdot(\theta_t -
\theta^\dagger_t)` with :math:`\pm\delta_t` -- for gradient descent, the predicted dynamics of
eq. (5)-(6) and the generalized predicted dynamics of eq. (11) (App. F), plus the constrained
trajectory's loss. A diverging prediction leaves the panel rather than flattening it: the vertical
ranges follow gradient descent and :math:`\theta^\dagger` (:func:`robust_limits`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from eos.analysis.agreement import two_step_average
from eos.analysis.run_arrays import require_keys
from eos.figures.style import COLORS, LABELS, threshold_line

__all__ = ["plot_predictions", "robust_limits"]


def robust_limits(*series: Any, pad: float = 0.08) -> tuple[float, float]:
    """``(low, high)`` covering every finite value of ``series`` with a relative margin ``pad``."""
    vals = [np.asarray(s, dtype=np.float64).ravel() for s in series]
    vals = np.concatenate(vals) if vals else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (0.0, 1.0)
    lo, hi = float(vals.min()), float(vals.max())
    span = hi - lo if hi > lo else max(abs(hi), 1e-12)
    return lo - pad * span, hi + pad * span


def plot_predictions(axes: Sequence[plt.Axes], arrays: Mapping[str, Any], lr: float) -> None:
    """Three panels: loss, two-step-averaged sharpness and :math:`x_t`, for GD and both predictions.

    The vertical range follows gradient descent and :math:`\\theta^\\dagger` (a diverging
    prediction leaves the panel rather than flattening it).
    """
    require_keys(arrays, ("gd/loss", "gd/sharpness", "gd/x", "predicted/loss", "predicted/sharpness",
                      "predicted/x", "generalized/loss", "generalized/sharpness",
                      "generalized/x", "constrained/loss", "constrained/delta"))  # fmt: skip
    a_loss, a_sharp, a_x = axes
    t = np.arange(np.asarray(arrays["gd/loss"]).size)
    series = (("gd", "-", 2.2), ("predicted", "--", 1.4), ("generalized", "-", 1.2))
    for key, ls, lw in series:
        a_loss.plot(t, arrays[f"{key}/loss"], color=COLORS[key], ls=ls, lw=lw, label=LABELS[key])
    a_loss.plot(t, arrays["constrained/loss"], color=COLORS["constrained"], lw=1.0,
                label=LABELS["constrained"])  # fmt: skip
    a_loss.set_ylim(*robust_limits(arrays["gd/loss"], arrays["constrained/loss"]))
    a_loss.set_ylabel("loss")
    if t.size >= 2:
        th = t[:-1] + 0.5
        for key, ls, lw in series:
            a_sharp.plot(th, two_step_average(arrays[f"{key}/sharpness"]),
                         color=COLORS[key], ls=ls, lw=lw)  # fmt: skip
        a_sharp.set_ylim(*robust_limits(two_step_average(arrays["gd/sharpness"]), [2.0 / lr]))
    else:
        for key, _, _ in series:
            a_sharp.plot(t, arrays[f"{key}/sharpness"], "o", color=COLORS[key])
    threshold_line(a_sharp, lr)
    a_sharp.set_ylabel("sharpness (two-step average)")
    for key, ls, lw in series:
        a_x.plot(t, arrays[f"{key}/x"], color=COLORS[key], ls=ls, lw=lw * 0.6)
    d = np.asarray(arrays["constrained/delta"])
    a_x.plot(t, d, color=COLORS["fixed_point"], lw=1.0, label=LABELS["fixed_point"])
    a_x.plot(t, -d, color=COLORS["fixed_point"], lw=1.0)
    a_x.set_ylim(*robust_limits(arrays["gd/x"], d, -d))
    a_x.set_ylabel(r"$x_t = u_t\cdot(\theta_t - \theta^\dagger_t)$")
    for ax in axes:
        ax.set_xlabel("steps after instability")
