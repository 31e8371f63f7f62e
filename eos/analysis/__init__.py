"""Analysis of edge-of-stability runs.

- :mod:`eos.analysis.assumptions` -- App. E's quantities checking Assumptions 1-5 of Sec. 5
  along the constrained trajectory, and their summary table.
- :mod:`eos.analysis.quadratic` -- App. F's line profile :math:`F_t`, sub-/super-quadratic
  classification, the limiting sharpness of eq. (11), and the constant-coefficient map of eq. (11).
- :mod:`eos.analysis.agreement` -- GD-vs-prediction agreement metrics (Sec. 6, Fig. 4, App. G),
  cycle counting, two-step averages, period-2 regularity (Sec. 8.2).
"""

from __future__ import annotations

from eos.analysis import agreement, assumptions, quadratic
from eos.analysis.assumptions import assumption_quantities, summarize
from eos.analysis.quadratic import limiting_sharpness, line_profile

__all__ = [
    "agreement",
    "assumption_quantities",
    "assumptions",
    "limiting_sharpness",
    "line_profile",
    "quadratic",
    "summarize",
]
