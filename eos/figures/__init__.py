"""The book's figures, one module per kind of figure; plotting only.

Every function here draws numbers that :mod:`eos.analysis` computes (or a run recorded) into a
:class:`matplotlib.figure.Figure` or onto given axes, in the shared style of
:mod:`eos.figures.style`, and leaves saving (:func:`eos.figures.style.savefig`) and gluing to the
notebook. Nothing here changes a computed number.

- :mod:`eos.figures.style` -- the one palette (gradient descent, predicted dynamics, constrained
  trajectory, gradient flow always in the same colours), labels, theme, ``savefig``.
- :mod:`eos.figures.captions` -- the one-line description of a run that captions quote.
- :mod:`eos.figures.sharpening` -- Fig. 1: loss and sharpness of gradient descent reaching
  :math:`2/\\eta` (progressive sharpening, then the edge of stability).
- :mod:`eos.figures.tracking` -- Fig. 4 / App. G: gradient descent, the predicted dynamics, the
  constrained trajectory and gradient flow (loss, sharpness, distance to
  :math:`\\theta^\\dagger_t`), zoomed on one cycle and over whole runs.
- :mod:`eos.figures.theorem1` -- Theorem 1's three predictions and their residuals.
- :mod:`eos.figures.assumptions` -- App. E's eight plots of Assumptions 1-5 per run.
- :mod:`eos.figures.line_profiles` -- App. F's line profiles :math:`F_t` and their
  sub-/super-quadratic classification along training.
- :mod:`eos.figures.limiting_sharpness` -- App. F.2: the observed sharpness against the
  limiting sharpness :math:`S_\\infty` of eq. (11).
- :mod:`eos.figures.predictions` -- App. G.2: gradient descent against the standard (eq. (5))
  and generalized (eq. (11)) predictions.
"""

from __future__ import annotations

from eos.figures import style  # first: selects a non-interactive backend outside notebooks

__all__ = ["style"]
