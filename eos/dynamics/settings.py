r"""The settings of :func:`eos.dynamics.track`: one frozen dataclass, :class:`TrackSettings`, made of
small frozen groups.

* ``eigen`` (:class:`EigenSettings`): the eigen-solves -- :math:`u_t` at :math:`\theta^\dagger_t`,
  the sharpness at the GD, predicted, generalized and flow points, :math:`\lambda_2`;
* ``projection`` (:class:`ProjectionSettings`): the projections onto :math:`\mathcal M` (eq. (2));
* ``flow`` (:class:`FlowSettings`): the gradient-flow integrator;
* ``outputs`` (:class:`OutputSettings`): which quantities exist -- App. F's generalized dynamics
  (eq. (11)), App. E/F's diagnostics and their line grid;
* ``recording`` (:class:`RecordingSettings`): how often the host records them; vectors per step;
* ``run`` (:class:`RunSettings`): when the run stops, checkpoints, is timed.

The first four groups change the compiled functions: :meth:`TrackSettings.compiled_key` (with the
learning rate) keys the cache of the jitted step functions (:mod:`eos.dynamics._kernels`), so a
change of e.g. ``checkpoint_every`` or ``diag_every`` reuses the compiled code.
:meth:`TrackSettings.manifest` is the flat ``{name: value}`` dictionary that
:attr:`eos.dynamics.Trajectory.meta` and the checkpoints record, read off the dataclass fields
(so each name is written once, here); the fields marked ``manifest=False`` (``record_vectors``,
``checkpoint_every``, ``timing``), which change no recorded number, are left out.

Every field is validated once, here, when a settings object is made (:mod:`eos.validate`); a
``ValueError`` names the field. The flat field names are those of :func:`eos.dynamics.track`'s keywords:
``TrackSettings.create(diag_every=25, substeps=1)`` or ``settings.replace(generalized=True)``
route each name to its group.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eos.dynamics.flow import FLOW_METHODS
from eos.validate import positive_int, positive_number

__all__ = [
    "DEFAULT_QUADRATIC_MULTIPLES",
    "EigenSettings",
    "FlowSettings",
    "OutputSettings",
    "ProjectionSettings",
    "RecordingSettings",
    "RunSettings",
    "TrackSettings",
]

DEFAULT_QUADRATIC_MULTIPLES = tuple(float(x) for x in np.linspace(-2.0, 2.0, 17))
# Courant number h S of the flow's step when flow_courant is None, per method (eos.dynamics.flow:
# the exponential integrator is exact on the quadratic part, so it takes longer steps).
_DEFAULT_COURANT = {"etd": 2.5}
_OTHER_COURANT = 0.5


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass in __post_init__


def _positive_or_inf(value: Any, name: str, what: str = "") -> float:
    """A positive number; ``inf`` (never stop) is allowed as well."""
    if (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.number))
        and value == math.inf
    ):
        return math.inf
    return positive_number(value, name, what=what)


def _not_recorded(default: Any) -> Any:
    """A field that changes no recorded number: left out of :meth:`TrackSettings.manifest`
    (hence of ``Trajectory.meta`` and of the checkpoints' compatibility check)."""
    return field(default=default, metadata={"manifest": False})


@dataclass(frozen=True)
class EigenSettings:
    r"""The eigen-solves: warm-started Lanczos runs (:func:`eos.curvature.lanczos_top`).

    Attributes:
        eig_tol / eig_max_iters: relative residual and Krylov size of the eigen-solves at
            :math:`\theta^\dagger` (they define :math:`u_t`, hence :math:`x_t`, Definition 5).
            The eigenvector error is about ``eig_tol * S / (S - lambda_2)``, at most
            ``20 * eig_tol`` while the run lasts (it stops at :math:`\lambda_2 = 1.9/\eta`): for
            the default 1e-7 that is 2e-6, below ``proj_tol``, so :math:`\nabla L\cdot u = 0` is
            resolved as finely as it is imposed. (On the benchmark MLP every recorded quantity
            agrees with an ``eig_tol = 1e-8`` run to 5e-8 of its largest value, and the solves
            take 3.4 products per step instead of 5.3.) A warm-started solve then takes two or
            three products, so a basis of 6 (restarted for the hard steps, ``eig_restarts``)
            suffices: on the benchmark MLP it spends the same products as 8, with a smaller
            buffer to allocate and orthogonalise against.
        eig_tol_first: looser tolerance of the first eigen-solve of each projection (it only
            steers the first correction; ``None``: ``eig_tol``). The first evaluation is at the
            predicted point plus the extrapolated correction of the last two steps, which is
            usually within ``proj_tol`` already: then that (tight) solve is the only one.
        eig_restarts: a solve whose residual is still above its tolerance after the Krylov
            basis is full restarts from its Ritz vector, at most this many times (the hard
            points are near-crossings of the top eigenvalues, where a warm start has little
            weight on the new top vector; without restarts their sharpness can be off by 1%).
        point_tol / point_max_iters: the same for the sharpness at the GD, predicted,
            generalized and flow points. The Ritz value is a lower bound of :math:`S` with error
            at most ``point_tol^2 * S^2 / (S - lambda_2)`` (Rayleigh quotient), about 1e-6
            relative for the default 1e-3, more where the top two eigenvalues nearly cross
            (measured on the benchmark MLP over 100 steps: median 7e-7, worst 1.3e-5 against a
            1e-8 solve), far below Theorem 1's sharpness error :math:`O(\epsilon^2/\eta)`, about
            1e-3 relative. The residual of every point solve is recorded
            (``<point>/eig_residual``).
        lambda2_tol / lambda2_iters: tolerance and Krylov size of the :math:`\lambda_2` solve
            (App. D.3's stopping rule).
        extrapolate: warm-start every eigen-solve from the polynomial extrapolation of its own
            sequence instead of the last vector: quadratic ``3 u_t - 3 u_{t-1} + u_{t-2}`` for
            :math:`u_{t+1}` at :math:`\theta^\dagger`, linear ``2 u_{t-1} - u_{t-2}`` at the
            flow point and, for the oscillating GD / predicted iterates, from the same-parity
            vectors ``2 u_{t-2} - u_{t-4}``; also extrapolate the projection's correction.
    """

    eig_tol: float = 1e-7
    eig_tol_first: float | None = None
    eig_max_iters: int = 6
    eig_restarts: int = 3
    point_tol: float = 1e-3
    point_max_iters: int = 6
    lambda2_tol: float = 1e-4
    lambda2_iters: int = 40
    extrapolate: bool = True

    def __post_init__(self) -> None:
        for name in ("eig_tol", "point_tol", "lambda2_tol"):
            _set(self, name, positive_number(getattr(self, name), name))
        if self.eig_tol_first is not None:
            _set(self, "eig_tol_first", positive_number(self.eig_tol_first, "eig_tol_first"))
        for name in ("eig_max_iters", "point_max_iters", "lambda2_iters"):
            _set(self, name, positive_int(getattr(self, name), name))
        _set(self, "eig_restarts", positive_int(self.eig_restarts, "eig_restarts", minimum=0))
        _set(self, "extrapolate", bool(self.extrapolate))


@dataclass(frozen=True)
class ProjectionSettings:
    r"""The linearised projections onto :math:`\mathcal M` of the constrained trajectory (eq. (2);
    :func:`eos.dynamics.constrained.constrained_step`).

    Attributes:
        proj_tol: bounds :math:`|S - 2/\eta|/(2/\eta)` and :math:`|\nabla L\cdot u|/\|\nabla L\|`
            at every :math:`\theta^\dagger_t` (t >= 1; 1e-9 at t = 0, which fixes
            :math:`\hat v_0`); the latter moves :math:`\theta^\dagger_t` along :math:`u_t` by at
            most ``proj_tol * ||grad L|| / S`` (7e-9 for the paper's MLP at eta = 0.02, against
            Theorem 1's resolution :math:`\epsilon\delta \approx 10^{-3}`).
        substeps: at most this many linearised projections per step.
        adaptive: stop the sub-steps once both residuals are below ``proj_tol``.
        predictor: start from the predicted point plus the extrapolated correction.
        fresh_direction: a new third derivative :math:`\nabla S` at every sub-step.
    """

    proj_tol: float = 3e-6
    substeps: int = 3
    adaptive: bool = True
    predictor: bool = True
    fresh_direction: bool = False

    def __post_init__(self) -> None:
        _set(self, "proj_tol", positive_number(self.proj_tol, "proj_tol"))
        _set(self, "substeps", positive_int(self.substeps, "substeps"))
        for name in ("adaptive", "predictor", "fresh_direction"):
            _set(self, name, bool(getattr(self, name)))


@dataclass(frozen=True)
class FlowSettings:
    """The gradient-flow integrator (:func:`eos.dynamics.flow.flow_interval`).

    Attributes:
        flow_method: one of :data:`eos.dynamics.flow.FLOW_METHODS`.
        flow_courant: the step's Courant number ``h S``; ``None``: 2.5 for ``"etd"``, 0.5 for
            the others (:meth:`resolved` fills it in).
    """

    flow_method: str = "etd"
    flow_courant: float | None = None

    def __post_init__(self) -> None:
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(
                f"flow_method must be one of {', '.join(FLOW_METHODS)}, got {self.flow_method!r}"
            )
        if self.flow_courant is not None:
            _set(self, "flow_courant", positive_number(self.flow_courant, "flow_courant"))

    def resolved(self) -> FlowSettings:
        """The same settings with the default Courant number of the method filled in."""
        if self.flow_courant is not None:
            return self
        courant = _DEFAULT_COURANT.get(self.flow_method, _OTHER_COURANT)
        return dataclasses.replace(self, flow_courant=courant)


@dataclass(frozen=True)
class OutputSettings:
    """Which quantities are computed besides GD, the flow, :math:`\\theta^\\dagger` and the
    predicted dynamics (each changes the compiled functions).

    Attributes:
        generalized: also run App. F's generalized predicted dynamics (eq. (11)).
        diagnostics: App. E's assumption quantities and App. F's line profiles (every
            ``diag_every`` steps).
        quadratic_multiples: the grid of App. F's line profile, in units of :math:`\\delta_t`
            (must contain 1 when ``diagnostics``).
    """

    generalized: bool = False
    diagnostics: bool = True
    quadratic_multiples: tuple[float, ...] = DEFAULT_QUADRATIC_MULTIPLES

    def __post_init__(self) -> None:
        _set(self, "generalized", bool(self.generalized))
        _set(self, "diagnostics", bool(self.diagnostics))
        multiples = tuple(float(m) for m in self.quadratic_multiples)
        if self.diagnostics and 1.0 not in multiples:
            raise ValueError(f"quadratic_multiples must contain 1 (x = delta_t), got {multiples}")
        _set(self, "quadratic_multiples", multiples)


@dataclass(frozen=True)
class RecordingSettings:
    """How often the host records the sparse quantities (no effect on the compiled code).

    Attributes:
        diag_every: spacing of App. E's assumption quantities and App. F's line profiles.
        lambda2_every: spacing of the :math:`\\lambda_2` check at :math:`\\theta^\\dagger_t`.
        accuracy_every: spacing of GD's training accuracy.
        beta_every / beta_max: start following :math:`\\beta_{s\\to t}` (eq. (10)) every
            ``beta_every`` steps, at most ``beta_max`` starts at once (the oldest is dropped;
            0: none).
        record_vectors: also record, at every step, :math:`\\theta^\\dagger_t`, :math:`u_t`,
            :math:`\\theta_t`, :math:`\\hat v_t` (and the generalized :math:`\\hat v_t`) as 2-D
            arrays ``vectors/...`` (small models only: tests, illustrations).
    """

    diag_every: int = 50
    lambda2_every: int = 10
    accuracy_every: int = 10
    beta_every: int = 50
    beta_max: int = 4
    record_vectors: bool = _not_recorded(False)

    def __post_init__(self) -> None:
        for name in ("diag_every", "lambda2_every", "accuracy_every", "beta_every"):
            _set(self, name, positive_int(getattr(self, name), name))
        _set(self, "beta_max", positive_int(self.beta_max, "beta_max", minimum=0))
        _set(self, "record_vectors", bool(self.record_vectors))


@dataclass(frozen=True)
class RunSettings:
    """When the run stops, checkpoints and is timed (no effect on the compiled code).

    Attributes:
        lambda2_threshold: stop once :math:`\\lambda_2(\\theta^\\dagger_t) \\ge`
            ``lambda2_threshold / lr`` (App. D.3: 1.9; ``inf``: never).
        divergence_factor: GD has diverged when its loss is not finite or
            ``|loss| > divergence_factor * max(|loss at step 0|, 1)``; the run then stops with
            ``stop_reason="gd_diverged"`` and a warning that names the step (``inf``: only a
            non-finite loss counts).
        checkpoint_every: spacing of the checkpoints handed to ``on_checkpoint``.
        timing: record wall-clock seconds and calls per component in
            ``meta["timing_seconds"]`` / ``meta["timing_calls"]`` (synchronising after each
            call; for ``benchmarks/tracking.py``).
    """

    lambda2_threshold: float = 1.9
    divergence_factor: float = 1e3
    checkpoint_every: int = _not_recorded(100)
    timing: bool = _not_recorded(False)

    def __post_init__(self) -> None:
        _set(
            self,
            "lambda2_threshold",
            _positive_or_inf(self.lambda2_threshold, "lambda2_threshold", "units of 1/lr"),
        )
        _set(
            self, "divergence_factor", _positive_or_inf(self.divergence_factor, "divergence_factor")
        )
        _set(self, "checkpoint_every", positive_int(self.checkpoint_every, "checkpoint_every"))
        _set(self, "timing", bool(self.timing))


_GROUPS: dict[str, type] = {
    "eigen": EigenSettings,
    "projection": ProjectionSettings,
    "flow": FlowSettings,
    "outputs": OutputSettings,
    "recording": RecordingSettings,
    "run": RunSettings,
}
# flat field name -> its group
_ROUTE = {f.name: group for group, cls in _GROUPS.items() for f in dataclasses.fields(cls)}


@dataclass(frozen=True)
class TrackSettings:
    """Every setting of :func:`eos.dynamics.track` (module docstring), defaults included.

    Make one with ``TrackSettings()`` (the defaults), ``TrackSettings.create(**flat)`` or
    ``settings.replace(**flat)``, where ``flat`` uses the field names of the groups
    (``eig_tol``, ``substeps``, ``generalized``, ``checkpoint_every``, ...); a whole group can
    be replaced by its name (``replace(flow=FlowSettings("rk4"))``).
    """

    eigen: EigenSettings = field(default_factory=EigenSettings)
    projection: ProjectionSettings = field(default_factory=ProjectionSettings)
    flow: FlowSettings = field(default_factory=FlowSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    run: RunSettings = field(default_factory=RunSettings)

    def __post_init__(self) -> None:
        for group, cls in _GROUPS.items():
            if not isinstance(getattr(self, group), cls):
                raise ValueError(
                    f"{group} must be a {cls.__name__}, got {type(getattr(self, group)).__name__}"
                )

    @staticmethod
    def field_names() -> tuple[str, ...]:
        """The flat field names that :meth:`create` and :meth:`replace` accept (sorted)."""
        return tuple(sorted(_ROUTE))

    @classmethod
    def create(cls, **flat: Any) -> TrackSettings:
        """The defaults with the flat fields ``flat`` changed (see :meth:`replace`)."""
        return cls().replace(**flat)

    def replace(self, **changes: Any) -> TrackSettings:
        """A copy with the given fields changed, each flat name routed to its group (a group's
        own name replaces the whole group); ``ValueError`` names unknown fields and lists the
        valid ones, or names the field whose value is invalid."""
        unknown = sorted(k for k in changes if k not in _ROUTE and k not in _GROUPS)
        if unknown:
            raise ValueError(
                f"unknown track setting(s) {', '.join(unknown)}; valid: "
                f"{', '.join(self.field_names())}"
            )
        groups = {name: changes[name] for name in _GROUPS if name in changes}
        for group in _GROUPS:
            sub = {k: v for k, v in changes.items() if _ROUTE.get(k) == group}
            if sub:
                groups[group] = dataclasses.replace(groups.get(group, getattr(self, group)), **sub)
        return dataclasses.replace(self, **groups) if groups else self

    def compiled_key(self) -> tuple:
        """The hashable part that changes the compiled step functions: the groups ``eigen``,
        ``projection``, ``flow`` (Courant number resolved) and ``outputs``."""
        return (self.eigen, self.projection, self.flow.resolved(), self.outputs)

    def manifest(self) -> dict[str, Any]:
        """Flat ``{field: value}`` of every recorded field (Courant number resolved; tuples as
        lists): what ``Trajectory.meta`` and the checkpoints hold."""
        out: dict[str, Any] = {}
        for group in _GROUPS:
            value = self.flow.resolved() if group == "flow" else getattr(self, group)
            for f in dataclasses.fields(value):
                if f.metadata.get("manifest", True):
                    v = getattr(value, f.name)
                    out[f.name] = list(v) if isinstance(v, tuple) else v
        return out
