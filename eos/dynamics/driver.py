"""One driver for the gradient-descent family (Sec. 3, Sec. 7.3, Sec. 8.2, App. G.1).

:func:`run_gd` runs full-batch gradient descent, with a constant learning rate or a schedule
(:mod:`eos.dynamics.schedules`), or SAM (:mod:`eos.dynamics.sam`):

    theta_{t+1} = theta_t - eta_t d_t,   d_t = grad L(theta_t)  (GD, :data:`GRADIENT`)

(:func:`eos.dynamics.gd_step`). The *direction* ``d_t`` and the *recorders* are arguments:

* :class:`Direction` -- ``d_t`` from ``(grad L, theta_t, grad L(theta_t))`` and one traced
  parameter (:data:`GRADIENT`; :func:`eos.dynamics.sam.sam` for SAM's radius ``rho``);
* :class:`Spectrum` -- every ``every`` steps, the top ``k`` eigenpairs
  ``(lambda_i(theta_t), u_i(theta_t))`` of ``grad^2 L(theta_t)`` by warm-started block Lanczos
  (:func:`eos.curvature.eigenpairs`: the previous solve's eigenvectors start the
  next); ``spectrum=None`` records none;
* ``metrics`` -- ``name -> f(theta)`` evaluated in Python at ``t = 0`` and after every chunk
  (e.g. the test accuracy).

It records, for every step ``t``: ``loss`` ``L(theta_t)``, ``lr`` ``eta_t``, ``grad_norm``
``||grad L(theta_t)||``; at the steps with an eigen-solve (``eig_step``): ``eigvals``
``(lambda_1 >= ... >= lambda_k)``, ``lambda_1 = S(theta_t)`` being the sharpness (Definition 1),
and ``x`` ``(u_i . grad L(theta_t)) / lambda_i``: the displacement along each eigenvector from
the point where the gradient has no ``u_i`` component. Near the constrained trajectory (eq.
(2)), where ``grad L(theta-dagger) . u = 0``, ``u . grad L(theta_t) ~ S x_t``, so the first
column estimates the paper's ``x_t`` (Sec. 4) without computing ``theta-dagger``. Eigenvectors
keep their sign from one solve to the next (``u_t . u_{t-1} >= 0``), so ``x`` alternates in
sign while ``eta lambda_1 > 2`` and the top eigenvector is simple.

The whole step -- gradient, eigen-solve, schedule, direction, update, divergence check -- is
jitted, and ``chunk`` steps run in one ``lax.scan``; Python runs only between chunks (metrics,
progress, checkpoints). Learning rates, schedules (packed), the direction's parameter, the
eigen-solve period, the step budget and the divergence threshold are traced, so one compilation
serves every run on the same objective, ``k``, chunk length, solver settings and direction.
Everything computes in the dtype of ``p0``.

Divergence. A step whose loss is not finite or exceeds ``max_loss`` (default
``1e3 * max(L(theta_0), 1)``) ends the run: it is recorded (``meta["diverged"]``,
``meta["diverged_at"]``; the last recorded loss is the blow-up), and :func:`run_gd` returns
normally -- or raises :class:`eos.dynamics.DivergenceError` carrying the run with
``raise_on_divergence=True``. Warmup experiments (Sec. 7.3) rely on this.

Checkpoints. With ``on_checkpoint`` the driver hands over its state (a dict of numpy arrays)
after the first chunk that ends at least ``checkpoint_every`` steps after the previous
checkpoint; ``resume_from=`` that state continues the run, bit for bit, at the same chunk
boundaries.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from eos import curvature as _curvature
from eos.dynamics import schedules as _schedules
from eos.dynamics.gd import DivergenceError, gd_step
from eos.objective import Objective, PureOps, check_objective
from eos.records import Record
from eos.validate import flat_vector, positive_int, positive_number

__all__ = ["GRADIENT", "Direction", "GDRun", "Spectrum", "run_gd"]


# --------------------------------------------------------------------------------------------
# arguments: the direction and the spectrum recorder
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Direction:
    """The update direction ``d_t = fn(grad, theta_t, g_t, param)``, ``g_t = grad L(theta_t)``.

    ``fn`` is static (part of the compiled program; a module-level function), ``param`` a
    number traced into it (SAM's radius), recorded in ``meta["direction"]`` as ``param_name``.
    """

    name: str
    fn: Callable[[Callable[[jax.Array], jax.Array], jax.Array, jax.Array, Any], jax.Array]
    param: float = 0.0
    param_name: str = ""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.param_name:
            out[self.param_name] = self.param
        return out


def _gradient(grad: Callable, p: jax.Array, g: jax.Array, param: Any) -> jax.Array:
    return g


#: Gradient descent: ``d_t = grad L(theta_t)``.
GRADIENT = Direction("gradient", _gradient)


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """Record the top ``k`` Hessian eigenpairs every ``every`` steps.

    ``tol``/``max_iters``: relative residual and block-step limit of each warm-started solve
    (:func:`eos.curvature.eigenpairs`). ``refresh``: a schedule that needs the
    sharpness (``eta_t = c/S(theta_t)``) gets a fresh solve every step (``True``) or uses the
    latest one (every ``every`` steps).
    """

    k: int = 1
    every: int = 1
    tol: float = 1e-5
    max_iters: int = 40
    refresh: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", positive_int(self.k, "k"))
        object.__setattr__(self, "every", positive_int(self.every, "eig_every"))
        object.__setattr__(self, "tol", positive_number(self.tol, "tol"))
        object.__setattr__(self, "max_iters", positive_int(self.max_iters, "max_iters"))
        object.__setattr__(self, "refresh", bool(self.refresh))


# --------------------------------------------------------------------------------------------
# the record
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class GDRun(Record):
    """The record of one :func:`run_gd` call.

    ``arrays`` (numpy): ``step``, ``loss``, ``lr``, ``grad_norm`` (one entry per step ``t`` of
    ``theta_t``, ``t = 0 .. steps_done - 1``; on divergence the last entry is the blow-up step),
    ``eig_step`` and ``eigvals`` ``(m, k)``, ``x`` ``(m, k)``, ``eig_converged`` ``(m,)`` at the
    steps with an eigen-solve, and ``metric_step`` plus ``metric/<name>`` for ``metrics``.
    ``meta``: settings and ``steps_done``, ``stop_reason``, ``diverged``, ``diverged_at``,
    ``seconds``. ``params``: the final parameters (numpy) or ``None``.
    """

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    params: np.ndarray | None = None

    def _missing(self, key: str) -> str:
        return f"{key!r} not recorded; available: {sorted(self.arrays)}"

    @property
    def diverged(self) -> bool:
        return bool(self.meta["diverged"])

    @property
    def sharpness(self) -> np.ndarray:
        """``S(theta_t)`` at ``arrays["eig_step"]``."""
        return self["eigvals"][:, 0]

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
def _pure_ops(objective: Any) -> PureOps:
    """``(value_and_grad(p, data), grad(p, data), hvp(p, v, data), data)``.

    The training data travel as an argument of the jitted loop rather than as constants baked
    into it (which costs compile time and memory for large data sets):
    :meth:`eos.objective.Objective.pure_ops`. Any other :class:`eos.objective.ObjectiveLike` is
    used through its methods (its data then become constants).
    """
    if isinstance(objective, Objective):
        return objective.pure_ops()
    objective = check_objective(objective)
    return PureOps(
        lambda p, _d: objective.value_and_grad(p),
        lambda p, _d: objective.grad(p),
        lambda p, v, _d: objective.hvp(p, v),
        None,
    )


# --------------------------------------------------------------------------------------------
# the jitted chunk of steps
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _chunk_fn(
    objective: Any, k: int, chunk: int, tol: float, max_iters: int, direction: Callable
) -> Callable:
    """The jitted ``lax.scan`` over ``chunk`` steps (``k = 0``: no eigen-solves). Only the
    objective, ``k``, the chunk length, the solver settings and the direction's function are
    static; everything else is traced (module docstring)."""
    value_and_grad, grad, hvp, _ = _pure_ops(objective)

    def solve(p, U, data):
        matvec = lambda v: hvp(p, v, data)  # noqa: E731
        vals, vecs, info = _curvature.eigenpairs(matvec, U, tol=tol, max_iters=max_iters)
        return vals, vecs, info.converged

    def step(carry, _, *, packed, param, eig_every, refresh, data, steps, max_loss):
        p, U, lam, t, diverged = carry
        active = (t < steps) & ~diverged

        def live():
            loss, g = value_and_grad(p, data)
            bad = ~jnp.isfinite(loss) | (loss > max_loss) | ~jnp.all(jnp.isfinite(g))
            due = (t % eig_every == 0) | (refresh & _schedules.packed_needs_sharpness(packed))
            if k > 0:
                need = ~bad & due
                lam_t, U_t, conv = lax.cond(
                    need, lambda: solve(p, U, data), lambda: (lam, U, jnp.asarray(False))
                )
                sharp = lam_t[0]
            else:  # no spectrum recorder: nothing to solve
                need, lam_t, U_t, conv = jnp.asarray(False), lam, U, jnp.asarray(False)
                sharp = jnp.asarray(jnp.nan, p.dtype)
            eta = _schedules.packed_lr(packed, t, sharp).astype(p.dtype)
            d = direction(lambda q: grad(q, data), p, g, param)
            p_next = gd_step(d, p, eta)
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
    def run_chunk(carry, packed, param, eig_every, refresh, data, steps, max_loss):
        body = functools.partial(
            step,
            packed=packed,
            param=param,
            eig_every=eig_every,
            refresh=refresh,
            data=data,
            steps=steps,
            max_loss=max_loss,
        )
        return lax.scan(body, carry, None, length=chunk)

    return run_chunk


# --------------------------------------------------------------------------------------------
# bookkeeping between chunks
# --------------------------------------------------------------------------------------------
_CARRY = ("p", "U", "lam", "step", "diverged")


class _Recording:
    """The raw chunk outputs and metric values so far; checkpoint state and final record."""

    def __init__(self, metrics: Mapping[str, Callable[[jax.Array], Any]]) -> None:
        self.metrics = metrics
        self.pieces: list[dict[str, np.ndarray]] = []
        self.metric_steps: list[int] = []
        self.metric_values: dict[str, list[float]] = {name: [] for name in metrics}

    def record_metrics(self, t: int, params: jax.Array) -> None:
        if not self.metrics:
            return
        self.metric_steps.append(t)
        for name, fn in self.metrics.items():
            self.metric_values[name].append(float(fn(params)))

    def raw(self) -> dict[str, np.ndarray]:
        if not self.pieces:
            return {}
        return {key: np.concatenate([p[key] for p in self.pieces]) for key in self.pieces[0]}

    def state(self, carry: tuple) -> dict[str, np.ndarray]:
        out = {name: np.asarray(v) for name, v in zip(_CARRY, carry)}
        out.update({f"out/{k}": v for k, v in self.raw().items()})
        out["metric_step"] = np.asarray(self.metric_steps, dtype=np.int64)
        for name, vals in self.metric_values.items():
            out[f"metric/{name}"] = np.asarray(vals, dtype=np.float64)
        return out

    def restore(self, state: Mapping[str, Any]) -> tuple:
        raw = {k[4:]: np.asarray(v) for k, v in state.items() if k.startswith("out/")}
        self.pieces = [raw] if raw else []
        if self.metrics:
            self.metric_steps = [int(s) for s in np.asarray(state["metric_step"])]
            for name in self.metrics:
                self.metric_values[name] = [float(v) for v in np.asarray(state[f"metric/{name}"])]
        return tuple(jnp.asarray(state[name]) for name in _CARRY)

    def assemble(self, meta: dict, params: np.ndarray | None, carry: tuple, start: float) -> GDRun:
        cat = self.raw()
        # keep the steps that ran (active), including the step at which divergence was detected
        sel = {key: v[cat["active"]] for key, v in cat.items()}
        n = int(cat["active"].sum())
        arrays = {
            "step": np.arange(n),
            "loss": sel["loss"],
            "lr": sel["lr"],
            "grad_norm": sel["grad_norm"],
        }
        if meta["k"]:
            computed = sel["computed"]
            arrays.update(
                eig_step=np.arange(n)[computed],
                eigvals=sel["eigvals"][computed],
                x=sel["x"][computed],
                eig_converged=sel["eig_converged"][computed],
            )
        if self.metric_steps:
            arrays["metric_step"] = np.asarray(self.metric_steps)
            for name, vals in self.metric_values.items():
                arrays[f"metric/{name}"] = np.asarray(vals, dtype=np.float64)
        div_idx = np.flatnonzero(sel["diverged_now"])
        diverged = bool(carry[4])
        meta = dict(meta)
        meta.update(
            steps_done=int(carry[3]),
            stop_reason="diverged" if diverged else "completed",
            diverged=diverged,
            diverged_at=int(div_idx[0]) if div_idx.size else None,
            seconds=time.perf_counter() - start,
        )
        return GDRun(arrays, meta, params)


# --------------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------------
def _start(objective: Any, p0: Any, max_loss: float | None) -> tuple[jax.Array, float, float]:
    """``(p0, L(p0), max_loss)``: the checked start point, its loss and the threshold."""
    p = flat_vector(p0, "p0", finite=False)
    value_and_grad, _, _, data = _pure_ops(objective)
    loss0 = float(value_and_grad(p, data)[0])
    if not np.isfinite(loss0):
        raise ValueError(f"the loss at p0 is not finite ({loss0})")
    if max_loss is None:
        max_loss = 1e3 * max(loss0, 1.0)
    elif max_loss != np.inf:
        max_loss = positive_number(max_loss, "max_loss", what="or inf")
    return p, loss0, float(max_loss)


def _first_block(U0: Any, d: int, k: int, dtype: Any, seed: int) -> jax.Array:
    if U0 is None:
        return jax.random.normal(jax.random.PRNGKey(seed), (d, k), dtype)
    U = jnp.asarray(U0, dtype)
    if U.shape != (d, k):
        raise ValueError(f"U0 must have shape ({d}, {k}), got {U.shape}")
    return U


def _first_carry(p: jax.Array, U: jax.Array) -> tuple:
    """``(p, U, lam, step, diverged)`` before the first step (:data:`_CARRY`)."""
    lam = jnp.full((U.shape[1],), jnp.nan, p.dtype)
    return (p, U, lam, jnp.asarray(0, jnp.int32), jnp.asarray(False))


def _meta(schedule, direction, spectrum, steps, max_loss, loss0, p) -> dict[str, Any]:
    spec = spectrum or Spectrum()
    return {
        "lr": float(schedule.peak) if isinstance(schedule, _schedules.Constant) else None,
        "schedule": type(schedule).__name__,
        "schedule_params": {
            f.name: float(getattr(schedule, f.name)) for f in dataclasses.fields(schedule)
        },
        "direction": direction.describe(),
        "steps": steps,
        "k": spectrum.k if spectrum else 0,
        "eig_every": spec.every,
        "tol": spec.tol,
        "max_iters": spec.max_iters,
        "refresh_sharpness": spec.refresh,
        "max_loss": max_loss,
        "dtype": str(p.dtype),
        "num_params": int(p.shape[0]),
        "loss0": loss0,
    }


def run_gd(
    objective: Any,
    p0: jax.Array,
    *,
    lr: float | _schedules.Schedule,
    steps: int,
    direction: Direction = GRADIENT,
    spectrum: Spectrum | None = Spectrum(),
    metrics: Mapping[str, Callable[[jax.Array], Any]] | None = None,
    chunk: int | None = None,
    max_loss: float | None = None,
    raise_on_divergence: bool = False,
    U0: jax.Array | None = None,
    seed: int = 0,
    progress: Callable[[int, GDRun], None] | None = None,
    resume_from: Mapping[str, Any] | None = None,
    on_checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
    checkpoint_every: int | None = None,
) -> GDRun:
    """``steps`` steps of gradient descent (or another :class:`Direction`) from ``p0``.

    Args:
        objective: an :class:`eos.objective.Objective` (or anything with ``value_and_grad``,
            ``grad`` and ``hvp(p, v)``).
        p0: flat initial parameters; the run computes in ``p0.dtype``.
        lr: a learning rate ``> 0`` or a schedule (:mod:`eos.dynamics.schedules`).
        steps: number of updates (records ``theta_0 .. theta_{steps-1}``).
        direction: :data:`GRADIENT` (default) or e.g. :func:`eos.dynamics.sam.sam`.
        spectrum: the eigenpairs to record (:class:`Spectrum`), or ``None``.
        metrics: ``name -> f(p)`` evaluated at ``t = 0`` and after every chunk.
        chunk: steps per jitted ``lax.scan`` (default ``min(steps, 200)``).
        max_loss: divergence threshold on the loss (default ``1e3 * max(L(theta_0), 1)``).
        raise_on_divergence: raise :class:`eos.dynamics.DivergenceError` (carrying the run).
        U0: ``(d, k)`` warm start for the first eigen-solve (default: random, ``seed``).
        progress: optional callback ``progress(steps_done, partial_run)`` after each chunk.
        resume_from, on_checkpoint, checkpoint_every: checkpoints (module docstring).
    """
    schedule = _schedules.as_schedule(lr)
    steps = positive_int(steps, "steps")
    chunk = min(steps, 200) if chunk is None else positive_int(chunk, "chunk")
    every = None if checkpoint_every is None else positive_int(checkpoint_every, "checkpoint_every")
    if spectrum is None and schedule.needs_sharpness:
        raise ValueError(f"the schedule {type(schedule).__name__} needs spectrum=Spectrum(...)")
    rec = _Recording(_checked_metrics(metrics))
    p, loss0, max_loss = _start(objective, p0, max_loss)
    k = spectrum.k if spectrum is not None else 0
    if k > p.shape[0]:
        raise ValueError(f"k={k} exceeds the number of parameters {p.shape[0]}")
    spec = spectrum or Spectrum()
    run_chunk = _chunk_fn(objective, k, chunk, spec.tol, spec.max_iters, direction.fn)
    args = (schedule.pack(), jnp.asarray(direction.param, p.dtype),
            jnp.asarray(spec.every, jnp.int32), jnp.asarray(spec.refresh),
            _pure_ops(objective)[3], jnp.asarray(steps, jnp.int32),
            jnp.asarray(max_loss, p.dtype))  # fmt: skip
    meta = _meta(schedule, direction, spectrum, steps, max_loss, loss0, p)
    if resume_from is None:
        carry = _first_carry(p, _first_block(U0, p.shape[0], k, p.dtype, seed))
        rec.record_metrics(0, p)
    else:
        carry = rec.restore(resume_from)
    start = time.perf_counter()

    def report(c: tuple) -> None:
        if progress is not None:
            progress(int(c[3]), rec.assemble(meta, None, c, start))

    carry = _loop(lambda c: run_chunk(c, *args), carry, rec, steps, every, on_checkpoint, report)
    run = rec.assemble(meta, np.asarray(carry[0]), carry, start)
    if run.diverged and raise_on_divergence:
        raise DivergenceError(
            f"gradient descent diverged at step {run.meta['diverged_at']} "
            f"(loss {run.arrays['loss'][-1]:.3g} > max_loss {max_loss:.3g} or not finite)",
            step=run.meta["diverged_at"],
            run=run,
        )
    return run


def _checked_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Callable]:
    metrics = dict(metrics or {})
    for name, fn in metrics.items():
        if not callable(fn):
            raise ValueError(f"metrics[{name!r}] must be a callable p -> number")
    return metrics


def _loop(chunk_fn, carry, rec: _Recording, steps, every, on_checkpoint, report) -> tuple:
    """Run chunks until ``steps`` are done or the run diverged: record the outputs and the
    metrics, report progress, checkpoint (module docstring). Returns the final carry."""
    last_saved = int(carry[3])
    while int(carry[3]) < steps and not bool(carry[4]):
        carry, out = chunk_fn(carry)
        rec.pieces.append(jax.device_get(out))
        done, diverged = int(carry[3]), bool(carry[4])
        if not diverged:
            rec.record_metrics(done, carry[0])
        report(carry)
        due = every is not None and done - last_saved >= every
        if on_checkpoint is not None and due and done < steps and not diverged:
            on_checkpoint(rec.state(carry))
            last_saved = done
    return carry
