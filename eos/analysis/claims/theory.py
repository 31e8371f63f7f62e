r"""The ledger's theory claims: statements about the ODE of eq. (4) and the map of eq. (3) that
need no trained network, each decided by an independent computation.

* ``lemma3-conserved`` (Lemma 3): along eq. (4), :math:`X' = XY`, :math:`Y' = \alpha - \beta X^2/2`,
  solved by an adaptive Dormand-Prince 8 integrator (:func:`eos.theory.ode.solve`), the quantity
  :math:`g(X, Y) = h(\beta X^2/(2\alpha)) + Y^2/\alpha` stays constant over a whole period
  (value: the largest relative drift of :math:`g`).
* ``cor1-extent`` (Lemma 3, Corollary 1): the extremes of :math:`X` and :math:`|Y|` reached by the
  solved orbit equal those of the exact level set :math:`g = g(X_0, 0)`
  (:func:`eos.theory.ode.orbit_bounds`, from the roots of :math:`h`; value: the largest relative
  difference).
* ``appB-stage-order`` (Sec. 4.1, App. B): the simplified dynamics of eq. (3) pass through the
  four stages in the order 1 -> 2 -> 3 -> 4 -> 1, stages read from the observed changes of
  :math:`(|x_t|, y_t)` (value: the number of out-of-order stage changes).
"""

from __future__ import annotations

import numpy as np

from eos.analysis.claims.base import Claim, Measure, Rule
from eos.theory import ode

__all__ = ["CLAIMS"]

#: Fig. 3's coefficients and a start well inside the orbit family.
ALPHA, BETA, X0 = 1.0, 1.0, 0.05


def _lemma3(_: object) -> Measure:
    period = ode.orbit_period(X0, alpha=ALPHA, beta=BETA)
    sol = ode.solve(X0, 0.0, alpha=ALPHA, beta=BETA, t_max=period, num=4001)
    g = np.asarray(ode.conserved_quantity(sol.X, sol.Y, alpha=ALPHA, beta=BETA))
    return Measure(float(np.max(np.abs(g / g[0] - 1))), detail=f"X(0) = {X0:g}, one period")


def _corollary1(_: object) -> Measure:
    period = ode.orbit_period(X0, alpha=ALPHA, beta=BETA)
    sol = ode.solve(X0, 0.0, alpha=ALPHA, beta=BETA, t_max=period, num=4001)
    x_min, x_max, y_max = ode.measured_extent(sol)
    exact = ode.orbit_bounds(X0, alpha=ALPHA, beta=BETA)
    err = max(abs(x_min / exact.x_min - 1), abs(x_max / exact.x_max - 1),
              abs(y_max / exact.y_max - 1))  # fmt: skip
    return Measure(float(err), detail=f"X in [{exact.x_min:.4g}, {exact.x_max:.4g}]")


def _stage_order(_: object) -> Measure:
    eta, x0 = 0.01, 1e-3
    x, y = ode.simplified_dynamics(x0, 0.0, alpha=ALPHA, beta=BETA, eta=eta, steps=6000)
    stages = ode.stages_from_changes(np.abs(np.asarray(x)), np.asarray(y))
    labels = [s for _, _, s in ode.contiguous_runs(stages)]
    wrong = sum((b - a) % 4 != 1 for a, b in zip(labels, labels[1:]))
    cycles = sum((a, b) == (3, 0) for a, b in zip(labels, labels[1:]))
    if cycles < 2:
        return Measure(float(wrong), outside=f"only {cycles} cycle(s) completed")
    return Measure(float(wrong), detail=f"{len(labels)} stage changes, {cycles} cycles")


#: The theory claims, in ledger order.
CLAIMS: list[Claim] = [
    Claim("lemma3-conserved", "Lemma 3, eq. (4)", "g(X, Y) is conserved along the ODE of "
          "eq. (4) (value: max relative drift over one period).", "theory", _lemma3,
          Rule("<", 1e-8)),
    Claim("cor1-extent", "Lemma 3, Corollary 1", "The orbit's extent is that of the level set "
          "of g (value: max relative difference of min X, max X, max |Y|).", "theory",
          _corollary1, Rule("<", 1e-6)),
    Claim("appB-stage-order", "Sec. 4.1, App. B", "The four stages follow each other in order "
          "1 -> 2 -> 3 -> 4 -> 1 along eq. (3) (value: out-of-order stage changes).", "theory",
          _stage_order, Rule("<", 0.5)),
]  # fmt: skip
