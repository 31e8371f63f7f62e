r"""App. F: the loss along the top eigenvector beyond its quadratic model, along training.

The line profile :math:`F_t(x) = L(\theta^\dagger_t + x u_t) - L(\theta^\dagger_t) - x^2/\eta`
(App. F.1), recorded every ``diag_every`` steps of a tracked run:

- :func:`plot_line_profiles` -- :math:`F_t` and its even part in units of the quadratic model at
  the fixed point, :math:`\delta_t^2/\eta`, against :math:`x/\delta_t`, at a few steps;
- :func:`plot_classification` -- a number per diagnostic step of
  :func:`eos.analysis.limiting.profile_series`, each point marked by the class of :math:`F_t`
  (sub-quadratic, super-quadratic, mixed, quadratic; :data:`CLASS_MARKERS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from eos.analysis import quadratic
from eos.analysis.limiting import PROFILE_KEYS
from eos.analysis.run_arrays import require_keys
from eos.figures.style import COLORS, sweep_colors

__all__ = ["CLASS_MARKERS", "plot_classification", "plot_line_profiles"]

#: Marker of each class of :func:`eos.analysis.quadratic.classify` in the figures.
CLASS_MARKERS: dict[str, str] = {
    "sub-quadratic": "v",
    "super-quadratic": "^",
    "mixed": "X",
    "quadratic": "o",
}


def plot_line_profiles(
    ax: plt.Axes, arrays: Mapping[str, Any], lr: float, *, n_curves: int = 5
) -> list[int]:
    """:math:`F_t(x)` in units of the quadratic model at :math:`\\delta_t` against :math:`x/\\delta_t`.

    Up to ``n_curves`` diagnostic steps, evenly spread from the first to the last; thick: the
    even part (App. F.2), thin: :math:`F_t` itself. Returns the indices plotted.
    """
    require_keys(arrays, PROFILE_KEYS)
    X = np.atleast_2d(np.asarray(arrays["quadratic/x"], dtype=np.float64))
    F = np.atleast_2d(np.asarray(arrays["quadratic/F"], dtype=np.float64))
    delta = np.asarray(arrays["quadratic/delta"], dtype=np.float64).ravel()
    steps = np.asarray(arrays["quadratic/step"]).ravel()
    n = X.shape[0]
    idx = sorted(set(np.linspace(0, n - 1, min(n_curves, n)).round().astype(int).tolist()))
    for i, color in zip(idx, sweep_colors(len(idx))):
        unit = delta[i] ** 2 / lr
        r = X[i] / delta[i]
        ax.plot(r, quadratic.even_part(F[i], X[i]) / unit, color=color, label=f"$t = {steps[i]}$")
        ax.plot(r, F[i] / unit, color=color, lw=0.7, ls=":")
    ax.axhline(0.0, color=COLORS["threshold"], lw=0.8, ls="--")
    for s in (-1.0, 1.0):
        ax.axvline(s, color=COLORS["fixed_point"], lw=0.8, ls=":")
    ax.set_xlabel(r"$x / \delta_t$")
    ax.set_ylabel(r"$F_t(x)\;/\;(\delta_t^2/\eta)$")
    return idx


def plot_classification(
    ax: plt.Axes,
    series: Mapping[str, Any],
    *,
    color: Any,
    label: str,
    quantity: str = "relative_offset",
) -> None:
    """``series[quantity]`` per diagnostic step, each point marked by the class of :math:`F_t`.

    ``quantity``: ``"relative_offset"`` (:math:`(S_\\infty - 2/\\eta)/(2/\\eta)`) or
    ``"even_at_delta"`` (:math:`F^{even}_t(\\delta_t)\\,\\eta/\\delta_t^2`), see :func:`profile_series`.
    """
    if quantity not in ("relative_offset", "even_at_delta"):
        raise ValueError(f"quantity must be 'relative_offset' or 'even_at_delta', got {quantity!r}")
    steps = np.asarray(series["step"])
    vals = np.asarray(series[quantity])
    ax.plot(steps, vals, color=color, lw=1.0, label=label)
    for cls, marker in CLASS_MARKERS.items():
        m = np.array([c == cls for c in series["classes"]], dtype=bool)
        if m.any():
            ax.scatter(steps[m], vals[m], marker=marker, color=color, s=36, zorder=3)
    ax.axhline(0.0, color=COLORS["threshold"], lw=0.8, ls="--")
