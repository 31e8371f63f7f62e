"""Tables and figures of the chapter "Generalized predicted dynamics" (Sec. 7.2, Apps. F, G.2).

Thin helpers on the arrays of a tracked run (``Result.trajectory`` / ``Trajectory.arrays``, keys
of :mod:`eos.dynamics.tracking`): App. F's line profiles
:math:`F_t(x) = L(\\theta^\\dagger_t + x u_t) - L(\\theta^\\dagger_t) - x^2/\\eta` recorded every
``diag_every`` steps (``quadratic/...``), their classification along training, the limiting
sharpness of eq. (11) against the observed sharpness, and GD against both predictions.

- :func:`profile_series` -- per diagnostic step: :math:`\\delta_t`, the class of :math:`F_t`
  (:func:`eos.analysis.quadratic.classify`), :math:`\\kappa_t = F_t''(\\delta_t) - F_t'(\\delta_t)/\\delta_t`
  (:math:`S_\\infty - 2/\\eta`, App. F.2), :math:`F_t^{even}(\\delta_t)` relative to the quadratic
  model :math:`\\delta_t^2/\\eta`, and the limiting sharpness;
- :func:`hermite_mismatch` -- an independent consistency check of a recorded profile: the
  increments of :math:`F` against the two-point Hermite quadrature of :math:`F'` (with
  :math:`F''`), exact for quartic :math:`F`;
- :func:`agreement_rows` -- the agreement metrics of :mod:`eos.analysis.agreement` for the
  standard (eq. (5)) and the generalized (eq. (11)) predictions, side by side;
- :func:`cycle_means` -- averages over the complete turns of an orbit of eq. (11) around
  :math:`(\\delta, y^*)`;
- :func:`markdown_table` -- a Markdown table of rows mixing numbers and words;
- :func:`window_mean` -- the time average of a series over its last fraction;
- :func:`robust_limits` -- axis limits from the series that must stay readable (a diverging
  prediction must not flatten the figure);
- ``plot_*`` -- the panels of the chapter's figures, in the book's colours
  (:data:`eos.plotting.COLORS`).

Nothing here changes a computed number of a run; the module only reads arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from eos.analysis import agreement, quadratic
from eos.plotting import COLORS, LABELS, sweep_colors, threshold_line

__all__ = [
    "CLASS_MARKERS",
    "PREDICTIONS",
    "agreement_rows",
    "cycle_means",
    "hermite_mismatch",
    "markdown_table",
    "plot_classification",
    "plot_limiting_sharpness",
    "plot_line_profiles",
    "plot_predictions",
    "profile_series",
    "robust_limits",
    "window_mean",
]

#: Marker of each class of :func:`eos.analysis.quadratic.classify` in the figures.
CLASS_MARKERS: dict[str, str] = {
    "sub-quadratic": "v",
    "super-quadratic": "^",
    "mixed": "X",
    "quadratic": "o",
}

#: Row label -> key prefix of the two predictions compared in the chapter.
PREDICTIONS: dict[str, str] = {"standard": "predicted", "generalized": "generalized"}

_QUAD_KEYS = ("quadratic/step", "quadratic/x", "quadratic/F", "quadratic/dF", "quadratic/d2F")


def _require(arrays: Mapping[str, Any], keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(
            f"the trajectory arrays lack {missing}; run the experiment with diagnostics "
            "(eos.dynamics.track(..., diagnostics=True)); available: "
            f"{', '.join(sorted(arrays))}"
        )


def _delta_index(xs: np.ndarray, delta: float) -> int:
    """Index of the grid point ``x = delta`` (the grid is ``multiples * delta``)."""
    i = int(np.argmin(np.abs(xs - delta)))
    if not np.isclose(xs[i], delta, rtol=1e-9, atol=0.0):
        raise ValueError(f"the profile grid {xs} does not contain x = delta = {delta:.6g}")
    return i


#: The class :func:`profile_series` gives a diagnostic step without a fixed point
#: (:math:`\alpha_t \le 0`, so :math:`\delta_t` and the grid in its units are undefined).
NO_FIXED_POINT = "no fixed point"


def profile_series(arrays: Mapping[str, Any], lr: float, *, window: float = 2.0) -> dict[str, Any]:
    """App. F's line profiles of a run, one entry per diagnostic step.

    App. F.2 replaces :math:`F_t` by its even part (the odd part, e.g. the cubic term
    :math:`(\\nabla S_t\\cdot u_t) x^3/6`, only adds period-2 oscillations), so the limiting
    sharpness is computed from :math:`F^{even}_t{}'(\\delta) = (F_t'(\\delta) - F_t'(-\\delta))/2` and
    :math:`F^{even}_t{}''(\\delta) = (F_t''(\\delta) + F_t''(-\\delta))/2` (the grid must contain
    :math:`\\pm\\delta_t`). Returns numpy arrays ``step``, ``delta`` (:math:`\\delta_t`), ``kappa``
    (:math:`F''(\\delta_t) - F'(\\delta_t)/\\delta_t = S_\\infty - 2/\\eta` for the even part),
    ``kappa_raw`` (the same from :math:`F_t` itself at :math:`+\\delta_t`, as
    ``quadratic/limiting_sharpness`` of the tracker records it),
    ``dF_even``/``d2F_even`` (:math:`F^{even}_t{}'(\\delta_t)`, :math:`F^{even}_t{}''(\\delta_t)`),
    ``relative_offset`` (``kappa * lr / 2``, i.e. :math:`(S_\\infty - 2/\\eta)/(2/\\eta)`),
    ``even_at_delta`` (:math:`F^{even}_t(\\delta_t)\\,\\eta/\\delta_t^2`: the deviation from the
    quadratic model at the fixed point, relative to that model), ``limiting_sharpness``
    (:math:`2/\\eta` + ``kappa``) and the list ``classes``
    (:func:`eos.analysis.quadratic.classify` with ``lr`` and ``delta``, on :math:`|x| \\le`
    ``window`` :math:`\\delta_t`; :data:`NO_FIXED_POINT` with NaN numbers at a step where
    :math:`\\alpha_t \\le 0`).
    """
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    _require(arrays, (*_QUAD_KEYS, "quadratic/delta"))
    steps = np.asarray(arrays["quadratic/step"]).astype(np.int64).ravel()
    X = np.atleast_2d(np.asarray(arrays["quadratic/x"], dtype=np.float64))
    F = np.atleast_2d(np.asarray(arrays["quadratic/F"], dtype=np.float64))
    dF = np.atleast_2d(np.asarray(arrays["quadratic/dF"], dtype=np.float64))
    d2F = np.atleast_2d(np.asarray(arrays["quadratic/d2F"], dtype=np.float64))
    if not (X.shape == F.shape == dF.shape == d2F.shape and X.shape[0] == steps.size):
        raise ValueError(
            f"inconsistent profile shapes: step {steps.shape}, x {X.shape}, F {F.shape}, "
            f"dF {dF.shape}, d2F {d2F.shape}"
        )
    delta = np.asarray(arrays["quadratic/delta"], dtype=np.float64).ravel()
    if delta.size != steps.size:
        raise ValueError(f"quadratic/delta has {delta.size} entries for {steps.size} steps")
    out: dict[str, Any] = {"step": steps, "delta": delta, "classes": []}
    kappa, kappa_raw, even, dF_even, d2F_even = [], [], [], [], []
    for i in range(steps.size):
        if not (np.isfinite(delta[i]) and delta[i] > 0):
            # no fixed point (alpha_t <= 0: Assumption 1 fails), so no grid in units of delta
            for series in (kappa, kappa_raw, even, dF_even, d2F_even):
                series.append(float("nan"))
            out["classes"].append(NO_FIXED_POINT)
            continue
        j = _delta_index(X[i], delta[i])
        k = _delta_index(X[i], -delta[i])
        # even part at delta: F_e' = (F'(d) - F'(-d))/2, F_e'' = (F''(d) + F''(-d))/2 (App. F.2)
        dFe = 0.5 * (dF[i, j] - dF[i, k])
        d2Fe = 0.5 * (d2F[i, j] + d2F[i, k])
        dF_even.append(float(dFe))
        d2F_even.append(float(d2Fe))
        kappa.append(float(quadratic.limiting_sharpness_offset(dFe, d2Fe, delta[i])))
        kappa_raw.append(float(quadratic.limiting_sharpness_offset(dF[i, j], d2F[i, j], delta[i])))
        Fe = quadratic.even_part(F[i], X[i])
        even.append(float(Fe[j] * lr / delta[i] ** 2))
        out["classes"].append(quadratic.classify(F[i], X[i], lr=lr, delta=delta[i], window=window))
    out["kappa"] = np.asarray(kappa)
    out["kappa_raw"] = np.asarray(kappa_raw)
    out["dF_even"] = np.asarray(dF_even)
    out["d2F_even"] = np.asarray(d2F_even)
    out["relative_offset"] = np.asarray(kappa) * lr / 2.0
    out["even_at_delta"] = np.asarray(even)
    out["limiting_sharpness"] = 2.0 / lr + np.asarray(kappa)
    return out


def hermite_mismatch(xs: Any, F: Any, dF: Any, d2F: Any) -> float:
    """Largest mismatch between the increments of ``F`` and the Hermite quadrature of ``dF``.

    On each grid interval :math:`[a, b]`, :math:`h = b - a`,
    :math:`F(b) - F(a) = \\tfrac h2 (F'(a) + F'(b)) + \\tfrac{h^2}{12}(F''(a) - F''(b)) + O(h^5 F^{(5)})`.
    Returns the largest absolute difference divided by the largest :math:`|F(b) - F(a)|`
    (a relative number; 0 when ``F`` is a quartic polynomial). ``F``, ``dF``, ``d2F`` are sampled
    at the increasing ``xs``.
    """
    x = np.asarray(xs, dtype=np.float64)
    f, g, k = (np.asarray(a, dtype=np.float64) for a in (F, dF, d2F))
    if not (x.shape == f.shape == g.shape == k.shape) or x.ndim != 1 or x.size < 2:
        raise ValueError(
            "xs, F, dF, d2F must be 1-d arrays of equal length >= 2, got "
            f"{x.shape}, {f.shape}, {g.shape}, {k.shape}"
        )
    if np.any(np.diff(x) <= 0):
        raise ValueError("xs must be strictly increasing")
    h = np.diff(x)
    inc = np.diff(f)
    quad = 0.5 * h * (g[:-1] + g[1:]) + h**2 / 12.0 * (k[:-1] - k[1:])
    scale = float(np.max(np.abs(inc)))
    if scale == 0.0:
        return 0.0 if np.all(quad == 0.0) else float("inf")
    return float(np.max(np.abs(inc - quad)) / scale)


def agreement_rows(arrays: Mapping[str, Any], lr: float) -> dict[str, dict[str, Any]]:
    """Agreement of each prediction with gradient descent, one row per prediction.

    ``{"standard": row, "generalized": row}`` where each row has ``steps`` and the median and
    worst relative errors of the loss and of the two-step-averaged sharpness (relative to
    :math:`2/\\eta`), both from :func:`eos.analysis.agreement.agreement_table`, and of
    :math:`x_t` relative to :math:`\\delta_t` (:func:`eos.analysis.agreement.relative_error_summary`
    of ``<prefix>/x`` against ``gd/x`` with scale ``constrained/delta``, the table's
    ``x_error`` for the standard prediction). Needs at least two recorded steps.
    """
    _require(arrays, ("gd/loss", "gd/sharpness", "gd/x", "constrained/delta")
             + tuple(f"{p}/{q}" for p in PREDICTIONS.values() for q in ("loss", "sharpness", "x")))  # fmt: skip
    n = np.asarray(arrays["gd/loss"]).size
    if n < 2:
        raise ValueError(f"agreement needs at least 2 recorded steps, the run has {n}")
    table = agreement.agreement_table(arrays, lr, predictions=tuple(PREDICTIONS.values()))
    rows: dict[str, dict[str, Any]] = {}
    for label, prefix in PREDICTIONS.items():
        xs = agreement.relative_error_summary(
            arrays[f"{prefix}/x"], arrays["gd/x"], scale=arrays["constrained/delta"]
        )
        rows[label] = {
            "steps": int(table["steps"]),
            "loss median": table[f"{prefix}_loss_median"],
            "loss worst": table[f"{prefix}_loss_worst"],
            "sharpness median": table[f"{prefix}_sharpness_median"],
            "sharpness worst": table[f"{prefix}_sharpness_worst"],
            "x/delta median": xs["median"],
            "x/delta worst": xs["worst"],
        }
    return rows


def cycle_means(abs_x: Any, y: Any, values: Any, *, delta: float, y_star: float) -> np.ndarray:
    """Mean of ``values`` over each complete turn of :math:`(|x_t|, y_t)` around :math:`(\\delta, y^*)`.

    A turn starts at every upward crossing of :math:`y = y^*` with :math:`|x| < \\delta` (the
    section where the orbits of eqs. (3)-(11) leave the return-to-stability stage); entry ``k``
    is the mean of ``values[c_k:c_{k+1}]`` between crossings ``k`` and ``k + 1``. Empty when
    fewer than two crossings occur.
    """
    ax = np.abs(np.asarray(abs_x, dtype=np.float64).ravel())
    yy = np.asarray(y, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if not (ax.size == yy.size == v.size):
        raise ValueError(
            f"abs_x, y, values must have equal lengths, got {ax.size}, {yy.size}, {v.size}"
        )
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    d = yy - y_star
    c = np.flatnonzero((d[:-1] < 0) & (d[1:] >= 0) & (ax[1:] < delta)) + 1
    return np.array([v[a:b].mean() for a, b in zip(c[:-1], c[1:])])


def markdown_table(rows: Mapping[str, Mapping[str, Any]], digits: int = 3) -> str:
    """A Markdown table, one line per row name, as :func:`eos.analysis.agreement.format_table`
    but also accepting text cells (printed as they are)."""
    if not rows:
        raise ValueError("rows is empty")
    cols: list[str] = []
    for r in rows.values():
        cols.extend(c for c in r if c not in cols)

    def fmt(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, str):
            return v
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        return f"{float(v):.{digits}g}"

    lines = ["| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(fmt(r.get(c)) for c in cols) + " |"
              for name, r in rows.items()]  # fmt: skip
    return "\n".join(lines)


def window_mean(series: Any, start_fraction: float = 0.0) -> float:
    """Mean of the finite entries of ``series`` from index ``floor(start_fraction * n)`` on."""
    a = np.asarray(series, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError("series is empty")
    if not 0.0 <= start_fraction < 1.0:
        raise ValueError(f"start_fraction must be in [0, 1), got {start_fraction}")
    tail = a[int(np.floor(start_fraction * a.size)) :]
    tail = tail[np.isfinite(tail)]
    return float(np.mean(tail)) if tail.size else float("nan")


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


# ------------------------------------------------------------------------------ plotting
def plot_line_profiles(
    ax: plt.Axes, arrays: Mapping[str, Any], lr: float, *, n_curves: int = 5
) -> list[int]:
    """:math:`F_t(x)` in units of the quadratic model at :math:`\\delta_t` against :math:`x/\\delta_t`.

    Up to ``n_curves`` diagnostic steps, evenly spread from the first to the last; thick: the
    even part (App. F.2), thin: :math:`F_t` itself. Returns the indices plotted.
    """
    _require(arrays, (*_QUAD_KEYS, "quadratic/delta"))
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


def plot_predictions(axes: Sequence[plt.Axes], arrays: Mapping[str, Any], lr: float) -> None:
    """Three panels: loss, two-step-averaged sharpness and :math:`x_t`, for GD and both predictions.

    The vertical range follows gradient descent and :math:`\\theta^\\dagger` (a diverging
    prediction leaves the panel rather than flattening it).
    """
    _require(arrays, ("gd/loss", "gd/sharpness", "gd/x", "predicted/loss", "predicted/sharpness",
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
            a_sharp.plot(th, agreement.two_step_average(arrays[f"{key}/sharpness"]),
                         color=COLORS[key], ls=ls, lw=lw)  # fmt: skip
        a_sharp.set_ylim(
            *robust_limits(agreement.two_step_average(arrays["gd/sharpness"]), [2.0 / lr])
        )
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


def plot_limiting_sharpness(
    ax: plt.Axes, arrays: Mapping[str, Any], lr: float, series: Mapping[str, Any]
) -> None:
    """Observed sharpness (two-step average and its running mean) against :math:`S_\\infty` of eq. (11).

    ``series`` is :func:`profile_series` of the same run (:math:`S_\\infty` of the even part).
    """
    _require(arrays, ("gd/sharpness",))
    S = np.asarray(arrays["gd/sharpness"], dtype=np.float64)
    if S.size >= 2:
        avg = agreement.two_step_average(S)
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
