r"""Theorem 1 (the coupling theorem) on one tracked run: its three predictions and residuals.

Top row: gradient descent against Theorem 1's predictions of the loss
:math:`L(\theta^\dagger_t) + \hat x_t^2/\eta`, the sharpness
:math:`2/\eta + \hat y_t + (\nabla S_t\cdot u_t)\hat x_t` and the displacement
:math:`\|\theta_t - \theta^\dagger_t\|` vs :math:`\|\hat v_t\|`. Bottom row: each residual (log
scale) against its error scale :math:`\epsilon_t\delta_t^2/\eta`, :math:`\epsilon_t^2/\eta`,
:math:`\epsilon_t\delta_t` (:func:`eos.analysis.theorem1.theorem1_residuals`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from eos.analysis.run_arrays import arrays_of, lr_of, series
from eos.analysis.theorem1 import theorem1_residuals
from eos.figures.style import COLORS, LABELS, threshold_line

__all__ = ["plot_theorem1"]


def plot_theorem1(result: Any, *, lr: float | None = None, title: str | None = None) -> Figure:
    """Theorem 1 on one run: top, gradient descent against the three predictions; bottom,
    each residual (log scale) against its error scale (:func:`theorem1_residuals`)."""
    a = arrays_of(result)
    eta = lr_of(result, lr)
    t = np.asarray(a["step"])
    res = theorem1_residuals(a, eta)
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.0), sharex=True)
    (a_l, a_s, a_d), (r_l, r_s, r_d) = axes
    gd_kw = dict(color=COLORS["gd"], lw=1.0, label=LABELS["gd"])
    pr_kw = dict(color=COLORS["predicted"], lw=1.0, ls="--", label="Theorem 1")
    a_l.plot(t, series(a, "gd/loss"), **gd_kw)
    a_l.plot(t, series(a, "theorem1/loss"), **pr_kw)
    a_l.plot(t, series(a, "constrained/loss"), color=COLORS["constrained"], lw=1.0,
             label=LABELS["constrained"])  # fmt: skip
    a_l.set_title(r"loss: $L(\theta^\dagger_t) + \hat x_t^2/\eta$")
    a_s.plot(t, series(a, "gd/sharpness"), **gd_kw)
    a_s.plot(t, series(a, "theorem1/sharpness"), **pr_kw)
    threshold_line(a_s, eta)
    a_s.set_title(r"sharpness: $2/\eta + \hat y_t + (\nabla S_t\cdot u_t)\hat x_t$")
    a_d.plot(t, series(a, "gd/distance"), **gd_kw)
    a_d.plot(t, series(a, "predicted/distance"), color=COLORS["predicted"], lw=1.0, ls="--",
             label=r"$\|\hat v_t\|$")  # fmt: skip
    a_d.plot(t, series(a, "constrained/delta"), color=COLORS["fixed_point"], lw=1.0, ls=":",
             label=LABELS["fixed_point"])  # fmt: skip
    a_d.set_title(r"deviation: $\|\theta_t - \theta^\dagger_t\|$ vs $\|\hat v_t\|$")
    for ax, key, scale_label in (
        (r_l, "loss", r"$\epsilon_t\delta_t^2/\eta$"),
        (r_s, "sharpness", r"$\epsilon_t^2/\eta$"),
        (r_d, "deviation", r"$\epsilon_t\delta_t$"),
    ):
        shown = np.where(res[key] > 0, res[key], np.nan)  # e.g. v_0 = v-hat_0 exactly
        ax.semilogy(t, shown, color=COLORS["gd"], lw=1.0, label="residual")
        ax.semilogy(t, res[f"{key}_scale"], color=COLORS["threshold"], ls="--", lw=1.0,
                    label=scale_label)  # fmt: skip
        ax.set_xlabel("steps since instability")
        ax.legend(loc="best", fontsize="small")
    r_l.set_ylabel("|GD - Theorem 1|")
    r_d.set_ylabel("")
    for ax in (a_l, a_s, a_d):
        ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
