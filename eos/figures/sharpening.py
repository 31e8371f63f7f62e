"""Fig. 1: progressive sharpening, then the edge of stability, of plain gradient descent.

Loss (top) and sharpness :math:`S(\\theta) = \\lambda_{\\max}(\\nabla^2 L(\\theta))` (Definition 1,
bottom, with the threshold :math:`2/\\eta`) of gradient descent at several learning rates: the
sharpness rises until it reaches :math:`2/\\eta` and then hovers there while the loss keeps
falling. The curves are :func:`eos.analysis.sharpening.gd_curves`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from eos.analysis.sharpening import gd_curves
from eos.figures.style import COLORS, sweep_colors, threshold_line

__all__ = ["plot_progressive_sharpening"]


def plot_progressive_sharpening(results: Sequence[Any]) -> Figure:
    """Fig. 1 for several learning rates: loss (top) and sharpness with :math:`2/\\eta` (bottom).

    One column per ``"gd"`` run; a dotted vertical line marks the first iterate with
    :math:`S(\\theta) \\ge 2/\\eta`.
    """
    results = list(results)
    if not results:
        raise ValueError("results is empty")
    n = len(results)
    colors = sweep_colors(max(n, 2))
    fig, axes = plt.subplots(2, n, figsize=(3.4 * n + 0.6, 5.2), squeeze=False, sharex="col")
    for j, r in enumerate(results):
        c = gd_curves(r)
        t0 = int(c["instability_step"])
        a_loss, a_s = axes[0, j], axes[1, j]
        a_loss.plot(c["loss_step"], c["loss"], color=colors[j], lw=1.0)
        a_loss.set_yscale("log")
        a_loss.set_title(rf"$\eta = {r.lr:g}$  ($2/\eta = {2 / r.lr:.0f}$)")
        a_s.plot(c["sharpness_step"], c["sharpness"], color=colors[j], lw=1.0, label="sharpness")
        threshold_line(a_s, r.lr)
        for ax in (a_loss, a_s):
            ax.axvline(t0, color=COLORS["fixed_point"], ls=":", lw=1.0)
        a_s.set_xlabel("step")
        top = max(np.nanmax(c["sharpness"]), 2 / r.lr)
        a_s.set_ylim(0, 1.15 * top)
    axes[0, 0].set_ylabel("training loss")
    axes[1, 0].set_ylabel(r"sharpness $S(\theta_t)$")
    axes[1, 0].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig
