r"""App. E's eight plots of Assumptions 1-5 (Sec. 5) along the constrained trajectory of each run.

One row per run (e.g. per learning rate), one column per quantity of
:func:`eos.analysis.assumptions.assumption_quantities`, in the paper's order (:data:`ASSUMPTION_PANELS`):
:math:`\alpha_t` (Assumption 1), :math:`\epsilon_t = \eta\sqrt{\alpha_t}`, the two ratios of
Assumption 4, :math:`\rho_4` against :math:`\eta\rho_3^2` (Assumption 3) and the three ratios of
Assumption 5 next to :math:`\epsilon_t`. The per-run verdicts are
:func:`eos.analysis.assumption_verdicts.assumption_table`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from eos.analysis.assumption_verdicts import assumption_history
from eos.analysis.run_arrays import lr_of
from eos.figures.style import COLORS

__all__ = ["ASSUMPTION_PANELS", "plot_assumptions"]

#: App. E's eight plots, in the paper's order: (title, keys plotted, reference).
#: ``reference`` is ``"zero"`` (a line at 0), ``"epsilon"`` (the run's epsilon_t, for
#: Assumption 5's O(epsilon) ratios) or ``None``.
ASSUMPTION_PANELS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    (r"A1: $\alpha_t$", ("alpha",), "zero"),
    (r"$\epsilon_t = \eta\sqrt{\alpha_t}$", ("epsilon",), None),
    (r"A4: $\alpha_t/(\|\nabla L_t\|\|\nabla S_t^\perp\|)$", ("a4_alignment",), None),
    (r"A4: $\|\nabla S^\perp_t\|/\rho_3$", ("a4_grad_sharpness_over_rho3",), None),
    (r"A3: $\rho_4$ vs $\eta\rho_3^2$", ("rho4", "eta_rho3_sq"), None),
    (r"A5: $\|\nabla^3L_t(v,w)\|/\rho_3$, $v,w\perp u$", ("a5_third_perp",), "epsilon"),
    (
        r"A5: $|\nabla^2L_t(\hat v^\perp,\hat v^\perp)|$ ratio",
        ("a5_hessian_displacement",),
        "epsilon",
    ),
    (r"A5: $|\lambda_{\min}|/\|\nabla^2L_t\|$", ("a5_lambda_min",), "epsilon"),
)


def plot_assumptions(results: Sequence[Any], *, title: str | None = None) -> Figure:
    """App. E's eight plots for each run (one row per run, e.g. per learning rate).

    Each quantity is evaluated along the constrained trajectory every ``diag_every`` steps
    (:func:`eos.analysis.assumptions.assumption_quantities`). Assumption 3's panel shows
    :math:`\\rho_4` and :math:`\\eta\\rho_3^2` together (log scale); Assumption 5's ratios are
    drawn with the run's :math:`\\epsilon_t` (dashed), the size the theory asks them to be of.
    """
    results = list(results)
    if not results:
        raise ValueError("results is empty")
    n = len(results)
    fig, axes = plt.subplots(n, 8, figsize=(19, 1.9 * n + 0.7), squeeze=False)
    for i, r in enumerate(results):
        h = assumption_history(r)
        eta = lr_of(r, None)
        h["eta_rho3_sq"] = eta * h["rho3"] ** 2
        t = h["step"]
        for j, (ttl, keys, ref) in enumerate(ASSUMPTION_PANELS):
            ax = axes[i, j]
            if keys == ("rho4", "eta_rho3_sq"):
                ax.semilogy(t, h["rho4"], color=COLORS["gd"], lw=1.2, marker=".", label=r"$\rho_4$")
                ax.semilogy(t, h["eta_rho3_sq"], color=COLORS["predicted"], lw=1.2, ls="--",
                            marker=".", label=r"$\eta\rho_3^2$")  # fmt: skip
                if i == 0:
                    ax.legend(fontsize="x-small", loc="best")
            else:
                ax.plot(t, h[keys[0]], color=COLORS["constrained"], lw=1.2, marker=".")
            if ref == "zero":
                ax.axhline(0, color=COLORS["threshold"], ls="--", lw=0.8)
            elif ref == "epsilon":
                ax.plot(t, h["epsilon"], color=COLORS["threshold"], ls="--", lw=0.8,
                        label=r"$\epsilon_t$")  # fmt: skip
                if i == 0 and j == 5:
                    ax.legend(fontsize="x-small", loc="best")
            if i == 0:
                ax.set_title(ttl, fontsize="small")
            if i == n - 1:
                ax.set_xlabel("steps since instability", fontsize="small")
            ax.tick_params(labelsize="x-small")
        axes[i, 0].set_ylabel(rf"$\eta = {eta:g}$")
    if title:
        fig.suptitle(title, y=1.0)
    fig.tight_layout()
    return fig
