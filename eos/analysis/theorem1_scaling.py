r"""Theorem 1 as a scaling law: worst-case errors per run, their hypotheses, and slopes in eps.

Theorem 1 (Sec. 5): if :math:`\min_{t\le\mathcal T}|\hat x_t| \ge c_1\delta`, then for
:math:`t \le \mathcal T = O(\epsilon^{-1})`

.. math::

    |L(\theta_t) - L(\theta^\dagger_t) - \hat x_t^2/\eta| &= O(\epsilon\delta^2/\eta),\\
    |S(\theta_t) - 2/\eta - \hat y_t - (\nabla S_t\cdot u_t)\hat x_t| &= O(\epsilon^2/\eta),\\
    \|\theta_t - \theta^\dagger_t - \hat v_t\| &= O(\epsilon\delta),

with :math:`\epsilon = \sup_t\epsilon_t`, :math:`\epsilon_t = \eta\sqrt{\alpha_t}` (Definition 6),
:math:`\delta_t = \sqrt{2\alpha_t/\beta_t}` (Definition 4). Across runs :math:`\eta` and
:math:`\delta` change with :math:`\epsilon`, so the quantity fitted against :math:`\epsilon` is
each error divided by its factors other than :math:`\epsilon` (per step):

.. math::

    e^{L}_t = \frac{\eta\,|\text{loss error}_t|}{\delta_t^2} = O(\epsilon),\qquad
    e^{S}_t = \eta\,|\text{sharpness error}_t| = O(\epsilon^2),\qquad
    e^{\theta}_t = \frac{\|\text{deviation}_t\|}{\delta_t} = O(\epsilon).

Per run and variant, :func:`run_errors` reports over the coupling window the *worst*
:math:`e_t`, its median and the step of the worst, the ratio of the worst error to its full
scale (:math:`\epsilon_t\delta_t^2/\eta`, ...), :math:`\epsilon` (sup over the window), and the
hypotheses measured: :math:`\min|\hat x_t|/\delta_t` over the window and the horizon reached,
window length times :math:`\epsilon` (Theorem 1 needs :math:`\Theta(1)`). :func:`fit_slope`
fits :math:`\log e_{\max} = p\log\epsilon + c` across runs (least squares); Theorem 1's orders
are :data:`ORDERS` (:math:`p = 1, 2, 1`).

Two predictions, three windows (:data:`VARIANTS`):

* ``"paper"``: Definition 7's :math:`\hat v_0 = v_0` (the tracked run's ``theorem1/*``), window
  :math:`0 \le t \le 1/\epsilon_0`, as in :mod:`eos.analysis.claims.runs`;
* ``"paper-run"``: the same prediction over the whole tracked run (the horizon
  :math:`1/\epsilon_0` usually ends before the first blow-up, where its worst error is);
* ``"reanchored"``: :math:`\hat v := v` at the first step of each cycle with
  :math:`|x_t| \ge c_1\delta_t` (:mod:`eos.dynamics.reanchored`), window from the first anchor
  :math:`t_1` for :math:`1/\epsilon_{t_1}` steps, ended early at the first step where
  :math:`|\hat x_t| < c_1\delta_t` (there the hypothesis stops holding).

:func:`blowup_lags`: per cycle, the step at which GD's :math:`|x_t|/\delta_t` first reaches
``c1`` and the step of its peak, against the prediction's, and their differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eos.analysis.run_arrays import arrays_of, lr_of, series
from eos.dynamics.reanchored import cycle_starts

__all__ = [
    "ORDERS",
    "QUANTITIES",
    "VARIANTS",
    "blowup_lags",
    "fit_slope",
    "normalized_errors",
    "run_errors",
    "scaling_table",
    "slopes",
    "worst_median",
]

QUANTITIES = ("loss", "sharpness", "deviation")
#: Theorem 1's order in eps of each normalized error (module docstring).
ORDERS = {"loss": 1.0, "sharpness": 2.0, "deviation": 1.0}
VARIANTS = ("paper", "paper-run", "reanchored")


def worst_median(values: Any, steps: Any) -> dict[str, float]:
    """``worst`` (max), ``median`` and ``step`` of the worst of the finite ``values``
    (NaN everywhere when none is finite)."""
    v, s = np.asarray(values, np.float64), np.asarray(steps)
    ok = np.isfinite(v)
    if not ok.any():
        return {"worst": np.nan, "median": np.nan, "step": np.nan}
    i = int(np.flatnonzero(ok)[np.argmax(v[ok])])
    return {"worst": float(v[i]), "median": float(np.median(v[ok])), "step": float(s[i])}


def fit_slope(eps: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``(p, c)`` of ``log values = p log eps + c`` over the pairs with both
    finite and positive; NaNs when fewer than two such pairs or a single eps."""
    e, v = np.asarray(eps, np.float64), np.asarray(values, np.float64)
    ok = np.isfinite(e) & np.isfinite(v) & (e > 0) & (v > 0)
    if ok.sum() < 2 or np.ptp(np.log(e[ok])) == 0:
        return float("nan"), float("nan")
    p, c = np.polyfit(np.log(e[ok]), np.log(v[ok]), 1)
    return float(p), float(c)


def normalized_errors(gd: Mapping[str, Any], pred: Mapping[str, Any], lr: float) -> dict:
    """Per step: ``e_<q>`` (module docstring) and ``ratio_<q>`` (error over Theorem 1's full
    scale) from GD's ``gd/loss``, ``gd/sharpness`` (``gd``) and the prediction's
    ``theorem1/*`` with ``constrained/delta``, ``constrained/epsilon`` (``pred``)."""
    eps, delta = series(pred, "constrained/epsilon"), series(pred, "constrained/delta")
    n = min(len(eps), len(series(gd, "gd/loss")))
    eps, delta = eps[:n], delta[:n]
    loss = np.abs(series(gd, "gd/loss")[:n] - series(pred, "theorem1/loss")[:n])
    sharp = np.abs(series(gd, "gd/sharpness")[:n] - series(pred, "theorem1/sharpness")[:n])
    dev = series(pred, "theorem1/deviation")[:n]
    with np.errstate(divide="ignore", invalid="ignore"):
        e = {"loss": lr * loss / delta**2, "sharpness": lr * sharp, "deviation": dev / delta}
        scale = {"loss": eps * delta**2 / lr, "sharpness": eps**2 / lr, "deviation": eps * delta}
        err = {"loss": loss, "sharpness": sharp, "deviation": dev}
        out = {f"e_{q}": e[q] for q in QUANTITIES}
        out.update({f"ratio_{q}": err[q] / scale[q] for q in QUANTITIES})
    return out


def _window(pred: Mapping[str, Any], variant: str, c1: float) -> np.ndarray:
    """Boolean mask of the coupling window of ``variant`` (module docstring)."""
    eps, delta = series(pred, "constrained/epsilon"), series(pred, "constrained/delta")
    n = len(eps)
    mask = np.zeros(n, bool)
    if variant == "paper-run":
        mask[:] = True
        return mask
    if variant == "paper":
        start = 0
    else:
        anchors = np.flatnonzero(series(pred, "anchor") > 0)
        if anchors.size == 0:
            return mask
        start = int(anchors[0])
    if not (np.isfinite(eps[start]) and eps[start] > 0):
        return mask
    end = min(n, start + int(np.floor(1.0 / eps[start])) + 1)
    if variant == "reanchored":
        with np.errstate(invalid="ignore", divide="ignore"):
            below = np.abs(series(pred, "predicted/x")) / delta < c1
        later = np.flatnonzero(below[start:end])
        end = start + int(later[0]) if later.size else end
    mask[start:end] = True
    return mask


def run_errors(
    run: Any, reanchored: Mapping[str, Any], *, c1: float, lr: float | None = None
) -> dict[str, dict[str, float]]:
    """Per variant: for each quantity ``<q>_worst``, ``<q>_median``, ``<q>_step`` (of the worst)
    of ``e_<q>``, ``<q>_ratio`` (worst error over its full scale); ``eps`` (sup over the
    window), ``min_x_over_delta``, ``horizon`` (window length x eps), ``start``, ``end``.
    ``run``: a tracked run (Result, Trajectory or arrays, with ``lr``); ``reanchored``: the
    arrays of :func:`eos.dynamics.reanchored.reanchored` along it."""
    a = arrays_of(run)
    eta = lr_of(run, lr)
    out = {}
    for variant, pred in (("paper", a), ("paper-run", a), ("reanchored", reanchored)):
        mask = _window(pred, variant, c1)
        e = normalized_errors(a, pred, eta)
        n = len(e["e_loss"])
        mask = mask[:n]
        steps = np.asarray(a["step"])[:n]
        row: dict[str, float] = {"start": np.nan, "end": np.nan}
        for q in QUANTITIES:
            wm = worst_median(e[f"e_{q}"][mask], steps[mask])
            row.update({f"{q}_{k}": wm[k] for k in ("worst", "median", "step")})
            ratio = np.asarray(e[f"ratio_{q}"])[mask]
            row[f"{q}_ratio"] = float(np.nanmax(ratio)) if np.isfinite(ratio).any() else np.nan
        eps = series(pred, "constrained/epsilon")[:n][mask]
        delta = series(pred, "constrained/delta")[:n][mask]
        x_hat = np.abs(series(pred, "predicted/x")[:n][mask])
        row["eps"] = float(np.nanmax(eps)) if mask.any() else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            row["min_x_over_delta"] = float(np.nanmin(x_hat / delta)) if mask.any() else np.nan
        row["horizon"] = float(mask.sum() * row["eps"]) if mask.any() else 0.0
        if mask.any():
            row["start"], row["end"] = float(steps[mask][0]), float(steps[mask][-1])
        out[variant] = row
    return out


def blowup_lags(x_gd: Any, x_pred: Any, delta: Any, c1: float) -> list[dict[str, float]]:
    """Per cycle ``k`` (the ``k``-th excursion of ``|x|/delta`` above ``c1`` of each): GD's and
    the prediction's first step above (``gd_start``, ``pred_start``), the steps of their peaks
    within the excursion (``gd_peak``, ``pred_peak``) and the lags ``start_lag``,
    ``peak_lag`` (prediction minus GD). Cycles that only one of them has are left out."""

    def cycles(x: Any) -> list[tuple[int, int]]:
        r = np.abs(np.asarray(x, np.float64)) / np.asarray(delta, np.float64)
        r = np.nan_to_num(r, nan=-1.0)
        out = []
        for s in cycle_starts(x, delta, c1):
            below = np.flatnonzero(r[s:] < c1)
            end = s + int(below[0]) if below.size else len(r)
            out.append((int(s), int(s + np.argmax(r[s:end]))))
        return out

    rows = []
    for (gs, gp), (ps, pp) in zip(cycles(x_gd), cycles(x_pred)):
        rows.append({"gd_start": gs, "pred_start": ps, "gd_peak": gp, "pred_peak": pp,
                     "start_lag": ps - gs, "peak_lag": pp - gp})  # fmt: skip
    return rows


def scaling_table(runs: Mapping[str, tuple[Any, Mapping[str, Any]]], *, c1: float):
    """One row per (run, variant): :func:`run_errors` with ``run``, ``variant``, ``lr`` and the
    first cycle's lags (``start_lag``, ``peak_lag``; the paper variant's, GD against
    :math:`\\hat x`). ``runs``: name -> (tracked run, its re-anchored arrays). A pandas DataFrame."""
    import pandas as pd

    rows = []
    for name, (run, re) in runs.items():
        a, eta = arrays_of(run), lr_of(run, None)
        errs = run_errors(run, re, c1=c1)
        lags = blowup_lags(a["gd/x"], a["predicted/x"], a["constrained/delta"], c1)
        first = lags[0] if lags else {"start_lag": np.nan, "peak_lag": np.nan}
        for variant in VARIANTS:
            rows.append({"run": name, "variant": variant, "lr": eta, **errs[variant],
                         "start_lag": first["start_lag"], "peak_lag": first["peak_lag"]})  # fmt: skip
    return pd.DataFrame(rows)


def slopes(table: Any) -> dict[str, dict[str, float]]:
    """Per variant and quantity the fitted slope of the worst ``e_<q>`` against ``eps`` across
    the rows of :func:`scaling_table`: ``{variant: {q: p}}``."""
    out: dict[str, dict[str, float]] = {}
    for variant in VARIANTS:
        rows = table[table["variant"] == variant]
        out[variant] = {q: fit_slope(rows["eps"], rows[f"{q}_worst"])[0] for q in QUANTITIES}
    return out
