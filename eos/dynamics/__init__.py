"""The dynamics engine: gradient descent to instability, gradient flow, the constrained
trajectory (eq. (2)), the predicted dynamics (eq. (5)-(6), App. C) and their generalisation
(App. F, eq. (11)), tracked together by :func:`track` (App. D.3, Fig. 4); and the family of
gradient-descent runs with a spectrum recorder (:func:`run_gd`: constant learning rates,
schedules, SAM; Sec. 7.3, Sec. 8.2, App. G.1).

One concept per module: :mod:`~eos.dynamics.gd` (the update ``theta - eta grad L`` and
:class:`DivergenceError`), :mod:`~eos.dynamics.driver` (:func:`run_gd`),
:mod:`~eos.dynamics.schedules`, :mod:`~eos.dynamics.sam`, :mod:`~eos.dynamics.instability`,
:mod:`~eos.dynamics.flow`, :mod:`~eos.dynamics.constrained`, :mod:`~eos.dynamics.predicted`,
:mod:`~eos.dynamics.tracking` (:func:`track`, :class:`Trajectory`) with its
:mod:`~eos.dynamics.settings` (:class:`TrackSettings`); the tracker's compiled kernels, state
and checkpoints are private (``_kernels``, ``_tracker``, ``_checkpoint``, ``_ops``).
"""

from eos.dynamics.constrained import Projection, constrained_step, linearised_projection, project
from eos.dynamics.flow import flow_interval
from eos.dynamics.gd import DivergenceError, gd_step
from eos.dynamics.instability import InstabilityResult, to_instability
from eos.dynamics.predicted import (
    Frame,
    frame,
    generalized_x_next,
    predicted_step,
    propagate_follower,
    theorem1,
)
from eos.dynamics.settings import TrackSettings
from eos.dynamics.tracking import STOP_REASONS, Trajectory, track

__all__ = [
    "STOP_REASONS",
    "DivergenceError",
    "Frame",
    "InstabilityResult",
    "Projection",
    "TrackSettings",
    "Trajectory",
    "constrained_step",
    "flow_interval",
    "frame",
    "gd_step",
    "generalized_x_next",
    "linearised_projection",
    "predicted_step",
    "project",
    "propagate_follower",
    "theorem1",
    "to_instability",
    "track",
]

# ---- the gradient-descent family: one driver (eos.dynamics.driver) for GD, schedules, SAM
from eos.dynamics.driver import GRADIENT, Direction, GDRun, Spectrum, run_gd  # noqa: E402
from eos.dynamics.sam import run_sam, sam  # noqa: E402

__all__ += ["GRADIENT", "Direction", "GDRun", "Spectrum", "run_gd", "run_sam", "sam"]

# ---- beyond the paper: the central flow (Cohen et al. 2025)
from eos.dynamics.central import CentralFlow, central_flow  # noqa: E402

__all__ += ["CentralFlow", "central_flow"]
