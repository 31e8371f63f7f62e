"""Theory of Sec. 4: the toy model of App. B (:mod:`eos.theory.toy`) and the simplified
dynamics eq. (3), the ODE eq. (4) and its conserved quantity (:mod:`eos.theory.ode`).

Names are re-exported lazily, so importing a sibling module (e.g.
``eos.theory.scale_invariant``) does not pay for importing diffrax.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ToyModel": "eos.theory.toy",
    "OdeSolution": "eos.theory.ode",
    "OrbitBounds": "eos.theory.ode",
    "conserved_quantity": "eos.theory.ode",
    "orbit_bounds": "eos.theory.ode",
    "orbit_period": "eos.theory.ode",
    "simplified_dynamics": "eos.theory.ode",
    "simplified_step": "eos.theory.ode",
    "solve": "eos.theory.ode",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'eos.theory' has no attribute {name!r}")
