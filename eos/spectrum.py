"""Gradient descent that tracks the top of the Hessian spectrum (Sec. 7.3, Sec. 8.2, App. G.1).

:func:`run_gd` runs full-batch gradient descent (or SAM, :mod:`eos.sam`)

    theta_{t+1} = theta_t - eta_t d_t,   d_t = grad L(theta_t)  (GD)

with a learning-rate schedule ``eta_t`` (:mod:`eos.schedules`) and, every ``eig_every``
steps, the top ``k`` eigenpairs ``(lambda_i(theta_t), u_i(theta_t))`` of ``grad^2 L(theta_t)``
by warm-started block Lanczos (:func:`eos.curvature.top_eigenpairs_matvec`: the previous
step's eigenvectors start the next solve). It records, for every step ``t``,

* ``loss`` ``L(theta_t)``, ``lr`` ``eta_t``, ``grad_norm`` ``||grad L(theta_t)||``;
* ``eigvals`` ``(lambda_1 >= ... >= lambda_k)`` at the steps where they were computed
  (``eig_step``); ``lambda_1 = S(theta_t)`` is the sharpness (Definition 1);
* ``x`` ``(u_i . grad L(theta_t)) / lambda_i``: the displacement along each eigenvector
  from the point where the gradient has no ``u_i`` component. Near the constrained trajectory
  (eq. (2)), where ``grad L(theta-dagger) . u = 0``, ``u . grad L(theta_t) ~ S x_t``, so the
  first column estimates the paper's ``x_t`` (Sec. 4) without computing ``theta-dagger``.
  Eigenvectors keep their sign from one solve to the next (``u_t . u_{t-1} >= 0``), so
  ``x`` alternates in sign while ``eta lambda_1 > 2`` and the top eigenvector is simple.

The whole step -- gradient, eigen-solve, schedule, update, divergence check -- is jitted,
and ``chunk`` steps run in one ``lax.scan``; Python only runs between chunks (to evaluate
``metrics`` such as the test accuracy). Everything computes in the dtype of ``p0``.

Divergence. A step whose loss is not finite or exceeds ``max_loss`` (default
``1e3 * max(L(theta_0), 1)``) ends the run: it is recorded (``meta["diverged"]``,
``meta["diverged_at"]``, the last recorded loss is the blow-up), parameters stop changing,
and :func:`run_gd` returns normally -- or raises :class:`DivergenceError` with
``raise_on_divergence=True``. Warmup experiments (Sec. 7.3) rely on this.

:func:`crossing_steps` gives the first step at which each ``lambda_i`` reaches ``2/eta``
(Fig. 5's vertical lines); :func:`cached` stores runs on disk (:mod:`eos.results`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from eos import curvature as _curvature
from eos import results as _results
from eos import schedules as _schedules
from eos.sam import sam_direction, validate_rho
from eos.schedules import Constant, InverseSharpness, LinearWarmup, Schedule, constant

__all__ = [
    "DivergenceError",
    "GDRun",
    "cached",
    "crossing_steps",
    "regime_windows",
    "run_gd",
]


class DivergenceError(FloatingPointError):
    """Gradient descent blew up (non-finite loss, or loss above ``max_loss``)."""

    def __init__(self, message: str, run: GDRun) -> None:
        super().__init__(message)
        self.run = run


@dataclasses.dataclass
class GDRun:
    """The record of one :func:`run_gd` call.

    ``arrays`` (numpy): ``step``, ``loss``, ``lr``, ``grad_norm`` (one entry per step ``t`` of
    ``theta_t``, ``t = 0 .. steps_done - 1``; on divergence the last entry is the blow-up step),
    ``eig_step`` and ``eigvals`` ``(m, k)``, ``x`` ``(m, k)``, ``eig_converged`` ``(m,)`` at the
    steps with an eigen-solve, and ``metric_step`` plus ``metric/<name>`` for ``metrics``.
    ``meta``: settings and ``steps_done``, ``diverged``, ``diverged_at``, ``seconds``.
    ``params``: the final parameters (numpy) or ``None``.
    """

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    params: np.ndarray | None = None

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise KeyError(f"{key!r} not recorded; available: {sorted(self.arrays)}")
        return self.arrays[key]

    @property
    def diverged(self) -> bool:
        return bool(self.meta["diverged"])

    @property
    def sharpness(self) -> np.ndarray:
        """``S(theta_t)`` at ``arrays["eig_step"]``."""
        return self.arrays["eigvals"][:, 0]

    def metric(self, name: str) -> np.ndarray:
        return self[f"metric/{name}"]

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = dict(self.arrays)
        if self.params is not None:
            out["params"] = self.params
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> GDRun:
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        params = arrays.pop("params", None)
        return cls(arrays, dict(meta), params)


# --------------------------------------------------------------------------------------------
# the objective's operations as pure functions of (p, data)
# --------------------------------------------------------------------------------------------
def _pure_ops(objective: Any) -> tuple[Callable, Callable, Callable, Any]:
    """``(value_and_grad(p, data), grad(p, data), hvp(p, v, data), data)``.

    The training data travel as an argument of the jitted loop rather than as constants baked
    into it (which costs compile time and memory for large data sets). An
    :class:`eos.objective.Objective` keeps its data in ``_data`` and its jitted kernels take
    them as their last argument; any other object with ``value_and_grad``/``grad``/``hvp``
    methods is used through those methods (its data then become constants).
    """
    if all(hasattr(objective, a) for a in ("_data", "_value_and_grad", "_grad", "_hvp")):
        return (objective._value_and_grad, objective._grad, objective._hvp, objective._data)
    for name in ("value_and_grad", "grad", "hvp"):
        if not callable(getattr(objective, name, None)):
            raise ValueError(
                f"objective must provide {name}(p, ...), got {type(objective).__name__}"
            )
    return (
        lambda p, _d: objective.value_and_grad(p),
        lambda p, _d: objective.grad(p),
        lambda p, v, _d: objective.hvp(p, v),
        None,
    )


# --------------------------------------------------------------------------------------------
# the jitted chunk of steps
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _chunk_fn(objective: Any, k: int, chunk: int, tol: float, max_iters: int) -> Callable:
    """The jitted ``lax.scan`` over ``chunk`` steps. Only the objective, ``k``, the chunk length
    and the solver settings are static: learning rates and schedules (packed), the SAM radius,
    ``eig_every``, the step budget and the divergence threshold are traced, so one compilation
    serves every run on the same objective."""
    value_and_grad, grad, hvp, _ = _pure_ops(objective)

    def solve(p, U, data):
        matvec = lambda v: hvp(p, v, data)  # noqa: E731
        vals, vecs, info = _curvature.top_eigenpairs_matvec(matvec, U, tol=tol, max_iters=max_iters)
        return vals, vecs, info.converged

    def step(carry, _, *, packed, rho, eig_every, refresh, data, steps, max_loss):
        p, U, lam, t, diverged = carry
        active = (t < steps) & ~diverged

        def live():
            loss, g = value_and_grad(p, data)
            bad = ~jnp.isfinite(loss) | (loss > max_loss) | ~jnp.all(jnp.isfinite(g))
            due = (t % eig_every == 0) | (refresh & _schedules.packed_needs_sharpness(packed))
            need = ~bad & due
            lam_t, U_t, conv = lax.cond(
                need,
                lambda: solve(p, U, data),
                lambda: (lam, U, jnp.asarray(False)),
            )
            eta = _schedules.packed_lr(packed, t, lam_t[0]).astype(p.dtype)
            d = lax.cond(
                rho > 0,
                lambda: sam_direction(lambda q: grad(q, data), p, g, rho),
                lambda: g,
            )
            p_next = p - eta * d
            bad = bad | ~jnp.all(jnp.isfinite(p_next))
            out = {
                "loss": loss,
                "lr": eta,
                "grad_norm": jnp.linalg.norm(g),
                "eigvals": lam_t,
                "x": (U_t.T @ g) / lam_t,
                "eig_converged": conv,
                "computed": need,
                "bad": bad,
            }
            return (jnp.where(bad, p, p_next), U_t, lam_t), out

        def idle():  # after the step budget or a divergence: no work, placeholders
            shapes = jax.eval_shape(live)[1]
            out = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
            return (p, U, lam), out

        (p_new, U_new, lam_new), out = lax.cond(active, live, idle)
        bad = active & out.pop("bad")
        move = active & ~bad
        out.update(active=active, diverged_now=bad, computed=active & out["computed"])
        carry = (p_new, U_new, lam_new, t + move.astype(t.dtype), diverged | bad)
        return carry, out

    @jax.jit
    def run_chunk(carry, packed, rho, eig_every, refresh, data, steps, max_loss):
        body = functools.partial(
            step, packed=packed, rho=rho, eig_every=eig_every, refresh=refresh, data=data,
            steps=steps, max_loss=max_loss,
        )  # fmt: skip
        return lax.scan(body, carry, None, length=chunk)

    return run_chunk


def _check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def run_gd(
    objective: Any,
    p0: jax.Array,
    *,
    lr: float | Schedule,
    steps: int,
    k: int = 1,
    eig_every: int = 1,
    chunk: int | None = None,
    tol: float = 1e-5,
    max_iters: int = 40,
    sam_rho: float | None = None,
    refresh_sharpness: bool = True,
    metrics: Mapping[str, Callable[[jax.Array], Any]] | None = None,
    metrics_every: int | None = None,
    max_loss: float | None = None,
    raise_on_divergence: bool = False,
    U0: jax.Array | None = None,
    seed: int = 0,
    progress: Callable[[int, GDRun], None] | None = None,
) -> GDRun:
    """Gradient descent (``sam_rho=None``) or SAM from ``p0`` for ``steps`` steps, tracking the
    top ``k`` Hessian eigenpairs every ``eig_every`` steps (see the module docstring).

    Args:
        objective: an :class:`eos.objective.Objective` (or anything with ``value_and_grad``,
            ``grad`` and ``hvp(p, v)``).
        p0: flat initial parameters; the run computes in ``p0.dtype``.
        lr: a learning rate ``> 0`` or a schedule (:mod:`eos.schedules`). A schedule that
            needs the sharpness (``eta_t = 1/S(theta_t)``) gets a fresh eigen-solve every step
            (``refresh_sharpness=True``) or uses the latest one (every ``eig_every`` steps).
        steps: number of updates (records ``theta_0 .. theta_{steps-1}``).
        k: number of top eigenpairs tracked (``k >= 1``).
        eig_every: eigen-solve period in steps.
        chunk: steps per jitted ``lax.scan`` (default ``metrics_every`` or ``min(steps, 200)``).
        tol, max_iters: relative residual and block-step limit of each eigen-solve.
        sam_rho: SAM radius ``rho > 0`` (:mod:`eos.sam`); ``None`` for gradient descent.
        metrics: ``name -> f(p)`` evaluated (in Python) at ``t = 0`` and after every chunk,
            e.g. ``{"test_accuracy": lambda p: objective.evaluate(p, test)["accuracy"]}``.
        metrics_every: steps between metric evaluations (sets ``chunk``).
        max_loss: divergence threshold on the loss (default ``1e3 * max(L(theta_0), 1)``).
        raise_on_divergence: raise :class:`DivergenceError` (carrying the run) on blow-up.
        U0: ``(d, k)`` warm start for the first eigen-solve (default: random, ``seed``).
        progress: optional callback ``progress(steps_done, partial_run)`` after each chunk.
    """
    schedule = _as_schedule(lr)
    steps = _check_positive_int(steps, "steps")
    k = _check_positive_int(k, "k")
    eig_every = _check_positive_int(eig_every, "eig_every")
    if metrics_every is not None:
        metrics_every = _check_positive_int(metrics_every, "metrics_every")
    if chunk is None:
        chunk = metrics_every if metrics_every is not None else min(steps, 200)
    chunk = _check_positive_int(chunk, "chunk")
    if metrics_every is not None and metrics_every != chunk:
        raise ValueError(f"metrics_every ({metrics_every}) and chunk ({chunk}) must agree")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    max_iters = _check_positive_int(max_iters, "max_iters")
    rho = 0.0 if sam_rho is None else validate_rho(sam_rho)
    metrics = dict(metrics or {})
    for name, fn in metrics.items():
        if not callable(fn):
            raise ValueError(f"metrics[{name!r}] must be a callable p -> number")

    p = jnp.asarray(p0)
    if p.ndim != 1 or not jnp.issubdtype(p.dtype, jnp.floating):
        raise ValueError(f"p0 must be a flat floating-point vector, got {p.dtype} {p.shape}")
    d = p.shape[0]
    if k > d:
        raise ValueError(f"k={k} exceeds the number of parameters {d}")
    dtype = p.dtype
    value_and_grad, _, _, data = _pure_ops(objective)
    loss0 = float(value_and_grad(p, data)[0])
    if not np.isfinite(loss0):
        raise ValueError(f"the loss at p0 is not finite ({loss0})")
    if max_loss is None:
        max_loss = 1e3 * max(loss0, 1.0)
    if U0 is None:
        U = jax.random.normal(jax.random.PRNGKey(seed), (d, k), dtype)
    else:
        U = jnp.asarray(U0, dtype)
        if U.shape != (d, k):
            raise ValueError(f"U0 must have shape ({d}, {k}), got {U.shape}")

    run_chunk = _chunk_fn(objective, k, chunk, float(tol), max_iters)
    lam = jnp.full((k,), jnp.nan, dtype)
    carry = (p, U, lam, jnp.asarray(0, jnp.int32), jnp.asarray(False))
    args = (schedule.pack(), jnp.asarray(rho, dtype), jnp.asarray(eig_every, jnp.int32),
            jnp.asarray(bool(refresh_sharpness)), data, jnp.asarray(steps, jnp.int32),
            jnp.asarray(max_loss, dtype))  # fmt: skip

    pieces: list[dict[str, np.ndarray]] = []
    metric_steps: list[int] = []
    metric_values: dict[str, list[float]] = {name: [] for name in metrics}

    def record_metrics(t: int, params: jax.Array) -> None:
        metric_steps.append(t)
        for name, fn in metrics.items():
            metric_values[name].append(float(fn(params)))

    meta = {
        "lr": float(schedule.peak) if isinstance(schedule, Constant) else None,
        "schedule": type(schedule).__name__,
        "schedule_params": {f.name: float(getattr(schedule, f.name))
                            for f in dataclasses.fields(schedule)},  # fmt: skip
        "steps": steps, "k": k, "eig_every": eig_every, "tol": float(tol),
        "max_iters": max_iters, "sam_rho": sam_rho, "max_loss": float(max_loss),
        "refresh_sharpness": bool(refresh_sharpness),
        "dtype": str(dtype), "num_params": int(d), "loss0": loss0,
    }  # fmt: skip
    if metrics:
        record_metrics(0, p)
    start = time.perf_counter()
    done = 0
    diverged = False
    while done < steps and not diverged:
        carry, out = run_chunk(carry, *args)
        out = jax.device_get(out)
        pieces.append(out)
        done = int(carry[3])
        diverged = bool(carry[4])
        if metrics and not diverged:
            record_metrics(done, carry[0])
        if progress is not None:
            progress(
                done,
                _assemble(pieces, metric_steps, metric_values, meta, None, done, diverged, start),
            )
    run = _assemble(
        pieces, metric_steps, metric_values, meta, np.asarray(carry[0]), done, diverged, start
    )
    if diverged and raise_on_divergence:
        raise DivergenceError(
            f"gradient descent diverged at step {run.meta['diverged_at']} "
            f"(loss {run.arrays['loss'][-1]:.3g} > max_loss {max_loss:.3g} or not finite)",
            run,
        )
    return run


def _as_schedule(lr: Any) -> Schedule:
    # re-validate through the factories (the dataclasses themselves accept anything)
    if isinstance(lr, Constant):
        return constant(lr.lr)
    if isinstance(lr, InverseSharpness):
        cap = None if not np.isfinite(float(lr.max_lr)) else float(lr.max_lr)
        return _schedules.inverse_sharpness(lr.scale, max_lr=cap)
    if isinstance(lr, LinearWarmup):
        steps = float(lr.warmup_steps)
        steps = int(steps) if steps.is_integer() else steps
        return _schedules.linear_warmup(lr.peak_lr, steps, init_lr=lr.init_lr)
    if callable(lr):
        raise ValueError(
            "lr must be a number or an eos.schedules schedule "
            "(constant, inverse_sharpness, linear_warmup)"
        )
    return constant(lr)


def _assemble(pieces, metric_steps, metric_values, meta, params, done, diverged, start) -> GDRun:
    cat = {key: np.concatenate([p[key] for p in pieces]) for key in pieces[0]} if pieces else {}
    # keep the steps that ran (active), including the step at which divergence was detected
    active = cat["active"]
    sel = {key: v[active] for key, v in cat.items()}
    n = int(active.sum())
    computed = sel["computed"]
    arrays = {
        "step": np.arange(n),
        "loss": sel["loss"],
        "lr": sel["lr"],
        "grad_norm": sel["grad_norm"],
        "eig_step": np.arange(n)[computed],
        "eigvals": sel["eigvals"][computed],
        "x": sel["x"][computed],
        "eig_converged": sel["eig_converged"][computed],
    }
    if metric_steps:
        arrays["metric_step"] = np.asarray(metric_steps)
        for name, vals in metric_values.items():
            arrays[f"metric/{name}"] = np.asarray(vals, dtype=np.float64)
    div_idx = np.flatnonzero(sel["diverged_now"])
    meta = dict(meta)
    meta.update(
        steps_done=int(done),
        diverged=bool(diverged),
        diverged_at=int(div_idx[0]) if div_idx.size else None,
        seconds=time.perf_counter() - start,
    )
    return GDRun(arrays, meta, params)


# --------------------------------------------------------------------------------------------
# analysis helpers
# --------------------------------------------------------------------------------------------
def crossing_steps(run: GDRun, threshold: float | None = None) -> list[int | None]:
    """For each tracked ``lambda_i`` the first recorded step with ``lambda_i >= threshold``
    (default ``2/eta`` of a constant-learning-rate run), ``None`` if it never gets there."""
    if threshold is None:
        if run.meta.get("lr") is None:
            raise ValueError("threshold is required for a run without a constant learning rate")
        threshold = 2.0 / run.meta["lr"]
    steps = run.arrays["eig_step"]
    out: list[int | None] = []
    for i in range(run.arrays["eigvals"].shape[1]):
        hit = np.flatnonzero(run.arrays["eigvals"][:, i] >= threshold)
        out.append(int(steps[hit[0]]) if hit.size else None)
    return out


def regime_windows(
    eigvals: np.ndarray,
    threshold: float,
    window: int,
    x: np.ndarray | None = None,
    blown: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Classify the sliding windows ``[i, i + window)`` of a run by its unstable eigenvalues.

    ``eigvals`` ``(T, k)`` are the tracked eigenvalues at consecutive steps. Returns boolean
    masks ``(one, several)`` of length ``T - window + 1``: windows in which exactly one
    eigenvalue is ``>= threshold`` (e.g. ``2/eta``) at every step, and windows in which at least
    two are at every step. With ``x`` (e.g. ``run["x"][:, 0]``) only windows in the
    edge-of-stability regime count: those where ``max |x|`` reaches ``blown`` times its largest
    value over the run, which leaves out the exponential growth from rounding level that
    follows the first crossing (Sec. 4.1, stage 2).
    """
    ev = np.asarray(eigvals, dtype=np.float64)
    if ev.ndim != 2:
        raise ValueError(f"eigvals must have shape (T, k), got {ev.shape}")
    window = _check_positive_int(window, "window")
    if ev.shape[0] < window:
        raise ValueError(f"the run ({ev.shape[0]} records) is shorter than window={window}")
    count = np.lib.stride_tricks.sliding_window_view((ev >= threshold).sum(axis=1), window)
    one = (count.min(axis=1) == 1) & (count.max(axis=1) == 1)
    several = count.min(axis=1) >= 2
    if x is not None:
        ax = np.abs(np.asarray(x, dtype=np.float64))
        if ax.shape != (ev.shape[0],):
            raise ValueError(f"x must have shape ({ev.shape[0]},), got {ax.shape}")
        amp = np.lib.stride_tricks.sliding_window_view(ax, window).max(axis=1)
        live = amp >= blown * ax.max()
        one, several = one & live, several & live
    return one, several


# --------------------------------------------------------------------------------------------
# on-disk cache
# --------------------------------------------------------------------------------------------
def cached(name: str, config: Mapping[str, Any], compute: Callable[[], GDRun]) -> GDRun:
    """``compute()`` once per ``(name, config, eos source)``; later calls read the stored run.

    Stored atomically under ``<results root>/implications/<name>-<key>/result.npz`` (see
    :mod:`eos.results`; the key hashes ``config`` and the source fingerprint, so editing any
    computational module recomputes). ``config`` must be JSON-serialisable and describe
    everything that determines the run (model, data, sizes, learning rates, steps, seeds).
    """
    if not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise ValueError(f"name {name!r} must be a plain folder stem without spaces")
    key = _results.cache_key({"name": name, **dict(config)})
    path = _results.results_root() / "implications" / f"{name}-{key}" / _results.RESULT_FILE
    try:
        arrays, manifest = _results.load_npz(path)
        return GDRun.from_arrays(arrays, json.loads(manifest["run_meta"]))
    except (FileNotFoundError, _results.CorruptResultError, KeyError):
        pass
    run = compute()
    manifest = {
        "kind": "implications",
        "name": name,
        "config": dict(config),
        "run_meta": json.dumps(_results.to_jsonable(run.meta)),
        "date": _results.utc_now(),
    }
    _results.save_npz(path, run.to_arrays(), manifest)
    return run
