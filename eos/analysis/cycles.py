r"""Self-stabilization cycles of a run or of an orbit (Sec. 4.1, Fig. 4, App. F.2).

One cycle of the four stages of Sec. 4.1 (progressive sharpening, blowup, self-stabilization,
return to stability) is one excursion of :math:`|x_t| = |u_t\cdot(\theta_t - \theta^\dagger_t)|`
above the fixed point :math:`\delta_t = \sqrt{2\alpha_t/\beta_t}` (Definition 4) and back, or
equivalently one turn of :math:`(|x_t|, y_t)` around :math:`(\delta, y^*)`:

- :func:`cycle_window` -- the steps of one cycle of a tracked run, for Fig. 4's zoomed row;
- :func:`cycle_means` -- the mean of a quantity over each complete turn of an orbit of the
  generalized predicted dynamics (eq. (11)) around :math:`(\delta, y^*)`, e.g. the time-averaged
  sharpness that App. F.2's limiting sharpness :math:`S_\infty` describes.

(:func:`eos.analysis.agreement.count_cycles` and :func:`~eos.analysis.agreement.quarter_turns`
count the cycles of a tracked run.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eos.analysis.run_arrays import arrays_of, series
from eos.validate import positive_number

__all__ = ["cycle_means", "cycle_window"]


def cycle_window(run: Any, *, min_width: int = 8) -> tuple[int, int]:
    """Steps ``(t0, t1)`` of one self-stabilization cycle, for Fig. 4's zoomed row.

    A cycle shows up as one excursion of :math:`|x_t|` above :math:`\\delta_t` (blowup, then
    self-stabilization and return to stability, Sec. 4.1); without ``gd/x`` the distance
    :math:`\\|\\theta_t - \\theta^\\dagger_t\\|` is used instead. The window is the largest
    excursion (peak of :math:`|x_t|/\\delta_t`) in the second half of the run (the first ones are
    transients out of :math:`\\theta_0`), else anywhere, padded by twice its width before it
    (the lead-in of progressive sharpening and blowup) and once after; when there is no excursion,
    the last ``max(min_width, n/4)`` steps. Always within ``[0, n-1]`` and at least ``min_width``
    wide (or the whole run when shorter).
    """
    a = arrays_of(run)
    d = np.abs(series(a, "gd/x")) if "gd/x" in a else series(a, "gd/distance")
    delta = series(a, "constrained/delta")
    n = d.size
    if n <= min_width + 1:
        return 0, max(n - 1, 0)
    ratio = d / delta
    above = ratio > 1
    excursions = []  # (start, end, peak)
    t = 0
    while t < n:
        if above[t]:
            s = t
            while t < n and above[t]:
                t += 1
            excursions.append((s, t - 1, float(np.max(ratio[s:t]))))
        t += 1
    late = [e for e in excursions if e[0] >= n // 2]
    pool = late or excursions
    if not pool:
        w = max(min_width, n // 4)
        return n - 1 - w, n - 1
    s, e, _ = max(pool, key=lambda ex: ex[2])
    width = e - s + 1
    t0, t1 = max(0, s - 2 * width), min(n - 1, e + width)
    if t1 - t0 < min_width:
        extra = min_width - (t1 - t0)
        t0 = max(0, t0 - extra // 2 - extra % 2)
        t1 = min(n - 1, t0 + min_width)
    return int(t0), int(t1)


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
    delta = positive_number(delta, "delta")
    d = yy - y_star
    c = np.flatnonzero((d[:-1] < 0) & (d[1:] >= 0) & (ax[1:] < delta)) + 1
    return np.array([v[a:b].mean() for a, b in zip(c[:-1], c[1:])])
