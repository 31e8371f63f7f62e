r"""Per-run agreement tables of the predictions with gradient descent (Sec. 6, Fig. 4, App. G).

:mod:`eos.analysis.agreement` computes the metrics of one run from its arrays; this module puts
whole runs side by side, as the chapters tabulate them:

- :func:`agreement_frame` -- Fig. 4 / App. G's table, one row per run: the instability step, the
  tracked steps, how well the constrained trajectory :math:`\theta^\dagger_t` stays on
  :math:`S = 2/\eta`, and the metrics of :data:`AGREEMENT_COLUMNS` (errors of the predicted
  dynamics of eq. (6), :math:`\|\theta_t - \theta^\dagger_t\|/\|\hat v_t\|`, cycles, gradient
  flow's drift);
- :func:`agreement_rows` -- the standard predictions (eq. (5)) against the generalized ones
  (eq. (11), App. F), side by side (App. G.2);
- :func:`prediction_breakdown` -- the first step at which a prediction left gradient descent's
  scale (the map :math:`\hat x_{t+1} = -(1 + \eta\hat y_t)\hat x_t` diverges once
  :math:`\eta\hat y_t < -2`, outside Theorem 1's regime).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eos.analysis import agreement
from eos.analysis.run_arrays import arrays_of, lr_of, require_keys, series

__all__ = [
    "AGREEMENT_COLUMNS",
    "PREDICTIONS",
    "agreement_frame",
    "agreement_rows",
    "prediction_breakdown",
]

#: Columns of :func:`agreement_frame`: (column name, key of agreement_table).
AGREEMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("loss err (median)", "predicted_loss_median"),
    ("loss err (worst)", "predicted_loss_worst"),
    ("sharpness err (median)", "predicted_sharpness_median"),
    ("sharpness err (worst)", "predicted_sharpness_worst"),
    ("||theta-dagger||/||v_hat|| (median)", "deviation_ratio_median"),
    ("quarter turns", "quarter_turns"),
    ("cycles", "cycles"),
    ("flow/GD distance (end)", "flow_over_gd_distance_final"),
    ("-> (delta_t, 0)", "fixed_point_approached"),
)

#: Row label -> key prefix of the two predictions compared by :func:`agreement_rows`.
PREDICTIONS: dict[str, str] = {"standard": "predicted", "generalized": "generalized"}


def prediction_breakdown(
    run: Any, prefix: str = "predicted", *, factor: float = 10.0
) -> int | None:
    r"""The first tracked step at which the ``prefix`` dynamics (``"predicted"``, eq. (5)-(6), or
    ``"generalized"``, App. F) have left gradient descent's scale, or ``None`` if they never did.

    That is the first step where the loss at :math:`\theta^\dagger_t + \hat v_t` is not finite or
    exceeds ``factor`` times the largest loss gradient descent reached. The predicted map
    :math:`\hat x_{t+1} = -(1 + \eta\hat y_t)\hat x_t` diverges once :math:`\eta\hat y_t < -2`,
    which happens when :math:`\epsilon_t = \eta\sqrt{\alpha_t}` is not small, outside Theorem 1's
    regime; the figures stop drawing such a trace there, and the chapters report the step.
    """
    a = arrays_of(run)
    if f"{prefix}/loss" not in a:
        return None
    loss = series(a, f"{prefix}/loss")
    gd = series(a, "gd/loss")
    bound = factor * np.nanmax(np.abs(gd)) if np.isfinite(gd).any() else np.inf
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(loss) | (np.abs(loss) > bound)
    return int(np.asarray(a["step"])[np.argmax(bad)]) if bad.any() else None


def _run_row(r: Any, **kwargs: Any) -> dict[str, Any]:
    """:func:`eos.analysis.agreement.agreement_table` of one run, with ``dagger_residual``
    (:math:`\\max_t |S(\\theta^\\dagger_t) - 2/\\eta|` relative to :math:`2/\\eta`) and
    ``flow_gd_loss_gap_final`` (gradient flow's loss minus GD's at the end, relative) added."""
    a = arrays_of(r)
    eta = lr_of(r, None)
    row = agreement.agreement_table(a, eta, **kwargs)
    res = (
        series(a, "constrained/residual_sharpness")
        if "constrained/residual_sharpness" in a
        else None
    )
    row["dagger_residual"] = (
        float(np.max(np.abs(res)) * eta / 2) if res is not None else float("nan")
    )
    if "flow/loss" in a:
        gd_end, flow_end = float(series(a, "gd/loss")[-1]), float(series(a, "flow/loss")[-1])
        row["flow_gd_loss_gap_final"] = (flow_end - gd_end) / abs(gd_end)
    return row


def agreement_frame(results: Mapping[str, Any], **kwargs: Any):
    """The agreement table of Fig. 4 / App. G, one row per run.

    Returns ``(frame, rows)``: a pandas DataFrame with the GD step at which the run became unstable
    (``"not reached"`` when it never did), the tracked steps, the stop reason, the
    largest :math:`|S(\\theta^\\dagger_t) - 2/\\eta|` relative to :math:`2/\\eta` (how well the
    constrained trajectory stays on the boundary of :math:`\\mathcal M`), and
    :data:`AGREEMENT_COLUMNS` (relative errors of the predicted loss and two-step-averaged
    sharpness against GD, median and worst over the tracked steps;
    :math:`\\|\\theta_t-\\theta^\\dagger_t\\|/\\|\\hat v_t\\|`; quarter turns through the four
    stages (3: all four seen) and complete cycles; gradient flow's
    distance to :math:`\\theta^\\dagger` over GD's at the end; whether :math:`(|x_t|, y_t)`
    approached :math:`(\\delta_t, 0)`), the relative gap between gradient flow's and GD's loss at
    the end, and the full
    :func:`eos.analysis.agreement.agreement_table` rows ``{run: row}`` (with ``dagger_residual``
    and ``flow_gd_loss_gap_final`` added). ``kwargs`` go to ``agreement_table``.
    """
    import pandas as pd

    rows: dict[str, dict[str, Any]] = {}
    data: dict[str, dict[str, Any]] = {}
    for name, r in results.items():
        row = rows[name] = _run_row(r, **kwargs)
        reached = getattr(r, "reached_instability", True)
        cells: dict[str, Any] = {
            "instability at step": getattr(r, "instability_step", None)
            if reached
            else "not reached",
            "tracked steps": getattr(r, "steps_done", row["steps"] - 1),
            "stop": getattr(r, "stop_reason", ""),
            "|S(dagger)-2/eta|/(2/eta)": row["dagger_residual"],
        }
        cells.update({col: row.get(key) for col, key in AGREEMENT_COLUMNS})
        cells["(flow - GD loss)/GD loss (end)"] = row.get("flow_gd_loss_gap_final")
        data[name] = cells
    frame = pd.DataFrame.from_dict(data, orient="index")
    frame.index.name = "run"
    return frame, rows


def agreement_rows(arrays: Mapping[str, Any], lr: float) -> dict[str, dict[str, Any]]:
    """Agreement of each prediction with gradient descent, one row per prediction.

    ``{"standard": row, "generalized": row}`` where each row has ``steps`` and the median and
    worst relative errors of the loss and of the two-step-averaged sharpness (relative to
    :math:`2/\\eta`), both from :func:`eos.analysis.agreement.agreement_table`, and of
    :math:`x_t` relative to :math:`\\delta_t` (:func:`eos.analysis.agreement.relative_error_summary`
    of ``<prefix>/x`` against ``gd/x`` with scale ``constrained/delta``, the table's
    ``x_error`` for the standard prediction). Needs at least two recorded steps.
    """
    require_keys(arrays, ("gd/loss", "gd/sharpness", "gd/x", "constrained/delta")
                 + tuple(f"{p}/{q}" for p in PREDICTIONS.values() for q in ("loss", "sharpness", "x")))  # fmt: skip
    n = np.asarray(arrays["gd/loss"]).size
    if n < 2:
        raise ValueError(f"agreement needs at least 2 recorded steps, the run has {n}")
    table = agreement.agreement_table(arrays, lr, predictions=tuple(PREDICTIONS.values()))
    rows: dict[str, dict[str, Any]] = {}
    for label, prefix in PREDICTIONS.items():
        xs = agreement.relative_error_summary(
            arrays[f"{prefix}/x"], arrays["gd/x"], scale=arrays["constrained/delta"]
        )
        rows[label] = {
            "steps": int(table["steps"]),
            "loss median": table[f"{prefix}_loss_median"],
            "loss worst": table[f"{prefix}_loss_worst"],
            "sharpness median": table[f"{prefix}_sharpness_median"],
            "sharpness worst": table[f"{prefix}_sharpness_worst"],
            "x/delta median": xs["median"],
            "x/delta worst": xs["worst"],
        }
    return rows
