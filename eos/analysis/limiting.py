r"""App. F's line profiles along a tracked run and the limiting sharpness they predict (App. F.2).

With diagnostics on, :mod:`eos.dynamics.tracking` records every ``diag_every`` steps the line
profile

.. math::

    F_t(x) = L(\theta^\dagger_t + x u_t) - L(\theta^\dagger_t) - x^2/\eta

with :math:`F_t'` and :math:`F_t''` on a grid of multiples of :math:`\delta_t`
(``quadratic/x``, ``quadratic/F``, ``quadratic/dF``, ``quadratic/d2F``, ``quadratic/delta``;
:func:`eos.analysis.quadratic.line_profile`). This module reads them:

- :func:`profile_series` -- per diagnostic step: the class of :math:`F_t` (sub- or
  super-quadratic, :func:`eos.analysis.quadratic.classify`),
  :math:`\kappa_t = F_t''(\delta_t) - F_t'(\delta_t)/\delta_t = S_\infty - 2/\eta` of its even
  part, :math:`F_t^{even}(\delta_t)` relative to the quadratic model :math:`\delta_t^2/\eta`, and
  the limiting sharpness :math:`S_\infty` of eq. (11);
- :func:`hermite_mismatch` -- an independent consistency check of a recorded profile: the
  increments of :math:`F` against the two-point Hermite quadrature of :math:`F'` (with
  :math:`F''`), exact for quartic :math:`F`;
- :func:`window_mean` -- the time average of a series over its last fraction (the observed
  sharpness that :math:`S_\infty` is compared with).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eos.analysis import quadratic
from eos.analysis.run_arrays import require_keys
from eos.validate import positive_number

__all__ = ["NO_FIXED_POINT", "PROFILE_KEYS", "hermite_mismatch", "profile_series", "window_mean"]

#: The class :func:`profile_series` gives a diagnostic step without a fixed point
#: (:math:`\alpha_t \le 0`, so :math:`\delta_t` and the grid in its units are undefined).
NO_FIXED_POINT = "no fixed point"

#: The arrays of App. F's recorded line profiles.
PROFILE_KEYS: tuple[str, ...] = (
    "quadratic/step",
    "quadratic/x",
    "quadratic/F",
    "quadratic/dF",
    "quadratic/d2F",
    "quadratic/delta",
)


def _delta_index(xs: np.ndarray, delta: float) -> int:
    """Index of the grid point ``x = delta`` (the grid is ``multiples * delta``)."""
    i = int(np.argmin(np.abs(xs - delta)))
    if not np.isclose(xs[i], delta, rtol=1e-9, atol=0.0):
        raise ValueError(f"the profile grid {xs} does not contain x = delta = {delta:.6g}")
    return i


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
    lr = positive_number(lr, "lr")
    require_keys(arrays, PROFILE_KEYS)
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
            for values in (kappa, kappa_raw, even, dF_even, d2F_even):
                values.append(float("nan"))
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
