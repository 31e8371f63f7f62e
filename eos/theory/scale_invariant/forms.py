"""The two forms of App. H's formulas: ``"corrected"`` (the identity that holds) and ``"paper"``
(App. H as printed).

Lemma 8 prints the radial coefficient of ``grad S(theta)`` as ``S_f(theta_bar)``; differentiating
``S_f(theta) = S_f(theta_bar) / ||theta||^2`` gives ``2 S_f(theta_bar)`` (the factor 2 then
propagates to Lemmas 10 and 11). The reduced problem of App. H drops the 1/2 of
``(lambda/2) ||theta||^2``. Every function of :mod:`eos.theory.scale_invariant` taking ``form=``
offers both, so the chapter can show each against autodiff.
"""

from __future__ import annotations

from typing import Literal

Form = Literal["corrected", "paper"]
FORMS: tuple[str, ...] = ("corrected", "paper")

__all__ = ["FORMS", "Form", "check_form"]


def check_form(form: str) -> Form:
    """``form`` if it is one of :data:`FORMS`, else a ``ValueError`` naming ``form``."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    return form  # type: ignore[return-value]
