r"""Fig. 4 / App. G: gradient descent next to the predicted dynamics, the constrained trajectory
and gradient flow, on one tracked run or on every learning rate of a setting.

Three panels per row, in the book's colours (:data:`eos.figures.style.COLORS`): the training loss,
the sharpness (two-step averages by default, the paper's choice: Theorem 1's period-2 term
:math:`(\nabla S_t\cdot u_t)\hat x_t` cancels) with :math:`2/\eta`, and the distance
:math:`\|\theta_t - \theta^\dagger_t\|` to the constrained trajectory (eq. (2)) with the predicted
fixed point :math:`\delta_t` (Definition 4). The predicted dynamics (eq. (6)) are evaluated at
:math:`\theta^\dagger_t + \hat v_t` and not drawn after they left gradient descent's scale
(:func:`eos.analysis.run_agreement.prediction_breakdown`).

- :func:`plot_tracking` -- Fig. 4 for one run: a zoom on one self-stabilization cycle
  (:func:`eos.analysis.cycles.cycle_window`) above the whole run;
- :func:`plot_tracking_overview` -- App. G: one row per run (learning rate), whole runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from eos.analysis.agreement import two_step_average
from eos.analysis.cycles import cycle_window
from eos.analysis.run_agreement import prediction_breakdown
from eos.analysis.run_arrays import arrays_of, lr_of, series
from eos.figures.style import COLORS, LABELS, threshold_line

__all__ = ["TRACES", "plot_tracking", "plot_tracking_overview"]

#: The traces of every tracking panel, in drawing order.
TRACES: tuple[str, ...] = ("gd", "predicted", "constrained", "flow")


def _trace(a: Mapping[str, Any], prefix: str, what: str, two_step: bool):
    t = np.asarray(a["step"], np.float64)
    y = series(a, f"{prefix}/{what}")
    if prefix in ("predicted", "generalized"):
        stop = prediction_breakdown(a, prefix)
        if stop is not None:  # not drawn after it diverged (its axes would span 1e200)
            y = np.where(t >= stop, np.nan, y)
    if two_step and what == "sharpness" and y.size >= 2:
        return 0.5 * (t[:-1] + t[1:]), two_step_average(y)
    return t, y


def _figure_legend(fig: Figure, axes, *, top: float) -> None:
    """One legend for the whole figure, above the panels (labels deduplicated, in order)."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize="small",
               bbox_to_anchor=(0.5, top))  # fmt: skip


def _draw_tracking_row(axes, a, eta, *, two_step, generalized, window=None):
    a_l, a_s, a_d = axes
    if window is not None and two_step:  # the raw, period-2 sharpness of GD behind its average
        a_s.plot(np.asarray(a["step"], np.float64), series(a, "gd/sharpness"), color=COLORS["gd"],
                 lw=0.6, alpha=0.35, label="gradient descent (raw)")  # fmt: skip
    traces = list(TRACES) + (["generalized"] if generalized and "generalized/loss" in a else [])
    for key in traces:
        ls = "--" if key == "flow" else "-"
        lw = 1.4 if key == "gd" else 1.0
        kw = dict(color=COLORS[key], ls=ls, lw=lw, label=LABELS[key])
        a_l.plot(*_trace(a, key, "loss", two_step), **kw)
        a_s.plot(*_trace(a, key, "sharpness", two_step), **kw)
        if key != "constrained":
            a_d.plot(*_trace(a, key, "distance", two_step), **kw)
    t = np.asarray(a["step"], np.float64)
    a_d.plot(t, series(a, "constrained/delta"), color=COLORS["fixed_point"], lw=1.0, ls=":",
             label="predicted fixed point " + LABELS["fixed_point"])  # fmt: skip
    threshold_line(a_s, eta)
    if window is not None:
        t0, t1 = window
        for ax in axes:
            ax.set_xlim(t0, t1)
            _autoscale_y(ax, t0, t1)


def _autoscale_y(ax, t0: float, t1: float) -> None:
    """Fit the y-range to the data lines inside ``[t0, t1]`` (reference lines ignored)."""
    lo, hi = np.inf, -np.inf
    for line in ax.get_lines():
        if line.get_transform() != ax.transData:  # axhline & co. span the axes
            continue
        x, y = (np.asarray(v, np.float64) for v in line.get_data())
        m = (x >= t0) & (x <= t1) & np.isfinite(y)
        if m.any():
            lo, hi = min(lo, y[m].min()), max(hi, y[m].max())
    if np.isfinite(lo) and np.isfinite(hi):
        pad = 0.05 * (hi - lo) if hi > lo else (abs(hi) * 0.05 or 1e-12)
        ax.set_ylim(lo - pad, hi + pad)


def plot_tracking(
    result: Any,
    *,
    lr: float | None = None,
    window: tuple[int, int] | None = None,
    two_step: bool = True,
    generalized: bool = False,
    title: str | None = None,
) -> Figure:
    """Fig. 4 for one run: loss, sharpness and :math:`\\|\\theta_t - \\theta^\\dagger_t\\|` of gradient
    descent, the predicted dynamics (evaluated at :math:`\\theta^\\dagger_t + \\hat v_t`), the
    constrained trajectory and gradient flow (dashed), with the predicted fixed point
    :math:`\\delta_t`.

    Top row: a zoom on one cycle (``window``, default :func:`cycle_window`); bottom row: the
    whole run, the zoom marked by a dashed rectangle. ``two_step``: sharpness as two-step
    averages (the paper's choice; Theorem 1's period-2 term :math:`(\\nabla S_t\\cdot u_t)\\hat x_t`
    cancels; the zoom also shows GD's raw sharpness, faint), ``False`` for raw values.
    ``generalized``: add App. F's generalized predictions.
    """
    a = arrays_of(result)
    eta = lr_of(result, lr)
    if window is None:
        window = cycle_window(a)
    fig, axes = plt.subplots(2, 3, figsize=(12.5, 6.2))
    _draw_tracking_row(axes[0], a, eta, two_step=two_step, generalized=generalized,
                       window=window)  # fmt: skip
    _draw_tracking_row(axes[1], a, eta, two_step=two_step, generalized=generalized)
    t0, t1 = window
    for ax_top, ax in zip(axes[0], axes[1]):
        y0, y1 = ax_top.get_ylim()
        ax.add_patch(Rectangle((t0, y0), t1 - t0, y1 - y0, fill=False, ls="--", lw=1.0,
                               ec="0.2", zorder=5))  # fmt: skip
        ax.set_xlabel("steps since instability")
    avg = " (two-step average)" if two_step else ""
    axes[0, 0].set_title("training loss")
    axes[0, 1].set_title("sharpness" + avg)
    axes[0, 2].set_title(r"$\|\theta_t - \theta^\dagger_t\|$")
    axes[0, 0].set_ylabel("one cycle (zoom)")
    axes[1, 0].set_ylabel("whole run")
    fig.tight_layout()
    _figure_legend(fig, axes[1], top=1.0)
    if title:
        fig.suptitle(title, y=1.0 + 0.4 / fig.get_figheight(), va="bottom")
    return fig


def plot_tracking_overview(
    results: Sequence[Any], *, two_step: bool = True, generalized: bool = False,
    title: str | None = None,
) -> Figure:  # fmt: skip
    """App. G layout for one setting: one row per run (learning rate), the whole run, same
    panels and colours as :func:`plot_tracking`."""
    results = list(results)
    if not results:
        raise ValueError("results is empty")
    n = len(results)
    fig, axes = plt.subplots(n, 3, figsize=(12.5, 2.6 * n + 0.6), squeeze=False)
    for i, r in enumerate(results):
        _draw_tracking_row(axes[i], arrays_of(r), lr_of(r, None), two_step=two_step,
                           generalized=generalized)  # fmt: skip
        axes[i, 0].set_ylabel(rf"$\eta = {r.lr:g}$" + "\nloss")
    axes[0, 1].set_title("sharpness" + (" (two-step average)" if two_step else ""))
    axes[0, 0].set_title("training loss")
    axes[0, 2].set_title(r"$\|\theta_t - \theta^\dagger_t\|$")
    for ax in axes[-1]:
        ax.set_xlabel("steps since instability")
    fig.tight_layout()
    _figure_legend(fig, axes[0], top=1.0)
    if title:
        fig.suptitle(title, y=1.0 + 0.4 / fig.get_figheight(), va="bottom")
    return fig
