r"""The ledger's Theorem 1 scaling claims: the fitted order in :math:`\epsilon` of each error.

Theorem 1 states the loss, sharpness and deviation errors as :math:`O(\epsilon\delta^2/\eta)`,
:math:`O(\epsilon^2/\eta)`, :math:`O(\epsilon\delta)`; divided by their factors other than
:math:`\epsilon` they are :math:`O(\epsilon^p)` with :math:`p = 1, 2, 1`
(:data:`eos.analysis.theorem1_scaling.ORDERS`). A claim ``thm1-scaling-<q>[-reanchored]`` takes
the table of :func:`eos.analysis.theorem1_scaling.scaling_table` over a set of runs (kind
``"scaling"``: it applies to a group of runs, not to one) and fits the slope :math:`p` of the
worst normalized error against :math:`\epsilon` (log-log least squares). Rule: :math:`p` within
:data:`SLOPE_TOL` of the theorem's order. Hypotheses, reported as ``outside hypotheses`` with
the rule's margin still computed: at least :data:`MIN_RUNS` runs spanning a factor
:data:`MIN_EPS_FACTOR` in :math:`\epsilon`, and Theorem 1's :math:`|\hat x_t| \ge c_1\delta_t`
over every run's window (the paper's variant starts at :math:`|\hat x_0| \approx 10^{-6}\delta`
on the MLP, so its claims are outside the hypothesis there; the re-anchored variant is inside
by construction of its window).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eos.analysis.claims.base import C1, Claim, Measure, Rule
from eos.analysis.theorem1_scaling import ORDERS, QUANTITIES, fit_slope

__all__ = ["CLAIMS", "MIN_EPS_FACTOR", "MIN_RUNS", "SLOPE_TOL"]

#: Tolerance on the fitted slope: |p - order| < SLOPE_TOL.
SLOPE_TOL = 0.5
#: The set of runs must hold this many runs, spanning this factor in eps.
MIN_RUNS, MIN_EPS_FACTOR = 4, 4.0


def _slope(q: str, variant: str):
    def quantity(table: Any) -> Measure:
        rows = table[table["variant"] == variant]
        eps, worst = np.asarray(rows["eps"], float), np.asarray(rows[f"{q}_worst"], float)
        p, _ = fit_slope(eps, worst)
        if not np.isfinite(p):
            return Measure(missing="fewer than two runs with a finite error and eps")
        ok = np.isfinite(eps) & (eps > 0)
        factor = float(eps[ok].max() / eps[ok].min())
        detail = f"{len(rows)} runs, eps {eps[ok].min():.3g}-{eps[ok].max():.3g}"
        if len(rows) < MIN_RUNS or factor < MIN_EPS_FACTOR:
            return Measure(p, outside=f"{len(rows)} runs spanning a factor {factor:.3g} in eps "
                           f"(needs {MIN_RUNS}, {MIN_EPS_FACTOR:g})", detail=detail)  # fmt: skip
        low = float(np.nanmin(np.asarray(rows["min_x_over_delta"], float)))
        if not low >= C1:
            return Measure(p, outside=f"min |x_hat|/delta = {low:.2g} < c1 = {C1:g}",
                           detail=detail)  # fmt: skip
        return Measure(p, detail=detail)

    return quantity


def _claims() -> list[Claim]:
    out = []
    scale = {"loss": "eta |error| / delta^2", "sharpness": "eta |error|",
             "deviation": "|error| / delta"}  # fmt: skip
    for variant, suffix, what in (("paper", "", "v_hat_0 = v_0"),
                                  ("reanchored", "-reanchored", "re-anchored v_hat")):  # fmt: skip
        for q in QUANTITIES:
            p = ORDERS[q]
            out.append(
                Claim(
                    f"thm1-scaling-{q}{suffix}",
                    "Theorem 1, Definition 6",
                    f"The worst {q} error over the coupling horizon, as {scale[q]}, scales as "
                    f"eps^{p:g} ({what}; value: fitted log-log slope against eps).",
                    "scaling",
                    _slope(q, variant),
                    Rule("within", (p - SLOPE_TOL, p + SLOPE_TOL)),
                )
            )
    return out


CLAIMS: list[Claim] = _claims()
