"""Running a configuration: a straight pipeline of cached, resumable phases.

:func:`run_config` is :func:`cached_phase` on the result file ``<root>/<key>/result.npz``; its
computation runs the phases of the configuration's kind (:mod:`eos.experiments.phases`) on its
:class:`~eos.experiments.workspace.Workspace`:

``"track"`` / ``"gd"``
    phase 1, float32 GD to instability -- itself a :func:`cached_phase`, stored under
    ``<root>/instability/<phase-1 key>/instability.npz`` and shared by the experiments that
    agree on :data:`PHASE1_FIELDS` (e.g. ``fig1-mlp`` and ``mlp-mse-cifar10-lr0.02``) -- then
    tracking (float64) or plain GD (float32) from the first unstable iterate.
``"spectrum"``
    the ``start`` run (a :func:`run_config` of its own, cached under its key), or the
    initialisation; the probe ``S(theta_start)`` when the learning rate is relative to it; then
    gradient descent (or SAM) with the configuration's schedule.

The row-space reduction (:mod:`eos.reduction`) is applied at the boundary only: points enter a
phase through :meth:`Workspace.reduce` and leave through :meth:`Workspace.lift`, so every saved
vector is in the full coordinates. Each phase checkpoints into its folder
(``checkpoint-instability.npz``, ``checkpoint-after.npz``, tagged with the coordinates) and
resumes from there after an interruption; a complete phase removes its checkpoint.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from eos import profiles as _profiles
from eos import results as _results
from eos.experiments import phases as _phases
from eos.experiments.config import ExperimentConfig, key_view
from eos.experiments.record import Result
from eos.experiments.registry import get_config, registered_under
from eos.experiments.workspace import Workspace, workspace

__all__ = ["PHASE1_FIELDS", "cached_phase", "load", "result_path", "run", "run_config"]

#: Fields that determine the first phase (GD to instability). Experiments that agree on them
#: (e.g. ``fig1-mlp`` and ``mlp-mse-cifar10-lr0.02``) share one cached phase-1 result, stored
#: under ``<root>/instability/<key>/``.
PHASE1_FIELDS = ("model", "model_kwargs", "dataset", "n", "data_kwargs", "criterion", "lr",
                 "seed", "max_steps", "chunk_size", "row_space", "pool")  # fmt: skip
_PHASE1_FILE = "instability.npz"
_SOURCE = {"cifar10_binary": "cifar10"}  # data set -> its archive in eos.data.store.SOURCES

Compute = Callable[[_results.Checkpointer, Any], tuple[dict[str, np.ndarray], dict[str, Any]]]


def cached_phase(
    path: Path,
    phase: str,
    compute: Compute,
    *,
    tag: Callable[[], str | None] = lambda: None,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
    """The arrays and manifest stored at ``path``, computing them first if needed.

    A missing file is computed by ``compute(ckpt, state)`` -> ``(arrays, manifest)``, with
    ``ckpt`` the phase's :class:`eos.results.Checkpointer` (tagged ``tag()``) in the file's
    folder and ``state`` its last checkpoint (``None`` to start afresh); the file is then written
    atomically and the checkpoint removed. The computation holds the folder's lock
    (:func:`eos.results.folder_lock`): an identical run started meanwhile waits and then reads
    the file; temporary files of killed writers are removed first, and a failed computation
    that leaves nothing to resume from leaves no folder behind. A damaged file, or one that ``check(manifest)``
    rejects with :class:`eos.results.CorruptResultError`, is recomputed with a warning.
    Returns ``(arrays, manifest, info)``, ``info`` saying whether the file was ``reused``, the
    step it ``resumed_from`` and the checkpoints it ``discarded``.
    """
    found = _cached(path, check, warn=True)
    if found is not None:
        return found
    waiting = f"(the same {phase} phase: waiting, then reusing its result)"
    with _results.folder_lock(path.parent, waiting=waiting):
        found = _cached(path, check, warn=False)  # the run we waited for may have finished it
        if found is not None:
            return found
        _results.remove_stale_temporaries(path.parent)
        ckpt = _results.Checkpointer(path.parent, phase, tag=tag())
        state = ckpt.load()
        resumed = None if state is None else _step_of(state)
        arrays, manifest = compute(ckpt, state)
        _results.save_npz(path, arrays, manifest)
        ckpt.clear()
    return arrays, manifest, {"reused": False, "resumed_from": resumed, "discarded": ckpt.discarded}


def _cached(path: Path, check, *, warn: bool):
    """``(arrays, manifest, info)`` of a valid file at ``path``, else ``None`` (a damaged or
    rejected file is reported when ``warn``)."""
    try:
        arrays, manifest = _results.load_npz(path)
        if check is not None:
            check(manifest)
        return arrays, manifest, {"reused": True, "resumed_from": None, "discarded": []}
    except FileNotFoundError:
        return None
    except _results.CorruptResultError as exc:
        if warn:
            warnings.warn(f"recomputing {path}: {exc}", stacklevel=4)
        return None


def _step_of(state: Any) -> int:
    """The step a checkpoint was taken at (0 when it does not say)."""
    return int(np.asarray(state["step"]).reshape(-1)[0]) if "step" in state else 0


# ============================================================================================
# the pipeline
# ============================================================================================
def _folder(config: ExperimentConfig) -> Path:
    return _results.results_root() / config.key()


def _phase1(config: ExperimentConfig, ws: Workspace, progress: bool):
    """Phase 1 (cached on its own) -> (arrays in full coordinates, meta, info)."""
    d = config.to_dict()
    key = _results.cache_key(
        {"phase": "to_instability", **{k: d[k] for k in PHASE1_FIELDS}},
        data=config.data_fingerprint(),
    )
    folder = _results.results_root() / "instability" / key

    def compute(ckpt, state):
        t0 = time.perf_counter()
        arrays, meta = _phases.instability(config, ws, ckpt, state, progress)
        arrays["theta_star"] = ws.lift(arrays["theta_star"])
        arrays["u_star"] = ws.lift_direction(arrays["u_star"])
        return arrays, {
            "kind": "instability",
            "meta": meta,
            "wall_time_s": time.perf_counter() - t0,
            "finished": _results.utc_now(),
            "source_fingerprint": _results.source_fingerprint(),
        }

    arrays, manifest, info = cached_phase(
        folder / _PHASE1_FILE, "instability", compute, tag=lambda: ws.tag
    )
    info.update(folder=str(folder), wall_time_s=float(manifest["wall_time_s"]))
    return arrays, dict(manifest["meta"]), info


def _after_instability(config, ws, ckpt, state, progress):
    """Kinds ``"track"``/``"gd"``: phase 1, then the phase after instability."""
    p1_arrays, meta, p1 = _phase1(config, ws, progress)
    if config.kind in ("track", "central") and not meta.get("reached_instability", True):
        # the constrained trajectory lives on {S = 2/eta}: tracking from a stable iterate would
        # project far away and report dynamics that never happened
        raise ValueError(
            f"{config.name}: gradient descent did not reach instability within max_steps="
            f"{config.max_steps} (sharpness {meta['sharpness_at_instability']:.4g} < 2/lr = "
            f"{config.threshold:.4g}), so there is nothing to track. Raise max_steps "
            "(override max_steps=...), use a larger learning rate, or more examples (small "
            "training sets can be fitted before the sharpness reaches 2/lr)."
        )
    theta_star, u_star = p1_arrays["theta_star"], p1_arrays["u_star"]
    # reduce in float64: the reduced run starts exactly at theta_star
    start = np.asarray(ws.reduce(np.asarray(theta_star, np.float64)))
    start_u = np.asarray(ws.reduce(np.asarray(u_star, np.float64)))
    phase = {"track": _phases.track, "gd": _phases.gd, "central": _phases.central}[config.kind]
    t0 = time.perf_counter()
    traj, traj_meta = phase(config, ws, start, start_u, ckpt, state, progress)
    arrays = {"theta_star": theta_star, "u_star": u_star}
    arrays.update({k: v for k, v in p1_arrays.items() if k.startswith("history/")})
    arrays.update({f"trajectory/{k}": v for k, v in traj.items()})
    meta.update(
        lr=config.lr,
        steps_done=int(traj_meta.get("steps_done", 0)),
        stop_reason=str(traj_meta.get("stop_reason", "")),
        trajectory=traj_meta,
    )
    timing = {"to_instability": p1["wall_time_s"], config.kind: time.perf_counter() - t0}
    cache = {"folder": p1["folder"], "reused": p1["reused"]}
    return arrays, meta, timing, {"instability_cache": cache, "phase1": p1}


def _learning_rate(config: ExperimentConfig, ws: Workspace, p, start: Result | None):
    """``(lr or schedule, meta)`` of a ``"spectrum"`` run starting at ``p``."""
    from eos.dynamics import schedules

    meta: dict[str, Any] = {}
    eta = config.lr
    if config.relative_lr:
        meta["sharpness_at_start"] = s = _phases.sharpness_at(config, ws, p)
        eta = config.lr / s
    if config.schedule == "inverse_sharpness":
        return schedules.inverse_sharpness(config.lr), dict(meta, lr=None)
    if config.schedule == "linear_warmup":
        init = 0.0 if start is None else float(start.lr)
        meta["init_lr"] = init
        return schedules.linear_warmup(eta, config.warmup_steps, init_lr=init), dict(meta, lr=eta)
    return eta, dict(meta, lr=eta)


def _spectrum_run(config, ws, ckpt, state, progress):
    """Kind ``"spectrum"``: the start point, the learning rate, then the run."""
    start = None if config.start is None else run_config(config.start, progress=progress)
    p_full = ws.p0 if start is None else start.params
    p = ws.reduce(np.asarray(p_full))
    t0 = time.perf_counter()
    lr, meta = _learning_rate(config, ws, p, start)
    traj, traj_meta, params = _phases.spectrum(config, ws, p, lr, ckpt, state, progress)
    arrays = {f"trajectory/{k}": v for k, v in traj.items()}
    arrays["params"] = ws.lift(params)
    meta.update(
        steps_done=traj_meta["steps_done"],
        stop_reason=traj_meta["stop_reason"],
        start=None if start is None else start.name,
        trajectory=traj_meta,
    )
    extra = {"start_cache": None if start is None else str(start.path)}
    return arrays, meta, {"spectrum": time.perf_counter() - t0}, extra


def _compute(config: ExperimentConfig, ckpt, state, progress: bool):
    """The result of ``config`` -> (arrays, manifest) (the pipeline of the module docstring)."""
    from eos import data as _data

    started = _results.utc_now()
    env = _results.environment_provenance()
    env["data_root"] = str(_data.data_root())
    env["data_fingerprint"] = config.data_fingerprint()
    ws = workspace(config)
    pipeline = _spectrum_run if config.kind == "spectrum" else _after_instability
    arrays, meta, timing, extra = pipeline(config, ws, ckpt, state, progress)
    p1 = extra.pop("phase1", {})
    resumed = {} if state is None else {"after": _step_of(state)}
    if p1.get("resumed_from") is not None:
        resumed["instability"] = p1["resumed_from"]
    provenance = {
        **env,
        "config": config.to_dict(),
        # EOS_PROFILE of the computing process, and the profiles whose registered configuration
        # of this name is exactly this one (empty: overrides made it a custom configuration)
        "profile": _profiles.current_profile(),
        "registered_under": registered_under(config),
        "cache_key": config.key(),
        "started": started,
        "finished": _results.utc_now(),
        "wall_time_s": timing,
        **extra,
        "resumed_from": resumed,
        "row_space": ws.describe(),
        "discarded_checkpoints": p1.get("discarded", []) + ckpt.discarded,
    }
    manifest = {
        "kind": "result",
        "config": config.to_dict(),
        "provenance": provenance,
        "meta": meta,
    }
    return arrays, _results.to_jsonable(manifest)


# ============================================================================================
# the public entry points
# ============================================================================================
def _check_config(config: ExperimentConfig, folder: Path) -> Callable[[dict[str, Any]], None]:
    def check(manifest: dict[str, Any]) -> None:
        if key_view(manifest.get("config", {})) != config.key_dict():
            raise _results.CorruptResultError(
                f"{folder} holds a result for another configuration (hash collision or edit)"
            )

    return check


def _result(config: ExperimentConfig, path: Path, arrays, manifest) -> Result:
    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    return Result(
        config=config,
        provenance=manifest.get("provenance", {}),
        history=part("history/"),
        trajectory=part("trajectory/"),
        meta=manifest.get("meta", {}),
        theta_star=arrays.get("theta_star"),
        u_star=arrays.get("u_star"),
        params=arrays.get("params"),
        path=path,
    )


def run_config(config: ExperimentConfig, *, progress: bool = True) -> Result:
    """:func:`run` for an already resolved configuration."""
    from eos import data as _data

    _data.store.ensure(_SOURCE.get(config.dataset, config.dataset), _data.data_root())
    folder = _folder(config)  # keyed by the data: fetch them first
    path = folder / _results.RESULT_FILE

    def compute(ckpt, state):
        return _compute(config, ckpt, state, progress)

    arrays, manifest, _ = cached_phase(
        path,
        "after",
        compute,
        tag=lambda: workspace(config).tag,  # the coordinates the phases compute in
        check=_check_config(config, folder),
    )
    return _result(config, path, arrays, manifest)


def run(
    name: str, *, profile: str | None = None, progress: bool = True, **overrides: Any
) -> Result:
    """Compute experiment ``name`` (or return the cached result).

    ``profile``: ``smoke`` | ``quick`` | ``paper`` (default ``EOS_PROFILE``); ``overrides``:
    configuration fields, e.g. ``lr=0.01, track_steps=50`` (see :func:`apply_overrides`);
    ``progress``: tqdm progress bars. An interrupted run resumes from its last checkpoint.
    """
    config = get_config(name, profile=profile, **overrides)
    return run_config(config, progress=progress)


def result_path(name: str, *, profile: str | None = None, **overrides: Any) -> Path:
    """Folder where the result of ``name`` (under ``profile`` and ``overrides``) is cached."""
    return _folder(get_config(name, profile=profile, **overrides))


def load(name: str, *, profile: str | None = None, **overrides: Any) -> Result:
    """Read the cached result of ``name``; never computes.

    Raises ``FileNotFoundError`` (naming the command that computes it) when absent, and
    :class:`eos.results.CorruptResultError` when the file is damaged.
    """
    config = get_config(name, profile=profile, **overrides)
    path = _folder(config) / _results.RESULT_FILE
    if not path.exists():
        prof = _profiles.current_profile() if profile is None else profile
        raise FileNotFoundError(
            f"experiment {name!r} (profile {prof!r}) has not been computed yet: no "
            f"{path}. Compute it with eos.experiments.run({name!r}, "
            f"profile={prof!r}) or `python -m eos run {name} --profile {prof}`"
            + (" plus the same overrides" if overrides else "")
        )
    arrays, manifest = _results.load_npz(path)
    _check_config(config, path.parent)(manifest)
    return _result(config, path, arrays, manifest)
