r"""The readings of Sec. 7 and Sec. 8.2 (the paper's implications and its open case) from the
runs of the ``implications`` group: Fig. 5, Fig. 6, learning-rate warmup and SAM.

Each function reads finished runs (records with ``["loss"]``, ``.sharpness``, ``["lr"]``,
``["eig_step"]`` and ``.metric``, i.e. :meth:`eos.experiments.Result.gd_run`) and returns plain
numbers, so the chapter (:doc:`implications`) and the claims ledger
(:mod:`eos.analysis.claims.implications`) decide the same quantities.

* :func:`fig5_regularity` -- Sec. 8.2, Fig. 5: the period-2 regularity of :math:`x^{(1)}_t` and
  of the loss (:func:`eos.analysis.agreement.period_two_regularity`), medians over the windows
  with exactly one and with at least two tracked eigenvalues above :math:`2/\eta` after the
  blow-up (:func:`eos.analysis.spectrum.regime_windows`).
* :func:`fig6_summary` -- Sec. 7.1, Fig. 6: per constant learning rate the final training loss,
  test accuracy and sharpness, :math:`2/\eta`, and whether the sharpness reached it.
* :func:`warmup_summary` -- Sec. 7.3: the jump to :math:`\eta_0` against linear warmup, the
  warmup run's final sharpness against :math:`2/\eta_0` and against the sharpness it started from.
* :func:`tail_median` -- the median of the last fraction of a series (a final value that does not
  depend on the phase of the period-2 oscillation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eos.analysis.agreement import period_two_regularity
from eos.analysis.spectrum import crossing_steps, regime_windows

__all__ = ["MIN_WINDOWS", "fig5_regularity", "fig6_summary", "tail_median", "warmup_summary"]

#: Windows of each regime that Fig. 5's comparison needs (fewer: outside its hypothesis).
MIN_WINDOWS = 8


def tail_median(a: Any, frac: float = 0.2) -> float:
    """The median of the last ``frac`` of ``a`` (at least one value)."""
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        raise ValueError("tail_median of an empty series")
    return float(np.median(a[-max(1, int(frac * a.size)) :]))


def fig5_regularity(run: Any, window: int, threshold: float | None = None) -> dict[str, Any]:
    r"""Fig. 5's reading of a multi-eigenvalue run: the median period-2 regularity of
    :math:`x^{(1)}_t` and of the loss over the sliding windows of ``window`` steps in which exactly
    one (``one-*``) or at least two (``several-*``) tracked eigenvalues are above ``threshold``
    (default :math:`2/\eta`) at every step, counted only once :math:`|x^{(1)}|` has blown up to 1% of
    its largest value; the window counts ``n-one``, ``n-several``, the crossing steps and the
    per-window series (``reg-x``, ``reg-loss``)."""
    thr = 2.0 / run.lr if threshold is None else float(threshold)
    x1, loss = np.asarray(run["x"])[:, 0], np.asarray(run["loss"])
    reg_x, reg_loss = period_two_regularity(x1, window), period_two_regularity(loss, window)
    one, several = regime_windows(np.asarray(run["eigvals"]), thr, window, x=x1, blown=0.01)

    def median_in(r: np.ndarray, mask: np.ndarray) -> float:
        values = r[mask][np.isfinite(r[mask])]  # NaN: a window that is a pure linear trend
        return float(np.median(values)) if values.size else float("nan")

    return {
        "one-x": median_in(reg_x, one),
        "several-x": median_in(reg_x, several),
        "one-loss": median_in(reg_loss, one),
        "several-loss": median_in(reg_loss, several),
        "n-one": int(one.sum()),
        "n-several": int(several.sum()),
        "crossings": crossing_steps(run, thr),
        "reg-x": reg_x,
        "reg-loss": reg_loss,
    }


def fig6_summary(runs: Sequence[Any], reach: float = 0.95) -> list[dict[str, Any]]:
    r"""Per constant-learning-rate run (in the given order): ``lr``, the final training loss
    (median of the last 5% of steps), the final test accuracy, the final sharpness (median of the
    last 20% of the records), ``limit`` :math:`= 2/\eta`, and ``reached``: the sharpness got to
    ``reach`` times :math:`2/\eta` (the run entered the edge of stability)."""
    out = []
    for run in runs:
        limit = 2.0 / run.lr
        out.append(
            {
                "lr": float(run.lr),
                "loss": tail_median(run["loss"], 0.05),
                "test": float(run.metric("test_accuracy")[-1]),
                "sharp": tail_median(run.sharpness),
                "limit": limit,
                "reached": bool(np.max(run.sharpness) >= reach * limit),
            }
        )
    return out


def warmup_summary(warm: Any, jump: Any, eta0: float, start_sharpness: float) -> dict[str, Any]:
    r"""Sec. 7.3: ``warm`` (linear warmup to :math:`\eta_0`) and ``jump`` (straight to
    :math:`\eta_0`) from a point of sharpness ``start_sharpness`` :math:`= S_s`. Returns whether
    each diverged (and where), the warmup run's final sharpness and loss, ``drop``
    :math:`= S_s / S_{final}`, ``final_over_limit`` :math:`= S_{final}/(2/\eta_0)`, and the
    median and largest :math:`S(\theta_t)/(2/\eta_t)` from its first arrival at the threshold."""
    lr_at = np.asarray(warm["lr"])[np.asarray(warm["eig_step"])]
    ratio = np.asarray(warm.sharpness) * lr_at / 2.0
    first = int(np.argmax(ratio >= 1.0)) if (ratio >= 1.0).any() else ratio.size
    after = ratio[first:]
    final = tail_median(warm.sharpness)
    return {
        "jump_diverged": bool(jump.meta["diverged"]),
        "jump_diverged_at": jump.meta["diverged_at"],
        "jump_loss": float(np.asarray(jump["loss"])[-1]),
        "warm_diverged": bool(warm.meta["diverged"]),
        "final_sharpness": final,
        "final_loss": tail_median(warm["loss"], 0.05),
        "drop": float(start_sharpness) / final,
        "final_over_limit": final * float(eta0) / 2.0,
        "ratio_median": float(np.median(after)) if after.size else float("nan"),
        "ratio_max": float(after.max()) if after.size else float("nan"),
    }
