r"""Theorem 1 as a scaling law: the worst normalized errors against :math:`\epsilon`.

One panel per quantity (loss, sharpness, deviation): the worst error over the coupling window of
each run, normalized as in :mod:`eos.analysis.theorem1_scaling`
(:math:`\eta|\cdot|/\delta^2`, :math:`\eta|\cdot|`, :math:`|\cdot|/\delta`), against the run's
:math:`\epsilon = \sup_t\eta\sqrt{\alpha_t}` (Definition 6), log-log, for the paper's prediction
(:math:`\hat v_0 = v_0`, open circles over :math:`t \le 1/\epsilon_0`, open squares over the
whole run) and the re-anchored one (filled), each with its fitted
line and slope, beside a reference line of Theorem 1's order :math:`\epsilon^p`; the median
errors are drawn as small markers.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from eos.analysis.theorem1_scaling import ORDERS, QUANTITIES, VARIANTS, fit_slope
from eos.figures.style import COLORS

__all__ = ["plot_theorem1_scaling"]

_LABELS = {"loss": r"$\eta\,|L - L^\dagger - \hat x^2/\eta|\,/\,\delta^2$",
           "sharpness": r"$\eta\,|S - 2/\eta - \hat y - (\nabla S\cdot u)\hat x|$",
           "deviation": r"$\|\theta - \theta^\dagger - \hat v\|\,/\,\delta$"}  # fmt: skip
_STYLE = {"paper": dict(mfc="none", color=COLORS["predicted"], label=r"$\hat v_0 = v_0$"),
          "paper-run": dict(marker="s", mfc="none", color=COLORS["threshold"],
                            label=r"$\hat v_0 = v_0$, whole run"),
          "reanchored": dict(color=COLORS["gd"], label="re-anchored")}  # fmt: skip


def plot_theorem1_scaling(table: Any, *, title: str | None = None) -> Figure:
    """The scaling figure from :func:`eos.analysis.theorem1_scaling.scaling_table`."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, q in zip(axes, QUANTITIES):
        for variant in VARIANTS:
            rows = table[table["variant"] == variant]
            eps = np.asarray(rows["eps"], float)
            worst = np.asarray(rows[f"{q}_worst"], float)
            style = dict(_STYLE[variant])
            color = style["color"]
            p, c = fit_slope(eps, worst)
            style.setdefault("marker", "o")
            ax.loglog(
                eps,
                worst,
                ls="none",
                ms=6,
                **{**style, "label": f"{style['label']}, slope {p:.2f}"},
            )
            ax.loglog(eps, np.asarray(rows[f"{q}_median"], float), ".", color=color, ms=4)
            if np.isfinite(p):
                grid = np.geomspace(np.nanmin(eps), np.nanmax(eps), 20)
                ax.loglog(grid, np.exp(c) * grid**p, "-", color=color, lw=0.8)
        ok = np.isfinite(table["eps"]) & (table["eps"] > 0)
        if ok.any():
            grid = np.geomspace(table["eps"][ok].min(), table["eps"][ok].max(), 20)
            ref = grid ** ORDERS[q] / grid[-1] ** ORDERS[q] * np.nanmax(table[f"{q}_worst"])
            ax.loglog(grid, ref, ":", color=COLORS["threshold"], lw=1.0,
                      label=rf"order $\epsilon^{{{ORDERS[q]:g}}}$")  # fmt: skip
        ticks = [float(table["eps"][ok].min()), float(table["eps"][ok].max())]
        ax.set_xticks(ticks, [f"{e:.3g}" for e in ticks])  # the range (often under a decade)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(r"$\epsilon = \sup_t \eta\sqrt{\alpha_t}$")
        ax.set_title(_LABELS[q], fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("worst over the window (o), median (.)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
