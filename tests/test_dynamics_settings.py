"""eos.dynamics.TrackSettings: defaults, routing of the flat field names to their groups,
validation (one ValueError naming the field), the compiled-code cache key and the manifest that
Trajectory.meta and the checkpoints record."""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import pytest

from eos import dynamics as dyn
from eos.dynamics import _kernels
from eos.dynamics.settings import (
    DEFAULT_QUADRATIC_MULTIPLES,
    EigenSettings,
    FlowSettings,
    TrackSettings,
)
from eos.objective import Objective

# track()'s keywords and defaults before TrackSettings (flow_courant: resolved for "etd")
DEFAULTS = dict(
    generalized=False, diag_every=50, lambda2_every=10, lambda2_threshold=1.9, accuracy_every=10,
    beta_every=50, beta_max=4, diagnostics=True, quadratic_multiples=DEFAULT_QUADRATIC_MULTIPLES,
    eig_tol=1e-7, eig_tol_first=None, point_tol=1e-3, eig_max_iters=6, eig_restarts=3,
    point_max_iters=6, proj_tol=3e-6, substeps=3, adaptive=True, predictor=True,
    fresh_direction=False, extrapolate=True, flow_method="etd", flow_courant=2.5,
    lambda2_tol=1e-4, lambda2_iters=40, divergence_factor=1e3, checkpoint_every=100,
    timing=False, record_vectors=False,
)  # fmt: skip
NOT_IN_META = {"checkpoint_every", "timing", "record_vectors"}


def flat(settings: TrackSettings) -> dict:
    """Every field by its flat name (flow_courant resolved)."""
    out = {}
    for group in ("eigen", "projection", "flow", "outputs", "recording", "run"):
        value = getattr(settings, group)
        value = value.resolved() if group == "flow" else value
        out.update({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return out


def test_defaults_are_the_old_keyword_defaults():
    s = TrackSettings()
    assert set(TrackSettings.field_names()) == set(DEFAULTS)
    assert flat(s) == DEFAULTS
    assert s.flow.flow_courant is None  # resolved per method, not stored
    manifest = s.manifest()
    assert set(manifest) == set(DEFAULTS) - NOT_IN_META
    assert manifest["quadratic_multiples"] == list(DEFAULT_QUADRATIC_MULTIPLES)
    assert manifest["flow_courant"] == 2.5


def test_flat_overrides_route_to_their_groups():
    s = TrackSettings.create(
        diag_every=25, substeps=1, generalized=True, checkpoint_every=7, timing=True,
        record_vectors=True, eig_tol=1e-9, flow_method="rk4", lambda2_threshold=1.5,
    )  # fmt: skip
    assert s.recording.diag_every == 25 and s.recording.record_vectors is True
    assert s.projection.substeps == 1
    assert s.outputs.generalized is True
    assert s.run.checkpoint_every == 7 and s.run.timing is True
    assert s.run.lambda2_threshold == 1.5
    assert s.eigen.eig_tol == 1e-9
    assert s.flow.flow_method == "rk4" and s.flow.resolved().flow_courant == 0.5
    # everything else keeps its default; replace() leaves the original unchanged
    changed = {"diag_every", "substeps", "generalized", "checkpoint_every", "timing",
               "record_vectors", "eig_tol", "flow_method", "flow_courant", "lambda2_threshold"}  # fmt: skip
    assert {k: v for k, v in flat(s).items() if k not in changed} == {
        k: v for k, v in DEFAULTS.items() if k not in changed
    }
    assert TrackSettings().replace() == TrackSettings()
    assert s.replace(diag_every=3).recording.diag_every == 3 and s.recording.diag_every == 25
    # a whole group by its name
    g = s.replace(eigen=EigenSettings(eig_tol=1e-5), flow=FlowSettings("etd", 1.0))
    assert g.eigen.eig_tol == 1e-5 and g.flow.flow_courant == 1.0 and g.projection.substeps == 1


def test_settings_are_frozen():
    s = TrackSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.eigen.eig_tol = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.eigen = EigenSettings()  # type: ignore[misc]


def test_unknown_fields_are_named_with_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown track setting\(s\) diag_evry, foo; valid: .*diag_every"
    ):
        TrackSettings.create(diag_evry=3, foo=1, substeps=2)
    with pytest.raises(ValueError, match="substep.*valid:.*substeps"):
        TrackSettings().replace(substep=2)


@pytest.mark.parametrize(
    "name, value",
    [("diag_every", 0), ("lambda2_every", 1.5), ("accuracy_every", True), ("beta_every", -1),
     ("beta_max", -1), ("checkpoint_every", 0), ("substeps", 0), ("eig_max_iters", 0),
     ("point_max_iters", 0), ("lambda2_iters", 0), ("eig_restarts", -1), ("eig_tol", 0.0),
     ("eig_tol", -1e-7), ("point_tol", math.nan), ("proj_tol", "tight"), ("lambda2_tol", 0),
     ("eig_tol_first", 0.0), ("flow_method", "euler"), ("flow_courant", 0.0),
     ("lambda2_threshold", 0.0), ("lambda2_threshold", -math.inf), ("divergence_factor", -1.0)],
)  # fmt: skip
def test_invalid_values_name_the_field(name, value):
    with pytest.raises(ValueError, match=name):
        TrackSettings.create(**{name: value})


def test_validation_normalises_and_accepts_edge_values():
    s = TrackSettings.create(
        beta_max=0, eig_restarts=0, lambda2_threshold=math.inf, divergence_factor=math.inf,
        eig_tol=1, quadratic_multiples=[0.5, 1, 2], generalized=1,
    )  # fmt: skip
    assert s.recording.beta_max == 0 and s.eigen.eig_restarts == 0
    assert s.run.lambda2_threshold == math.inf and s.run.divergence_factor == math.inf
    assert isinstance(s.eigen.eig_tol, float) and s.outputs.generalized is True
    assert s.outputs.quadratic_multiples == (0.5, 1.0, 2.0)
    with pytest.raises(ValueError, match="quadratic_multiples must contain 1"):
        TrackSettings.create(quadratic_multiples=(0.5, 2.0))
    # without the diagnostics the grid is unused, so it need not contain 1
    TrackSettings.create(quadratic_multiples=(0.5, 2.0), diagnostics=False)


def test_compiled_key_changes_exactly_with_the_compiled_settings():
    base = TrackSettings()
    key = base.compiled_key()
    hash(key)
    for change in (dict(substeps=1), dict(eig_tol=1e-8), dict(point_tol=1e-4),
                   dict(generalized=True), dict(diagnostics=False), dict(flow_method="rk4"),
                   dict(flow_courant=1.0), dict(extrapolate=False), dict(lambda2_iters=20),
                   dict(quadratic_multiples=(1.0, 2.0)), dict(eig_tol_first=1e-4)):  # fmt: skip
        assert base.replace(**change).compiled_key() != key, change
    for change in (dict(checkpoint_every=5), dict(diag_every=3), dict(lambda2_every=1),
                   dict(accuracy_every=2), dict(beta_every=7), dict(beta_max=0),
                   dict(lambda2_threshold=1.5), dict(divergence_factor=10.0), dict(timing=True),
                   dict(record_vectors=True), dict(flow_courant=2.5)):  # fmt: skip
        assert base.replace(**change).compiled_key() == key, change


def test_the_compiled_functions_are_cached_by_the_compiled_key():
    obj = Objective.from_function(lambda p: jnp.sum(p**2) + jnp.sum(p**3), num_params=3)
    s = TrackSettings()
    fns = _kernels.functions(obj, 0.1, s)
    assert _kernels.functions(obj, 0.1, s.replace(checkpoint_every=5, diag_every=2)) is fns
    assert _kernels.functions(obj, 0.1, s.replace(substeps=1)) is not fns
    assert _kernels.functions(obj, 0.2, s) is not fns


def test_track_rejects_unknown_keywords_and_bad_settings():
    obj = Objective.from_function(lambda p: jnp.sum(p**2), num_params=3)
    th0 = jnp.array([0.01, 0.0, 0.0])
    with pytest.raises(ValueError, match="unknown track setting.*diag_evry"):
        dyn.track(obj, th0, lr=0.1, steps=3, progress=False, diag_evry=3)
    with pytest.raises(ValueError, match="settings must be a TrackSettings"):
        dyn.track(obj, th0, lr=0.1, steps=3, progress=False, settings={"diag_every": 3})
    with pytest.raises(ValueError, match="substeps"):
        dyn.track(obj, th0, lr=0.1, steps=3, progress=False, substeps=0)
