r"""The re-anchored prediction (:mod:`eos.dynamics.reanchored`) along a finished tracked run,
cached beside it: the second, derived phase of the ``theorem1-scaling`` runs
(:mod:`eos.experiments.theorem1_scaling`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["reanchored_result"]


def reanchored_result(result: Any, *, c1: float | None = None, progress: bool = False):
    """The re-anchored prediction (:func:`eos.dynamics.reanchored.reanchored`) along ``result``
    (a finished ``"track"`` :class:`eos.experiments.Result`), from its first unstable iterate
    for as many steps as it tracked; cached as ``reanchored-c1=<c1>.npz`` in the run's folder
    (:func:`eos.experiments.runner.cached_phase`: atomic, locked, resumable). Returns the
    arrays (keys in :mod:`eos.dynamics.reanchored`)."""
    from eos.analysis.claims.base import C1
    from eos.dynamics.reanchored import reanchored
    from eos.experiments.runner import cached_phase
    from eos.experiments.workspace import workspace

    c1 = C1 if c1 is None else float(c1)
    config = result.config
    steps = int(result.meta["steps_done"])
    path = Path(result.path).parent / f"reanchored-c1={c1:g}.npz"

    def compute(_ckpt, _state):
        ws = workspace(config)
        # reduce in float64, as the runner does: the same first unstable iterate as the tracker
        arrays = reanchored(
            ws.objective,
            ws.reduce(np.asarray(result.theta_star, np.float64)),
            ws.reduce(np.asarray(result.u_star, np.float64)),
            lr=config.lr,
            steps=steps,
            c1=c1,
            progress=progress,
        )
        return arrays, {"kind": "reanchored", "c1": c1, "steps": steps, "config": config.to_dict()}

    arrays, _manifest, _info = cached_phase(path, "reanchored", compute)
    return arrays
