r"""The ledger's claims about runs: Fig. 1 on ``gd`` runs; Sec. 6, Theorem 1 and App. E on
``track`` runs.

Each quantity reads a finished :class:`eos.experiments.Result` through the analysis functions the
chapters use (:func:`eos.analysis.sharpening.edge_of_stability_summary`,
:func:`eos.analysis.run_agreement.agreement_frame`,
:func:`eos.analysis.theorem1.theorem1_residuals`, :func:`eos.analysis.assumptions.summarize`), so a
verdict is about the same numbers the book prints.

Theorem 1 is checked as stated: over the coupling horizon :math:`t \le \mathcal T = 1/\epsilon_0`
(:math:`\epsilon_0` at the first tracked step), the *worst* residual over its error scale
(:math:`\epsilon\delta^2/\eta` for the loss, :math:`\epsilon^2/\eta` for the sharpness,
:math:`\epsilon\delta` for :math:`\theta`) must be :math:`O(1)` (below :data:`BIG_O`), under the
hypothesis :math:`\min_{t\le\mathcal T}|\hat x_t| \ge c_1\delta_t` (:data:`C1`). Tracked runs
start the predicted dynamics at :math:`\hat x_0 = x_0`, typically far below :math:`c_1\delta`, so
the worst case is usually ``outside hypotheses`` (reported with its value and step); the median
over the horizon is a separate, weaker claim.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eos.analysis.assumption_verdicts import ASSUMPTION_COLUMNS, assumption_history
from eos.analysis.assumptions import summarize
from eos.analysis.claims.base import BIG_O, C1, MIN_STEPS_AFTER, Claim, Measure, Rule
from eos.analysis.run_agreement import agreement_frame
from eos.analysis.run_arrays import arrays_of, series
from eos.analysis.sharpening import edge_of_stability_summary
from eos.analysis.theorem1 import theorem1_residuals

__all__ = ["CLAIMS", "EPSILON_SMALL", "THETA1"]

#: Definition 6's "epsilon small" (the default of :func:`eos.analysis.assumptions.summarize`).
EPSILON_SMALL = 0.25
#: Assumption 4's Theta(1) band (the default of :func:`eos.analysis.assumptions.summarize`).
THETA1 = (0.05, 20.0)


# --------------------------------------------------------------------------------------------
# Fig. 1 (gd runs)
# --------------------------------------------------------------------------------------------
def _fig1(run: Any) -> dict[str, float]:
    return edge_of_stability_summary(run)


def _fig1_after(key: str):
    def quantity(run: Any) -> Measure:
        if not run.reached_instability:
            return Measure(missing="never reached S = 2/eta")
        s = _fig1(run)
        short = s["steps_after"] < MIN_STEPS_AFTER
        why = f"only {s['steps_after']:.0f} steps after instability (< {MIN_STEPS_AFTER})"
        return Measure(s[key], outside=why if short else None)

    return quantity


def _fig1_start(run: Any) -> Measure:
    if not run.reached_instability:
        return Measure(missing="never reached S = 2/eta")
    return Measure(_fig1(run)["sharpness_start_ratio"])


# --------------------------------------------------------------------------------------------
# Sec. 6 and Lemma 13 (track runs)
# --------------------------------------------------------------------------------------------
def _agreement(run: Any) -> dict[str, Any]:
    return agreement_frame({"run": run})[1]["run"]


def _agreement_key(key: str, hypothesis: bool = False):
    r"""A column of the agreement table; with ``hypothesis``, Sec. 6's claims need the run to
    have entered the edge of stability -- GD's oscillation grown to
    :math:`\max_t |x_t| \ge c_1\delta_t` (a blow-up tracked) -- with
    :math:`\epsilon_t = \eta\sqrt{\alpha_t}` small (Definition 6: max below
    :data:`EPSILON_SMALL`, the book's criterion); else the run is outside them."""

    def quantity(run: Any) -> Measure:
        row = _agreement(run)
        value = float(row[key])
        outside = []
        if hypothesis:
            a = arrays_of(run)
            with np.errstate(divide="ignore", invalid="ignore"):
                grown = np.nanmax(np.abs(series(a, "gd/x")) / series(a, "constrained/delta"))
            if not grown >= C1:
                outside.append(f"no blow-up tracked (max |x|/delta = {grown:.2g} < c1 = {C1:g})")
            eps = series(a, "constrained/epsilon")
            eps_max = float(np.nanmax(eps)) if np.isfinite(eps).any() else np.nan
            if not eps_max < EPSILON_SMALL:
                outside.append(f"max eps = {eps_max:.3g} >= {EPSILON_SMALL:g}")
        return Measure(value, outside="; ".join(outside) or None)

    return quantity


# --------------------------------------------------------------------------------------------
# Theorem 1 (track runs)
# --------------------------------------------------------------------------------------------
def _horizon(run: Any) -> dict[str, Any]:
    """Theorem 1's residual ratios over the coupling horizon and its hypothesis, measured."""
    a = arrays_of(run)
    res = theorem1_residuals(run)
    eps = series(a, "constrained/epsilon")
    delta = series(a, "constrained/delta")
    x_hat = np.abs(series(a, "predicted/x"))
    steps = np.asarray(res["step"], dtype=np.float64)
    horizon = 1.0 / float(eps[0]) if np.isfinite(eps[0]) and eps[0] > 0 else np.inf
    inside = steps - steps[0] <= horizon
    with np.errstate(divide="ignore", invalid="ignore"):
        x_over_delta = x_hat / delta
    return {"res": res, "inside": inside, "horizon": horizon,
            "min_x_over_delta": float(np.nanmin(x_over_delta[inside]))}  # fmt: skip


def _theorem1(which: str, stat: str):
    def quantity(run: Any) -> Measure:
        h = _horizon(run)
        ratio = np.asarray(h["res"][f"{which}_ratio"], dtype=np.float64)[h["inside"]]
        ratio = ratio[np.isfinite(ratio)]
        if ratio.size == 0:
            return Measure(missing="no finite Theorem 1 residual inside the horizon")
        steps = np.asarray(h["res"]["step"])[h["inside"]]
        detail = f"horizon 1/eps_0 = {h['horizon']:.3g} steps, {ratio.size} steps inside"
        if stat == "median":
            return Measure(float(np.median(ratio)), detail=detail)
        i = int(np.nanargmax(np.asarray(h["res"][f"{which}_ratio"])[h["inside"]]))
        hyp = h["min_x_over_delta"]
        outside = None
        if not hyp >= C1:
            outside = f"min |x_hat|/delta = {hyp:.2g} < c1 = {C1:g}"
        return Measure(float(ratio.max()), outside=outside,
                       detail=f"worst at step {int(steps[i])}; {detail}")  # fmt: skip

    return quantity


# --------------------------------------------------------------------------------------------
# App. E: Assumptions 1, 3-5 and Definition 6 (track runs with diagnostics)
# --------------------------------------------------------------------------------------------
def _assumption(quantity_name: str):
    def quantity(run: Any) -> Measure:
        try:
            hist = assumption_history(run)
        except ValueError as exc:
            return Measure(missing=str(exc))
        rows = {r["quantity"]: r for r in summarize(hist, theta1_range=THETA1)}
        if quantity_name not in rows:
            return Measure(missing=f"{quantity_name} not recorded")
        row = rows[quantity_name]
        if quantity_name.startswith("a4_"):
            # Theta(1): how far the range of the ratio reaches outside THETA1 (< 1: inside)
            lo, hi = float(row["min"]), float(row["max"])
            reach = max(THETA1[0] / lo if lo > 0 else np.inf, hi / THETA1[1])
            return Measure(reach, detail=f"range {lo:.3g}..{hi:.3g}")
        return Measure(float(row["statistic"]))

    return quantity


def _fig1_claims() -> list[Claim]:
    fig1 = "Fig. 1 (Sec. 3)"
    return [
        Claim(
            "fig1-sharpening",
            fig1,
            "Progressive sharpening: the sharpness starts below 2/eta "
            "(value: S at the first check over 2/eta) and rises to it.",
            "gd",
            _fig1_start,
            Rule("<", 1.0),
        ),
        Claim(
            "fig1-hover",
            fig1,
            "Edge of stability: after instability the sharpness hovers "
            "around 2/eta (value: mean S/(2/eta) after instability).",
            "gd",
            _fig1_after("sharpness_ratio_mean"),
            Rule("within", (0.75, 1.25)),
        ),
        Claim(
            "fig1-loss-falls",
            fig1,
            "The loss keeps decreasing at the edge of stability "
            "(value: final loss over the loss at instability).",
            "gd",
            _fig1_after("loss_ratio"),
            Rule("<", 1.0),
        ),
        Claim(
            "fig1-non-monotone",
            fig1,
            "... non-monotonically (value: share of steps after "
            "instability at which the loss rises).",
            "gd",
            _fig1_after("loss_increase_fraction"),
            Rule(">", 0.0),
        ),
    ]


def _sec6_claims() -> list[Claim]:
    return [
        Claim(
            "sec6-loss",
            "Sec. 6, Fig. 4, eq. (5)",
            "The predicted dynamics predict GD's loss (value: median relative error).",
            "track",
            _agreement_key("predicted_loss_median", True),
            Rule("<", 0.05),
        ),
        Claim(
            "sec6-sharpness",
            "Sec. 6, Fig. 4, eq. (5)",
            "The predicted dynamics predict GD's "
            "sharpness (value: median error relative to 2/eta).",
            "track",
            _agreement_key("predicted_sharpness_median", True),
            Rule("<", 0.05),
        ),
        Claim(
            "lemma13-dagger",
            "eq. (2), Lemma 13",
            "The constrained trajectory stays on "
            "S = 2/eta (value: max |S(theta-dagger) - 2/eta| / (2/eta)).",
            "track",
            _agreement_key("dagger_residual"),
            Rule("<", 1e-3),
        ),
        Claim(
            "sec6-flow-drifts",
            "Sec. 6, Fig. 4",
            "Gradient flow drifts away from the "
            "constrained trajectory while GD stays near it (value: flow's distance to "
            "theta-dagger over GD's, at the end).",
            "track",
            _agreement_key("flow_over_gd_distance_final", True),
            Rule(">", 1.0),
        ),
    ]


def _theorem1_claims() -> list[Claim]:
    out = []
    for which, order in (("loss", "eps delta^2/eta"), ("sharpness", "eps^2/eta"),
                         ("deviation", "eps delta")):  # fmt: skip
        out.append(
            Claim(
                f"thm1-{which}-worst",
                "Theorem 1",
                f"The {which} error is O({order}) for t <= 1/eps (value: worst residual/scale).",
                "track",
                _theorem1(which, "worst"),
                Rule("<", BIG_O),
            )
        )
        out.append(
            Claim(
                f"thm1-{which}-median",
                "Theorem 1",
                f"Typical {which} error over the "
                f"horizon, in units of {order} (value: median residual/scale).",
                "track",
                _theorem1(which, "median"),
                Rule("<", BIG_O),
            )
        )
    return out


def _app_e_claims() -> list[Claim]:
    rules = {
        "alpha": Rule(">", 0.0),
        "epsilon": Rule("<", EPSILON_SMALL),
        "a4_alignment": Rule("<", 1.0),
        "a4_grad_sharpness_over_rho3": Rule("<", 1.0),
        "a3_ratio": Rule("<", BIG_O),
        "a5_third_perp": Rule("<", BIG_O),
        "a5_hessian_displacement": Rule("<", BIG_O),
        "a5_lambda_min": Rule("<", BIG_O),
    }
    out = []
    for q, column in ASSUMPTION_COLUMNS.items():
        out.append(
            Claim(
                f"appE-{q.replace('_', '-')}",
                "App. E, Sec. 5",
                f"{column} along the constrained trajectory.",
                "track",
                _assumption(q),
                rules[q],
            )
        )
    return out


#: The run claims, in ledger order.
CLAIMS: list[Claim] = [*_fig1_claims(), *_sec6_claims(), *_theorem1_claims(), *_app_e_claims()]
