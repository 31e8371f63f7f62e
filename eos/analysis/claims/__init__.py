r"""The claims ledger: each quantitative claim of the paper, the number that decides it, and its
margin on every run it applies to.

A :class:`Claim` names a statement of the paper (section, equation, figure), the *quantity*
computed from a run (or from the toy model / the ODE of eq. (4) for the theory claims) and the
*rule* that decides it: a threshold (``value < t``, ``value > t``) or a band (``lo < value < hi``).
Evaluating a claim returns a :class:`Verdict`:

* ``holds`` / ``fails``, with the *margin*: how far the value is inside the rule (positive) or
  outside it (negative), in the units of the value;
* ``outside hypotheses``: the quantity was computed but a hypothesis of the statement does not
  hold on this run (e.g. Theorem 1 assumes :math:`\min_{t\le\mathcal T}|\hat x_t| \ge c_1\delta`;
  Fig. 1's hovering needs steps after instability); the verdict names the hypothesis and the
  measured value, and the rule's margin is still reported;
* ``not recorded``: the run did not record what the quantity needs (e.g. App. E's diagnostics
  switched off), with the reason.

Nothing is dropped: :func:`scorecard` evaluates every claim on every run of a matching kind and
returns every verdict, failing ones included. The claims themselves, by kind of run:

* ``gd`` runs (Fig. 1): progressive sharpening, the hovering of :math:`S` around :math:`2/\eta`,
  the loss still falling, non-monotonically.
* ``track`` runs (Sec. 6, Fig. 4, App. E, App. G): the predicted loss and sharpness (eq. (5),
  median errors), :math:`\theta^\dagger_t` on :math:`S = 2/\eta` (eq. (2), Lemma 13), gradient
  flow drifting away, Theorem 1's three errors against their orders (worst case over the
  coupling horizon, with the hypothesis :math:`|\hat x_t| \ge c_1\delta_t` measured), and App. E's
  checks of Assumptions 1 and 3-5 and Definition 6; App. F's limiting sharpness against the observed one (runs with App. F's diagnostics).
* ``group:implications`` (the runs of Sec. 7 and Sec. 8.2 read together,
  :mod:`eos.analysis.claims.implications`): Fig. 5's period-2 regularity with one against several
  unstable eigenvalues, Fig. 6's flatter ends and lower losses at larger learning rates,
  learning-rate warmup, SAM.
* ``theory`` (no run): Lemma 3's conserved quantity along eq. (4) solved numerically, Corollary 1's
  orbit extent against the exact level set, App. B's stage order on eq. (3), App. F.2's
  convergence to the limiting sharpness on an attracting profile, and App. H's identities and
  Lemma 9's exponents on a scale-invariant network
  (:mod:`eos.analysis.claims.appendices`).

The thresholds are the book's stated criteria (the constants of the O(.) statements are not
given by the paper; :data:`BIG_O` is the one used throughout, as in
:func:`eos.analysis.assumptions.summarize`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eos.analysis.claims import appendices, implications, runs, scaling, theory
from eos.analysis.claims.base import (
    BIG_O,
    C1,
    FAILS,
    HOLDS,
    MIN_STEPS_AFTER,
    NOT_RECORDED,
    OUTSIDE,
    Claim,
    Group,
    Measure,
    Rule,
    Verdict,
    evaluate,
)

__all__ = [
    "BIG_O",
    "C1",
    "CLAIMS",
    "FAILS",
    "HOLDS",
    "MIN_STEPS_AFTER",
    "NOT_RECORDED",
    "OUTSIDE",
    "CHAPTERS",
    "Claim",
    "Group",
    "Measure",
    "Rule",
    "Verdict",
    "chapter_frame",
    "chapter_of",
    "claims_for",
    "evaluate",
    "scorecard",
    "scorecard_frame",
]


def _ledger(*parts: list[Claim]) -> dict[str, Claim]:
    found = [c for part in parts for c in part]
    table = {c.id: c for c in found}
    if len(table) != len(found):
        raise RuntimeError("duplicate claim ids in the ledger")
    return table


#: Every claim of the ledger, by id: the theory claims, then Fig. 1's, the tracked runs', App. F's
#: and App. H's, and the implications group's (Theorem 1's scaling law after the tracked runs').
CLAIMS: dict[str, Claim] = _ledger(theory.CLAIMS, runs.CLAIMS, scaling.CLAIMS, appendices.CLAIMS,
                                   implications.CLAIMS)  # fmt: skip

#: The book chapter (document name) that discusses each claim, by the claim id's prefix.
CHAPTERS: dict[str, str] = {
    "lemma3": "conserved_quantity", "cor1": "conserved_quantity", "appB": "four_stages",
    "fig1": "progressive_sharpening",
    "sec6": "architectures", "lemma13": "architectures", "thm1": "coupling_theorem",
    "appE": "architectures", "appF": "generalized_dynamics", "appH": "scale_invariant",
    "fig5": "implications", "fig6": "implications", "warmup": "implications",
    "sam": "implications", "thm1-scaling": "theorem1_scaling",
}  # fmt: skip


def chapter_of(claim_id: str) -> str:
    """The chapter of :data:`CHAPTERS` that discusses ``claim_id`` (the longest matching prefix
    of its dash-separated parts)."""
    parts = claim_id.split("-")
    for n in range(len(parts), 0, -1):
        if "-".join(parts[:n]) in CHAPTERS:
            return CHAPTERS["-".join(parts[:n])]
    raise KeyError(f"claim {claim_id!r} has no chapter in CHAPTERS")


def claims_for(kind: str) -> list[Claim]:
    """The claims of :data:`CLAIMS` that apply to runs of ``kind`` (``"gd"``, ``"track"``,
    ``"theory"``)."""
    return [c for c in CLAIMS.values() if c.kind == kind]


def scorecard(
    results: Mapping[str, Any],
    *,
    theory: bool = False,
    groups: Mapping[str, Group] | None = None,
    only: Iterable[str] | None = None,
) -> list[Verdict]:
    """Every claim on every run of ``results`` (name -> :class:`eos.experiments.Result`) whose
    kind it applies to, failures included; with ``theory=True`` the theory claims first (their
    run reads ``"theory"``); with ``groups`` (group name -> :class:`Group`) the group claims of
    each (their run reads the group's name). ``only``: restrict to these claim ids."""
    keep = None if only is None else set(only)

    def pick(kind: str) -> list[Claim]:
        return [c for c in claims_for(kind) if keep is None or c.id in keep]

    out = [evaluate(c, None, "theory") for c in pick("theory")] if theory else []
    for name, run in results.items():
        out.extend(evaluate(c, run, name) for c in pick(run.config.kind))
    for name, group in (groups or {}).items():
        out.extend(evaluate(c, group, name) for c in pick(f"group:{name}"))
    return out


def chapter_frame(
    chapter: str,
    results: Mapping[str, Any] | None = None,
    *,
    groups: Mapping[str, Group] | None = None,
):
    """The slice of the scorecard that ``chapter`` (a document name of :data:`CHAPTERS`)
    discusses: its claims on ``results`` and ``groups`` and its theory claims, indexed by claim
    and run (a pandas DataFrame)."""
    ids = [cid for cid in CLAIMS if chapter_of(cid) == chapter]
    if not ids:
        raise ValueError(f"no claim of the ledger belongs to chapter {chapter!r}")
    verdicts = scorecard(results or {}, theory=True, groups=groups, only=ids)
    return scorecard_frame(verdicts).drop(columns="chapter").set_index(["claim", "run"])


def scorecard_frame(verdicts: Iterable[Verdict]):
    """The verdicts as a pandas DataFrame, one row each, with the claim's paper reference."""
    import pandas as pd

    columns = ["claim", "ref", "chapter", "run", "value", "rule", "margin", "verdict", "note"]
    rows = [
        [v.claim, CLAIMS[v.claim].ref, chapter_of(v.claim), v.run, v.value, v.threshold,
         v.margin, v.verdict, v.note]
        for v in verdicts
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
