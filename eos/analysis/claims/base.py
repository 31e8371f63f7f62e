r"""The ledger's building blocks: a :class:`Rule` decides a value, a :class:`Claim` says what
is computed from a run and which rule decides it, :func:`evaluate` returns a :class:`Verdict`
(value, threshold, margin, verdict). See :mod:`eos.analysis.claims` for the ledger itself."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BIG_O",
    "C1",
    "MIN_STEPS_AFTER",
    "Claim",
    "Group",
    "Measure",
    "Rule",
    "Verdict",
    "evaluate",
]

#: The constant standing for "O(1)" in every rule (Theorem 1's errors, App. E's ratios).
BIG_O = 10.0
#: Theorem 1's :math:`c_1`: the hypothesis :math:`\min_{t\le\mathcal T}|\hat x_t| \ge c_1\delta_t`.
C1 = 0.1
#: Steps after instability that Fig. 1's claims about the edge of stability need.
MIN_STEPS_AFTER = 50

HOLDS, FAILS, OUTSIDE, NOT_RECORDED = "holds", "fails", "outside hypotheses", "not recorded"


@dataclass(frozen=True)
class Rule:
    """``value < threshold`` (``"<"``), ``value > threshold`` (``">"``) or ``lo < value < hi``
    (``"within"``, ``threshold = (lo, hi)``)."""

    op: str
    threshold: float | tuple[float, float]

    def __post_init__(self) -> None:
        if self.op not in ("<", ">", "within"):
            raise ValueError(f"Rule.op must be '<', '>' or 'within', got {self.op!r}")
        if (self.op == "within") != isinstance(self.threshold, tuple):
            raise ValueError("Rule: 'within' takes a (lo, hi) threshold, '<' and '>' a number")

    def margin(self, value: float) -> float:
        """Signed distance of ``value`` inside the rule (> 0: holds; <= 0 or NaN: fails)."""
        if self.op == "<":
            return float(self.threshold) - value
        if self.op == ">":
            return value - float(self.threshold)
        lo, hi = self.threshold
        return min(value - lo, hi - value)

    def describe(self) -> str:
        if self.op == "within":
            lo, hi = self.threshold
            return f"{lo:g} < value < {hi:g}"
        return f"value {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Measure:
    """A claim's quantity on one run: ``value``; ``outside``: the violated hypothesis (None if
    every hypothesis holds); ``missing``: why the quantity could not be computed (None if it was);
    ``detail``: extra readings for the scorecard (e.g. the step of a worst case)."""

    value: float = float("nan")
    outside: str | None = None
    missing: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    """One claim on one run: the value, the rule's threshold, the margin and the verdict."""

    claim: str
    run: str
    value: float
    threshold: str
    margin: float
    verdict: str
    note: str = ""

    @property
    def holds(self) -> bool:
        return self.verdict == HOLDS


@dataclass(frozen=True)
class Group:
    """The runs a group claim reads together (e.g. Fig. 6's learning rates): ``results`` (name ->
    :class:`eos.experiments.Result`) and ``params``, the book's analysis parameters per run name
    (:func:`eos.experiments.analysis_params`, e.g. Fig. 5's window)."""

    results: Mapping[str, Any]
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """A quantitative claim: ``id``, paper reference ``ref``, one-sentence ``statement``, the
    ``kind`` of run it applies to (``"gd"``, ``"track"``, ``"theory"``, or ``"group:NAME"`` for a
    claim on the experiment group ``NAME`` as a whole), the ``quantity`` (``run -> Measure``; for
    theory claims called with ``None``, for group claims with a :class:`Group`) and the ``rule``."""

    id: str
    ref: str
    statement: str
    kind: str
    quantity: Callable[[Any], Measure] = field(repr=False)
    rule: Rule


def evaluate(claim: Claim, run: Any = None, name: str = "") -> Verdict:
    """The :class:`Verdict` of ``claim`` on ``run`` (``None`` for a theory claim)."""
    try:
        m = claim.quantity(run)
    except KeyError as exc:  # the run did not record an array the quantity needs
        m = Measure(missing=f"not recorded: {exc.args[0]}")
    if m.missing is not None:
        return Verdict(claim.id, name, math.nan, claim.rule.describe(), math.nan, NOT_RECORDED,
                       m.missing)  # fmt: skip
    margin = claim.rule.margin(m.value)
    if m.outside is not None:
        verdict, note = OUTSIDE, "; ".join(s for s in (m.outside, m.detail) if s)
    else:
        verdict, note = (HOLDS if margin > 0 else FAILS), m.detail
    return Verdict(claim.id, name, float(m.value), claim.rule.describe(), margin, verdict, note)
