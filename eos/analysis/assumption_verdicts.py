r"""Per-run verdicts on Assumptions 1-5 (Sec. 5), from App. E's diagnostics of tracked runs.

With diagnostics on, a tracked run records every ``diag_every`` steps the quantities of
:func:`eos.analysis.assumptions.assumption_quantities` along the constrained trajectory
(``assumptions/alpha``, ``assumptions/epsilon``, ``assumptions/a4_alignment``, ...):
:math:`\alpha_t > 0` (Assumption 1), :math:`\epsilon_t = \eta\sqrt{\alpha_t}` small, the two
:math:`\Theta(1)` ratios of Assumption 4, :math:`\rho_4/(\eta\rho_3^2) = O(1)` (Assumption 3) and
the three :math:`O(\epsilon)` ratios of Assumption 5.

- :func:`assumption_history` -- those arrays of one run, keyed by quantity;
- :func:`assumption_table` -- one row per run, one column per assumption: whether the explicit
  criterion of :func:`eos.analysis.assumptions.summarize` held, with its margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eos.analysis import assumptions
from eos.analysis.run_arrays import arrays_of

__all__ = ["ASSUMPTION_COLUMNS", "assumption_history", "assumption_table"]

#: Short column names of :func:`assumption_table` (quantity -> column).
ASSUMPTION_COLUMNS: dict[str, str] = {
    "alpha": "A1 alpha>0",
    "epsilon": "eps small",
    "a4_alignment": "A4 alignment",
    "a4_grad_sharpness_over_rho3": "A4 |gS_perp|/rho3",
    "a3_ratio": "A3 rho4/(eta rho3^2)",
    "a5_third_perp": "A5 third/eps",
    "a5_hessian_displacement": "A5 hessian/eps",
    "a5_lambda_min": "A5 lambda_min/eps",
}


def assumption_history(run: Any) -> dict[str, np.ndarray]:
    """App. E's diagnostics of a run (``assumptions/<q>`` arrays) as ``{q: float64 array}``,
    including ``step``; a ``ValueError`` when the run recorded none."""
    a = arrays_of(run)
    hist = {k.split("/", 1)[1]: np.asarray(v, np.float64) for k, v in a.items()
            if k.startswith("assumptions/")}  # fmt: skip
    if "step" not in hist or hist["step"].size == 0:
        raise ValueError("the run has no App. E diagnostics (assumptions/step is missing or empty)")
    return hist


def assumption_table(results: Mapping[str, Any], **criteria: Any):
    """Per run (rows) and assumption (columns): ``"yes (m)"`` / ``"NO (m)"`` with the margin
    statistic ``m`` of :func:`eos.analysis.assumptions.summarize` (min alpha; max epsilon; for
    Assumption 4 the min..max range; max rho4/(eta rho3^2); max ratio/epsilon for Assumption 5).

    Returns ``(frame, verdicts)``: a pandas DataFrame for display and a dict
    ``{run: {quantity: (holds, statistic)}}`` for the text and the asserts. ``criteria`` are
    passed to ``summarize`` (``epsilon_small``, ``theta1_range``, ``big_o_constant``).
    """
    import pandas as pd

    table: dict[str, dict[str, str]] = {}
    verdicts: dict[str, dict[str, tuple[bool | None, float]]] = {}
    for name, r in results.items():
        rows = assumptions.summarize(assumption_history(r), **criteria)
        cells: dict[str, str] = {}
        verdicts[name] = {}
        for row in rows:
            q = row["quantity"]
            if q not in ASSUMPTION_COLUMNS:
                continue
            holds, stat = row["holds"], float(row["statistic"])
            verdicts[name][q] = (holds, stat)
            if q.startswith("a4_"):
                shown = f"{row['min']:.2g}..{row['max']:.2g}"
            else:
                shown = f"{stat:.2g}"
            mark = "—" if holds is None else ("yes" if holds else "NO")
            cells[ASSUMPTION_COLUMNS[q]] = f"{mark} ({shown})"
        table[name] = cells
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.name = "run"
    return frame, verdicts
