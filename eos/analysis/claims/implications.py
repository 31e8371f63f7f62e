r"""The ledger's claims on the ``implications`` group as a whole: Fig. 5 (Sec. 8.2), Fig. 6
(Sec. 7.1, App. G.1), learning-rate warmup and SAM (Sec. 7.3).

Each reads several runs of the group together (a :class:`~eos.analysis.claims.base.Group`)
through :mod:`eos.analysis.implications`, the functions the chapter :doc:`implications` uses:

* ``fig5-one-vs-several``: with one eigenvalue above :math:`2/\eta` the oscillation of
  :math:`x^{(1)}` is a clean period-2 cycle; with several it is not (value: the median period-2
  regularity with one minus that with several; outside its hypothesis unless both regimes last
  :data:`~eos.analysis.implications.MIN_WINDOWS` windows).
* ``fig6-flatter``: a larger constant :math:`\eta` ends at a lower sharpness (value: the largest
  ratio of final sharpnesses of consecutive learning rates).
* ``fig6-loss``: the largest :math:`\eta` ends, per step, with a lower training loss than the
  smallest (value: their ratio).
* ``fig6-capped``: a run that reached :math:`2/\eta` ends within twice it (self-stabilization
  stops the sharpness instead of letting it grow on; value: the largest final
  :math:`S/(2/\eta)`).
* ``warmup-jump-diverges``: jumping straight to :math:`\eta_0 > 2/S(\theta_s)` diverges (value: 1
  if it did).
* ``warmup-flattens``: linear warmup to :math:`\eta_0` does not diverge and ends with the sharpness
  below half the one it started from (value: :math:`S_{final}/S_s`; infinite if it diverged).
* ``warmup-capped``: after warmup the sharpness ends within twice :math:`2/\eta_0` (value:
  :math:`S_{final}/(2/\eta_0)`).
* ``sam-flatter``: SAM ends flatter than GD at the same learning rate (value: the ratio of their
  final sharpnesses).
"""

from __future__ import annotations

import math
from typing import Any

from eos.analysis.claims.base import Claim, Group, Measure, Rule
from eos.analysis.implications import (
    MIN_WINDOWS,
    fig5_regularity,
    fig6_summary,
    tail_median,
    warmup_summary,
)

__all__ = ["CLAIMS", "GROUP"]

#: The experiment group these claims read.
GROUP = "implications"
KIND = f"group:{GROUP}"
FIG5 = "fig5-multiple-unstable"


def _fig5(group: Group) -> Measure:
    if FIG5 not in group.results:
        return Measure(missing=f"no run {FIG5}")
    window = group.params.get(FIG5, {}).get("window")
    if window is None:
        return Measure(missing=f"no analysis window for {FIG5}")
    r = fig5_regularity(group.results[FIG5].gd_run(), int(window))
    value = r["one-x"] - r["several-x"]
    detail = f"regularity {r['one-x']:.3f} (one) vs {r['several-x']:.3f} (several)"
    if min(r["n-one"], r["n-several"]) < MIN_WINDOWS:
        why = (f"{r['n-one']} windows with one and {r['n-several']} with several eigenvalues "
               f"above 2/eta ({MIN_WINDOWS} of each needed)")  # fmt: skip
        return Measure(value, outside=why, detail=detail)
    return Measure(value, detail=detail)


def _fig6_runs(group: Group) -> list[Any]:
    runs = [
        r.gd_run()
        for name, r in group.results.items()
        if name.startswith("fig6-") and r.config.schedule == "constant"
    ]
    return sorted(runs, key=lambda run: run.lr)


def _fig6(key: str):
    def quantity(group: Group) -> Measure:
        summary = fig6_summary(_fig6_runs(group))
        if len(summary) < 2:
            return Measure(missing=f"{len(summary)} constant-learning-rate Fig. 6 run(s)")
        if key == "flatter":
            ratios = [b["sharp"] / a["sharp"] for a, b in zip(summary, summary[1:])]
            worst = max(range(len(ratios)), key=ratios.__getitem__)
            lrs = f"eta {summary[worst]['lr']:.3g} -> {summary[worst + 1]['lr']:.3g}"
            return Measure(ratios[worst], detail=f"worst pair {lrs}")
        if key == "loss":
            return Measure(summary[-1]["loss"] / summary[0]["loss"])
        reached = [s["sharp"] / s["limit"] for s in summary if s["reached"]]
        if not reached:
            return Measure(float("nan"), outside="no run reached 2/eta")
        return Measure(max(reached), detail=f"{len(reached)} of {len(summary)} runs reached 2/eta")

    return quantity


def _warmup(key: str):
    def quantity(group: Group) -> Measure:
        if not {"warmup-jump", "warmup-linear"} <= set(group.results):
            return Measure(missing="no warmup-jump / warmup-linear runs")
        warm = group.results["warmup-linear"]
        w = warmup_summary(
            warm.gd_run(),
            group.results["warmup-jump"].gd_run(),
            eta0=warm.lr,
            start_sharpness=warm.meta["sharpness_at_start"],
        )
        if key == "jump":
            return Measure(float(w["jump_diverged"]), detail=f"at step {w['jump_diverged_at']}")
        if w["warm_diverged"]:
            return Measure(math.inf, detail="the warmup run diverged")
        if key == "capped":
            return Measure(w["final_over_limit"], detail=f"S_start / S_final = {w['drop']:.3g}")
        return Measure(1.0 / w["drop"], detail=f"final S / (2/eta0) = {w['final_over_limit']:.3g}")

    return quantity


def _sam(group: Group) -> Measure:
    if "sam" not in group.results:
        return Measure(missing="no sam run")
    sam = group.results["sam"].gd_run()
    same = [run for run in _fig6_runs(group) if math.isclose(run.lr, sam.lr, rel_tol=1e-9)]
    if not same:
        return Measure(missing=f"no constant-eta Fig. 6 run at SAM's eta = {sam.lr:.4g}")
    return Measure(tail_median(sam.sharpness) / tail_median(same[0].sharpness))


#: The group claims, in ledger order.
CLAIMS: list[Claim] = [
    Claim("fig5-one-vs-several", "Sec. 8.2, Fig. 5", "With one eigenvalue above 2/eta the "
          "oscillation is a clean period-2 cycle, with several it is not (value: median period-2 "
          "regularity of x with one minus with several).", KIND, _fig5, Rule(">", 0.0)),
    Claim("fig6-flatter", "Sec. 7.1, Fig. 6", "A larger constant learning rate ends at a lower "
          "sharpness (value: largest ratio of final sharpnesses of consecutive eta).", KIND,
          _fig6("flatter"), Rule("<", 1.0)),
    Claim("fig6-loss", "Sec. 7.1, Fig. 6", "The largest learning rate ends, per step, with a "
          "lower training loss than the smallest (value: their ratio).", KIND, _fig6("loss"),
          Rule("<", 1.0)),
    Claim("fig6-capped", "Sec. 7.1, App. G.1", "A run that reached 2/eta stays within twice it "
          "(value: largest final S / (2/eta)).", KIND, _fig6("capped"), Rule("<", 2.0)),
    Claim("warmup-jump-diverges", "Sec. 7.3", "Jumping straight to eta_0 > 2/S diverges (value: "
          "1 if it did).", KIND, _warmup("jump"), Rule(">", 0.5)),
    Claim("warmup-flattens", "Sec. 7.3", "Linear warmup to eta_0 does not diverge and ends "
          "below half the sharpness it started from (value: S_final / S_start).", KIND,
          _warmup("flattens"), Rule("<", 0.5)),
    Claim("warmup-capped", "Sec. 7.3", "After warmup the sharpness ends within twice 2/eta_0, "
          "as in Fig. 6 (value: final S / (2/eta_0)).", KIND, _warmup("capped"),
          Rule("<", 2.0)),
    Claim("sam-flatter", "Sec. 7.3", "SAM ends flatter than GD at the same learning rate "
          "(value: ratio of final sharpnesses).", KIND, _sam, Rule("<", 1.0)),
]  # fmt: skip
