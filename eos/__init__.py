"""eos: the executable companion to *Self-Stabilization: The Implicit Bias of
Gradient Descent at the Edge of Stability* (Damian, Nichani, Lee, ICLR 2023).

Equation, lemma and figure numbers in docstrings refer to the paper.

The house, from the bottom up (imports only point down; ``tests/test_layout.py`` checks it):

- :mod:`eos.validate` -- the argument checks every entry point shares.
- :mod:`eos.curvature` -- derivatives, Hessian-vector products, Lanczos eigen-solves, the
  sharpness (Definition 1) and Lemma 2's sharpness gradient, tensor norms (Assumption 3).
- :mod:`eos.data`, :mod:`eos.models`, :mod:`eos.losses`, :mod:`eos.objective` -- App. D's data
  sets, architectures and losses, and the loss of a flat parameter vector
  (:class:`eos.objective.Objective`, the :class:`eos.objective.ObjectiveLike` protocol).
- :mod:`eos.dynamics` -- gradient descent (and its schedules and SAM) with a spectrum recorder,
  GD to instability, gradient flow, the constrained trajectory (eq. (2)), the predicted
  dynamics (eq. (5)-(6), App. C, F) and :func:`eos.dynamics.track`.
- :mod:`eos.theory` -- exact theory: the toy model (App. B), the ODE of eq. (4), scale-invariant
  losses (App. H).
- :mod:`eos.analysis` -- numbers from runs (App. E's assumptions, App. F's line profiles,
  Theorem 1's residuals, agreement metrics); :mod:`eos.figures` -- plots of them, one style.
- :mod:`eos.experiments` -- the paper's runs as named, cached, resumable experiments and the
  published paper-profile runs; :mod:`eos.cli` -- ``python -m eos``.
"""

from __future__ import annotations

import jax

from eos.profiles import PROFILES, by_profile, current_profile

# The paper switches to float64 after instability (App. D.3); float64 must be
# available, while float32 remains the default dtype of new arrays.
jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"

__all__ = ["PROFILES", "__version__", "by_profile", "current_profile"]
