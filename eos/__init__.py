"""eos: the executable companion to *Self-Stabilization: The Implicit Bias of
Gradient Descent at the Edge of Stability* (Damian, Nichani, Lee, ICLR 2023).

Equation, lemma and figure numbers in docstrings refer to the paper.
"""

from __future__ import annotations

import jax

from eos.profiles import PROFILES, by_profile, current_profile

# The paper switches to float64 after instability (App. D.3); float64 must be
# available, while float32 remains the default dtype of new arrays.
jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"

__all__ = ["PROFILES", "__version__", "by_profile", "current_profile"]
