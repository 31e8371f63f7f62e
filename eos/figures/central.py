r"""Figures of the central-flow chapter (beyond the paper), plotting only: one run of
:mod:`eos.experiments.central` in three panels (distances of GD's time average to the central
flow, :math:`\theta^\dagger` and gradient flow; GD's time-averaged loss against both
predictions; :math:`\sigma^2` against the cycle-averaged :math:`x_t^2` and
:math:`\delta_t^2`), and the order of :math:`\|\theta^\dagger_t - w(\eta t)\|` in
:math:`\eta`."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from eos.analysis.central import cycle_mean, time_averaged_loss
from eos.figures.style import COLORS, LABELS

__all__ = ["comparison_figure", "order_figure"]


def comparison_figure(
    traj: Mapping[str, np.ndarray], lr: float, title: str, window: tuple[int, int] | None = None
) -> plt.Figure:
    """Three panels for one ``"central"`` run (module docstring); ``window``: the steps the
    chapter averages over (:func:`eos.analysis.central.cycle_window`), shaded."""
    t = np.asarray(traj["step"])
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    if window is not None:
        for ax in axes:
            ax.axvspan(window[0], window[1] - 1, color="0.92", zorder=0)
    ax = axes[0]
    for name, key in (("central", "distance/gd_average"),
                      ("constrained", "distance/gd_average_constrained"),
                      ("flow", "distance/gd_average_flow")):  # fmt: skip
        ax.plot(t, traj[key], color=COLORS[name], label=LABELS[name])
    ax.plot(t, traj["distance/gd"], color=COLORS["gd"], lw=0.8, label="GD itself to central flow")
    ax.set(xlabel="steps after instability", ylabel=r"distance to GD's time average",
           yscale="log")  # fmt: skip
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(t, traj["gd/loss"], color=COLORS["gd"], lw=0.6, alpha=0.5, label="GD loss")
    ax.plot(t, time_averaged_loss(traj["gd/loss"]), color=COLORS["gd"], label="GD, time average")
    ax.plot(t, traj["central/predicted_loss"], color=COLORS["central"], ls="--",
            label=r"central flow: $L(w) + \frac{1}{2}\sum_i \sigma_i^2 S_i$")  # fmt: skip
    ss = np.asarray(traj["constrained/loss"]) + np.asarray(traj["constrained/delta2"]) / lr
    ax.plot(
        t, ss, color=COLORS["constrained"], ls=":", label=r"$L(\theta^\dagger) + \delta^2/\eta$"
    )
    ax.set(xlabel="steps after instability", ylabel="loss")
    ax.legend(fontsize=7)
    ax = axes[2]
    s2 = np.asarray(traj["central/sigma2"])
    for i in range(s2.shape[1]):
        if (s2[:, i] > 0).any():
            ax.plot(t, s2[:, i], color=COLORS["central"], alpha=1 - 0.2 * i,
                    label=rf"$\sigma_{i + 1}^2$")  # fmt: skip
    x = np.asarray(traj["gd/x"])
    x2 = cycle_mean(x**2 if x.ndim == 1 else (x**2).sum(axis=1))
    ax.plot(t[:-1], x2, color=COLORS["gd"], lw=0.8, label=r"GD: cycle mean of $\|x_t\|^2$")
    ax.plot(t, traj["constrained/delta2"], color=COLORS["constrained"], ls=":",
            label=r"$\delta_t^2$ at $\theta^\dagger_t$")  # fmt: skip
    ax.set(xlabel="steps after instability", ylabel="squared oscillation", yscale="log")
    ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def order_figure(distances: Mapping[float, float], order: float) -> plt.Figure:
    r""":math:`\|\theta^\dagger_t - w(\eta t)\|` at a fixed flow time against :math:`\eta`."""
    etas = np.array(sorted(distances))
    d = np.array([distances[e] for e in etas])
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.loglog(etas, d, "o-", color=COLORS["constrained"], label=rf"measured (order {order:.2f})")
    ax.loglog(etas, d[-1] * etas / etas[-1], color="0.5", ls="--", label=r"$\propto\eta$")
    ax.set(xlabel=r"$\eta$", ylabel=r"$\|\theta^\dagger_t - w(\eta t)\|$")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
