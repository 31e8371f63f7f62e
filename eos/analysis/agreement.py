"""How well the predictions agree with gradient descent (Sec. 6, Fig. 4, App. G; Sec. 8.2).

Pure numpy functions on the arrays of a trajectory (``Trajectory.arrays``, keys such as
``gd/loss``, ``gd/sharpness``, ``gd/x``, ``gd/y``, ``gd/distance``, ``theorem1/loss``,
``theorem1/sharpness``, ``theorem1/deviation``, ``constrained/delta``, ``constrained/alpha``,
``flow/distance``). They produce the numbers of the architectures and coupling chapters' tables:

- :func:`two_step_average` -- the paper plots sharpness as two-step averages (the period-2
  component :math:`(\\nabla S\\cdot u)\\hat x_t` of Theorem 1 cancels);
- :func:`relative_error_summary` -- median and worst relative error of a prediction;
- :func:`count_cycles` -- complete self-stabilization cycles (the four stages of Sec. 4.1);
- :func:`quarter_turns` -- the net number of stage changes in that order (3: all four stages seen);
- :func:`approaches_fixed_point` -- whether :math:`(|x_t|, y_t) \\to (\\delta_t, 0)` (Sec. 4.2, Sec. 6);
- :func:`agreement_table` -- all of the above for one run;
- :func:`period_two_regularity` -- how period-2 a signal is in a sliding window (Sec. 8.2: the
  dynamics become irregular once several eigenvalues are unstable).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eos.validate import positive_number

__all__ = [
    "agreement_table",
    "approaches_fixed_point",
    "count_cycles",
    "period_two_regularity",
    "quarter_turns",
    "relative_error_summary",
    "two_step_average",
]


def _1d(name: str, a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a one-dimensional array, got shape {arr.shape}")
    return arr


def _broadcast(name: str, a: Any, n: int) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have length {n}, got shape {arr.shape}")
    return arr


def two_step_average(a: Any) -> np.ndarray:
    """:math:`(a_t + a_{t+1})/2` for :math:`t = 0, \\dots, n-2` (length ``n - 1``).

    Removes a period-2 component :math:`c(-1)^t` exactly and averages a slowly varying signal to
    second order; entry ``t`` belongs to the half-step :math:`t + 1/2`.
    """
    arr = _1d("a", a)
    if arr.size < 2:
        raise ValueError(f"two_step_average needs at least 2 values, got {arr.size}")
    return 0.5 * (arr[:-1] + arr[1:])


def relative_error_summary(pred: Any, true: Any, *, scale: Any = None) -> dict[str, float]:
    """Median and worst of :math:`|\\text{pred}_t - \\text{true}_t| / |\\text{scale}_t|` (default scale = true).

    Returns ``median``, ``worst``, ``n`` (finite pairs used) and ``n_nonfinite`` (pairs where
    either value, or the error, is not finite: a diverged prediction shows up here instead of
    disappearing). A zero scale gives an infinite error.
    """
    p = _1d("pred", pred)
    t = _1d("true", true)
    if p.shape != t.shape:
        raise ValueError(f"pred and true must have the same length, got {p.size} and {t.size}")
    s = np.abs(t) if scale is None else np.abs(_broadcast("scale", scale, t.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(p - t) / s
    err = np.where((np.abs(p - t) == 0) & (s == 0), 0.0, err)
    fin = np.isfinite(err) & np.isfinite(p) & np.isfinite(t)
    used = err[fin]
    return {
        "median": float(np.median(used)) if used.size else float("nan"),
        "worst": float(np.max(used)) if used.size else float("nan"),
        "n": int(used.size),
        "n_nonfinite": int(err.size - used.size),
    }


# Quadrants of the (|x| - delta, y) plane in the order the orbit of eq. (4) visits them
# (Sec. 4.1): blowup (|x| < delta, y > 0) -> self-stabilization (|x| > delta, y > 0) ->
# (|x| > delta, y < 0) -> return to stability (|x| < delta, y < 0) -> ...
_ORDER = {(-1, 1): 0, (1, 1): 1, (1, -1): 2, (-1, -1): 3}


def quarter_turns(x: Any, y: Any, delta: Any, *, x_band: float = 0.1, y_band: float = 0.0) -> int:
    r"""Net quarter turns of :math:`(|x_t|, y_t)` around :math:`(\delta_t, 0)` in the sense of the
    four stages of Sec. 4.1 (a negative total counts as 0).

    The orbits of eq. (4) turn around the fixed point :math:`(\delta, 0)` visiting, in order,
    the quadrants :math:`(|x|<\delta, y>0)` (progressive sharpening, then blowup starts),
    :math:`(|x|>\delta, y>0)` (blowup turning into self-stabilization: :math:`y` falls),
    :math:`(|x|>\delta, y<0)` (self-stabilization) and :math:`(|x|<\delta, y<0)` (return to
    stability). Each move to the next quadrant in that order adds one, each move back subtracts
    one; a jump to the opposite quadrant changes nothing. A point is assigned a quadrant only
    when :math:`||x|/\delta - 1| >` ``x_band`` and :math:`|y| >` ``y_band`` (hysteresis, so the
    period-2 jitter and tiny oscillations near the fixed point do not count). ``delta`` may be a
    scalar or an array (:math:`\delta_t`); ``x`` may be signed (its absolute value is used).
    Steps where :math:`\delta_t` is NaN (no fixed point: :math:`\alpha_t \le 0`) are not
    assigned a quadrant, like points inside the bands.

    Three quarter turns from the first quadrant mean that the four stages were all seen, in
    order (blowup, self-stabilization and return to stability after progressive sharpening);
    four make a complete revolution, one of :func:`count_cycles`.
    """
    ax = np.abs(_1d("x", x))
    yy = _1d("y", y)
    if yy.size != ax.size:
        raise ValueError(f"x and y must have the same length, got {ax.size} and {yy.size}")
    d = _broadcast("delta", delta, ax.size)
    undefined = np.isnan(d)  # no fixed point at steps where alpha_t <= 0 (Assumption 1 fails)
    if np.any(~(d[~undefined] > 0)):
        raise ValueError("delta must be positive (or NaN where the fixed point does not exist)")
    if x_band < 0 or y_band < 0:
        raise ValueError(f"x_band and y_band must be non-negative, got {x_band}, {y_band}")
    with np.errstate(invalid="ignore"):
        rel = ax / d - 1.0
    sx = np.where(rel > x_band, 1, np.where(rel < -x_band, -1, 0))
    sx[undefined] = 0
    sy = np.where(yy > y_band, 1, np.where(yy < -y_band, -1, 0))
    state = None  # current quadrant index
    advanced = 0  # quarter turns completed since the start
    for a, b in zip(sx, sy):
        if a == 0 or b == 0:
            continue
        q = _ORDER[(a, b)]
        if state is None:
            state = q
            continue
        if q == (state + 1) % 4:
            advanced += 1
            state = q
        elif q == (state - 1) % 4:
            advanced -= 1
            state = q
        elif q != state:  # jumped across the fixed point: no consistent turn
            state = q
    return max(advanced, 0)


def count_cycles(x: Any, y: Any, delta: Any, *, x_band: float = 0.1, y_band: float = 0.0) -> int:
    r"""Number of complete self-stabilization cycles of :math:`(|x_t|, y_t)` around
    :math:`(\delta_t, 0)`: complete revolutions through the four quadrants of Sec. 4.1's stages
    in their order, i.e. :func:`quarter_turns` (same arguments) divided by four, rounded down.
    Turning the other way, or jumping back and forth across the fixed point, never counts.
    """
    return quarter_turns(x, y, delta, x_band=x_band, y_band=y_band) // 4


def approaches_fixed_point(
    abs_x: Any,
    y: Any,
    delta: Any,
    alpha: Any,
    *,
    tail: float = 0.1,
    tol: float = 0.1,
) -> tuple[bool, float]:
    """Whether :math:`(|x_t|, y_t)` ends near the fixed point :math:`(\\delta_t, 0)` of eq. (4) (Sec. 4.2, Sec. 6).

    Distance, relative to :math:`\\delta_t`, in the coordinates in which the linearised orbits of
    eq. (4) are circles: :math:`r_t = \\sqrt{(|x_t|/\\delta_t - 1)^2 + y_t^2/(2\\alpha_t)}`
    (near the fixed point :math:`|X|/\\delta - 1 = a\\cos\\omega t`, :math:`Y = -\\sqrt{2\\alpha}\\,a\\sin\\omega t`
    with :math:`\\omega = \\sqrt{2\\alpha}`). The *final distance* is the median of
    :math:`r_t` over the last ``tail`` fraction of the run (at least 2 points) and the run
    approaches the fixed point when it is at most ``tol``. Returns ``(approaches, final_distance)``.
    """
    ax = np.abs(_1d("abs_x", abs_x))
    yy = _1d("y", y)
    if yy.size != ax.size:
        raise ValueError(f"abs_x and y must have the same length, got {ax.size} and {yy.size}")
    d = _broadcast("delta", delta, ax.size)
    al = _broadcast("alpha", alpha, ax.size)
    if not 0 < tail <= 1:
        raise ValueError(f"tail must be in (0, 1], got {tail}")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt((ax / d - 1.0) ** 2 + yy**2 / (2.0 * al))
    k = max(2, int(np.ceil(tail * r.size)))
    final = float(np.median(r[-k:]))
    return bool(np.isfinite(final) and final <= tol), final


def _first(arrays: Mapping[str, Any], *keys: str) -> np.ndarray | None:
    for k in keys:
        if k in arrays:
            return np.asarray(arrays[k], dtype=np.float64).ravel()
    return None


def _aligned(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.size != b.size:
        raise ValueError(f"series to compare have different lengths {a.size} and {b.size}")
    return a, b


def agreement_table(
    traj_arrays: Mapping[str, Any],
    lr: float,
    *,
    predictions: tuple[str, ...] = ("theorem1", "theorem1_generalized", "predicted", "generalized"),
    x_band: float = 0.1,
    fixed_point_tail: float = 0.1,
    fixed_point_tol: float = 0.1,
) -> dict[str, Any]:
    """One run's agreement metrics (one row of the architectures/coupling chapters' tables).

    ``traj_arrays`` is a ``Trajectory.arrays`` dict (keys of :mod:`eos.dynamics.tracking`).
    Each entry is computed only when its keys exist:

    - for every prefix ``P`` in ``predictions`` with ``P/loss`` (``P/sharpness``): the median and
      worst relative error against ``gd/loss`` (``gd/sharpness``), ``P_loss_median``,
      ``P_loss_worst`` (``P_sharpness_...``; sharpness compared as :func:`two_step_average` of
      both series, relative to :math:`2/\\eta`). ``theorem1`` is Theorem 1's
      :math:`L(\\theta^\\dagger_t) + \\hat x_t^2/\\eta` and :math:`2/\\eta + \\hat y_t + (\\nabla S_t\\cdot u_t)\\hat x_t`;
    - ``x_error_median``/``_worst``: :math:`|\\hat x_t - x_t| / \\delta_t` (``predicted/x``,
      ``gd/x``, ``constrained/delta``);
    - ``deviation_ratio_median``/``_final``: :math:`\\|\\theta_t - \\theta^\\dagger_t\\|/\\|\\hat v_t\\|`
      (``gd/distance`` over ``predicted/distance``), 1 when the predicted displacement has the
      right size;
    - ``deviation_error_median``/``_worst``: :math:`\\|\\theta_t - \\theta^\\dagger_t - \\hat v_t\\| / \\|\\theta_t - \\theta^\\dagger_t\\|`
      (``theorem1/deviation`` over ``gd/distance``; Theorem 1 says :math:`O(\\epsilon\\delta)`);
    - ``cycles``: :func:`count_cycles` of ``gd/x``, ``gd/y`` around ``constrained/delta``;
    - ``quarter_turns``: :func:`quarter_turns` of the same (3 or more: all four stages seen);
    - ``fixed_point_approached``/``fixed_point_distance``: :func:`approaches_fixed_point` of
      ``gd/x``, ``gd/y``, ``constrained/delta``, ``constrained/alpha``;
    - ``flow_distance_final`` (``flow/distance``: gradient flow's distance to
      :math:`\\theta^\\dagger_t` at the end) and ``flow_over_gd_distance_final`` (that over
      ``gd/distance``): gradient flow drifts away while GD stays near the constrained
      trajectory (Fig. 4).

    Raises ``ValueError`` when ``gd/loss`` or ``gd/sharpness`` is missing.
    """
    positive_number(lr, "lr")
    gd_loss = _first(traj_arrays, "gd/loss")
    gd_sharp = _first(traj_arrays, "gd/sharpness")
    if gd_loss is None or gd_sharp is None:
        raise ValueError(
            "agreement_table needs 'gd/loss' and 'gd/sharpness' in the trajectory arrays; got "
            f"{sorted(traj_arrays)}"
        )
    row: dict[str, Any] = {"steps": int(gd_loss.size)}
    row.update(_prediction_errors(traj_arrays, lr, predictions, gd_loss, gd_sharp))
    row.update(_displacement_metrics(traj_arrays))
    row.update(_orbit_metrics(traj_arrays, x_band, fixed_point_tail, fixed_point_tol))
    row.update(_flow_metrics(traj_arrays))
    return row


def _prediction_errors(
    arrays: Mapping[str, Any],
    lr: float,
    predictions: tuple[str, ...],
    gd_loss: np.ndarray,
    gd_sharp: np.ndarray,
) -> dict[str, float]:
    """``P_loss_median``/``_worst`` and ``P_sharpness_median``/``_worst`` of
    :func:`agreement_table` for every prefix ``P`` in ``predictions`` that was recorded."""
    row: dict[str, float] = {}
    for prefix in predictions:
        p_loss = _first(arrays, f"{prefix}/loss")
        if p_loss is not None:
            s = relative_error_summary(*_aligned(p_loss, gd_loss))
            row[f"{prefix}_loss_median"] = s["median"]
            row[f"{prefix}_loss_worst"] = s["worst"]
        p_sharp = _first(arrays, f"{prefix}/sharpness")
        if p_sharp is not None:
            a, b = _aligned(p_sharp, gd_sharp)
            s = relative_error_summary(two_step_average(a), two_step_average(b), scale=2.0 / lr)
            row[f"{prefix}_sharpness_median"] = s["median"]
            row[f"{prefix}_sharpness_worst"] = s["worst"]
    return row


def _displacement_metrics(arrays: Mapping[str, Any]) -> dict[str, float]:
    """``x_error_*``, ``deviation_ratio_*`` and ``deviation_error_*`` of :func:`agreement_table`."""
    row: dict[str, float] = {}
    x = _first(arrays, "gd/x")
    delta = _first(arrays, "constrained/delta")
    x_hat = _first(arrays, "predicted/x")
    if x is not None and x_hat is not None and delta is not None:
        s = relative_error_summary(*_aligned(x_hat, x), scale=_aligned(delta, x)[0])
        row["x_error_median"] = s["median"]
        row["x_error_worst"] = s["worst"]
    dist = _first(arrays, "gd/distance")
    pred_dist = _first(arrays, "predicted/distance")
    if dist is not None and pred_dist is not None:
        a, b = _aligned(dist, pred_dist)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = a / b
        fin = ratio[np.isfinite(ratio)]
        row["deviation_ratio_median"] = float(np.median(fin)) if fin.size else float("nan")
        row["deviation_ratio_final"] = float(ratio[-1])
    dev_err = _first(arrays, "theorem1/deviation")
    if dist is not None and dev_err is not None:
        a, b = _aligned(dev_err, dist)
        s = relative_error_summary(a, np.zeros_like(a), scale=b)  # |error| / ||theta - dagger||
        row["deviation_error_median"] = s["median"]
        row["deviation_error_worst"] = s["worst"]
    return row


def _orbit_metrics(
    arrays: Mapping[str, Any], x_band: float, tail: float, tol: float
) -> dict[str, Any]:
    """``quarter_turns``, ``cycles`` and ``fixed_point_approached``/``_distance`` of
    :func:`agreement_table`."""
    row: dict[str, Any] = {}
    x = _first(arrays, "gd/x")
    y = _first(arrays, "gd/y")
    delta = _first(arrays, "constrained/delta")
    alpha = _first(arrays, "constrained/alpha")
    if x is not None and y is not None and delta is not None:
        row["quarter_turns"] = quarter_turns(x, y, delta, x_band=x_band)
        row["cycles"] = row["quarter_turns"] // 4
        if alpha is not None:
            ok, r = approaches_fixed_point(x, y, delta, alpha, tail=tail, tol=tol)
            row["fixed_point_approached"] = ok
            row["fixed_point_distance"] = r
    return row


def _flow_metrics(arrays: Mapping[str, Any]) -> dict[str, float]:
    """``flow_distance_final`` and ``flow_over_gd_distance_final`` of :func:`agreement_table`."""
    row: dict[str, float] = {}
    flow = _first(arrays, "flow/distance")
    dist = _first(arrays, "gd/distance")
    if flow is not None:
        row["flow_distance_final"] = float(flow[-1])
        if dist is not None:
            row["flow_over_gd_distance_final"] = (
                float(flow[-1] / dist[-1]) if dist[-1] != 0 else float("inf")
            )
    return row


def period_two_regularity(series: Any, window: int) -> np.ndarray:
    """Sliding-window share of a signal's fluctuation that is a clean period-2 oscillation (Sec. 8.2).

    In each window :math:`[i, i + w)` the signal is fitted by least squares twice: by a trend
    :math:`c_0 + c_1 t` alone, and by the trend plus an alternating term with linearly varying
    amplitude :math:`(-1)^t (a_0 + a_1 t)`. The value is
    :math:`1 - \\mathrm{RSS}_{\\text{full}} / \\mathrm{RSS}_{\\text{trend}}`, the fraction of the
    detrended variance explained by the period-2 component: close to 1 for edge-of-stability
    oscillations around a slowly moving mean (one unstable eigenvalue), small for irregular
    signals (about :math:`2/w` for white noise), NaN where the window is a pure linear trend.
    Returns an array of length ``len(series) - window + 1``; entry ``i`` is the window starting at ``i``.
    """
    s = _1d("series", series)
    if int(window) != window or window < 6:
        raise ValueError(f"window must be an integer >= 6, got {window}")
    window = int(window)
    if s.size < window:
        raise ValueError(f"series (length {s.size}) is shorter than the window ({window})")
    t = np.arange(window, dtype=np.float64)
    t = (t - t.mean()) / window
    alt = (-1.0) ** np.arange(window)
    trend = np.stack([np.ones(window), t], axis=1)
    full = np.concatenate([trend, np.stack([alt, alt * t], axis=1)], axis=1)
    # Residual-maker matrices (the design is the same in every window).
    Mt = np.eye(window) - trend @ np.linalg.pinv(trend)
    Mf = np.eye(window) - full @ np.linalg.pinv(full)
    windows = np.lib.stride_tricks.sliding_window_view(s, window)
    rt = windows @ Mt  # Mt, Mf are symmetric
    rf = windows @ Mf
    rss_t = np.einsum("ij,ij->i", rt, rt)
    rss_f = np.einsum("ij,ij->i", rf, rf)
    tiny = 1e-24 * np.maximum(np.einsum("ij,ij->i", windows, windows), np.finfo(np.float64).tiny)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - rss_f / rss_t
    return np.where(rss_t > tiny, out, np.nan)
