"""Analysis of edge-of-stability runs: numbers only (the figures are in :mod:`eos.figures`).

Quantities and checks:

- :mod:`eos.analysis.assumptions` -- App. E's quantities checking Assumptions 1-5 of Sec. 5
  along the constrained trajectory, and their summary table.
- :mod:`eos.analysis.quadratic` -- App. F's line profile :math:`F_t`, sub-/super-quadratic
  classification, the limiting sharpness of eq. (11), and the constant-coefficient map of eq. (11).
- :mod:`eos.analysis.agreement` -- GD-vs-prediction agreement metrics of one run (Sec. 6,
  Fig. 4, App. G), cycle counting, two-step averages, period-2 regularity (Sec. 8.2).

Reading finished runs (:class:`eos.experiments.Result`, :class:`eos.dynamics.Trajectory` or a
dict of arrays):

- :mod:`eos.analysis.run_arrays` -- the arrays and the learning rate of a run.
- :mod:`eos.analysis.sharpening` -- Fig. 1: progressive sharpening and the edge of stability of
  plain gradient descent.
- :mod:`eos.analysis.theorem1` -- Theorem 1's residuals against their error scales.
- :mod:`eos.analysis.cycles` -- one self-stabilization cycle of a run (Fig. 4's zoom); means
  over the turns of an orbit of eq. (11).
- :mod:`eos.analysis.run_agreement` -- the agreement tables of Fig. 4 / App. G (one row per
  run), standard vs generalized predictions, where a prediction breaks down.
- :mod:`eos.analysis.assumption_verdicts` -- App. E's per-run verdicts on Assumptions 1-5.
- :mod:`eos.analysis.limiting` -- App. F's recorded line profiles along a run and the limiting
  sharpness :math:`S_\\infty` they predict.
- :mod:`eos.analysis.tables` -- the one Markdown table formatter of the book.
"""

from __future__ import annotations

from eos.analysis import (
    agreement,
    assumption_verdicts,
    assumptions,
    cycles,
    limiting,
    quadratic,
    run_agreement,
    run_arrays,
    sharpening,
    tables,
    theorem1,
)
from eos.analysis.assumptions import assumption_quantities, summarize
from eos.analysis.quadratic import limiting_sharpness, line_profile

__all__ = [
    "agreement",
    "assumption_quantities",
    "assumption_verdicts",
    "assumptions",
    "cycles",
    "limiting",
    "limiting_sharpness",
    "line_profile",
    "quadratic",
    "run_agreement",
    "run_arrays",
    "sharpening",
    "summarize",
    "tables",
    "theorem1",
]
