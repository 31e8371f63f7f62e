r"""App. F.2: the observed sharpness against the limiting sharpness of eq. (11).

For an even line profile :math:`F_t` the generalized predicted dynamics (eq. (11)) have a
period-2 orbit :math:`x = \pm\delta`, :math:`y^* = -F'(\delta)/\delta`, at which the sharpness is

.. math::

    S_\infty = \frac{2}{\eta} - \frac{F'(\delta)}{\delta} + F''(\delta)

(:func:`eos.analysis.quadratic.limiting_sharpness`); :func:`plot_limiting_sharpness` draws it per
diagnostic step (:func:`eos.analysis.limiting.profile_series`) next to gradient descent's
two-step-averaged sharpness and its running time average.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from eos.analysis.agreement import two_step_average
from eos.analysis.run_arrays import require_keys
from eos.figures.style import COLORS, threshold_line

__all__ = ["plot_limiting_sharpness"]


def plot_limiting_sharpness(
    ax: plt.Axes, arrays: Mapping[str, Any], lr: float, series: Mapping[str, Any]
) -> None:
    """Observed sharpness (two-step average and its running mean) against :math:`S_\\infty` of eq. (11).

    ``series`` is :func:`profile_series` of the same run (:math:`S_\\infty` of the even part).
    """
    require_keys(arrays, ("gd/sharpness",))
    S = np.asarray(arrays["gd/sharpness"], dtype=np.float64)
    if S.size >= 2:
        avg = two_step_average(S)
        th = np.arange(avg.size) + 0.5
        ax.plot(th, avg, color=COLORS["gd"], lw=1.0, alpha=0.6, label="GD, two-step average")
        ax.plot(th, np.cumsum(avg) / np.arange(1, avg.size + 1), color=COLORS["gd"], lw=2.0,
                label="GD, running time average")  # fmt: skip
    else:
        ax.plot([0], S, "o", color=COLORS["gd"], label="GD")
    ax.plot(series["step"], series["limiting_sharpness"], "D-", color=COLORS["generalized"],
            ms=4, lw=1.0, label=r"$S_\infty = 2/\eta - F_t'(\delta_t)/\delta_t + F_t''(\delta_t)$")  # fmt: skip
    threshold_line(ax, lr)
    ax.set_xlabel("steps after instability")
    ax.set_ylabel("sharpness")
