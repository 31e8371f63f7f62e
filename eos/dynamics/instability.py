"""Gradient descent up to the edge of stability (App. D.3, first phase).

Full-batch GD ``theta_{t+1} = theta_t - eta grad L(theta_t)`` (Sec. 3) in the dtype of ``p0``
(the paper: float32), until the first iterate whose sharpness ``S(theta_t)`` (Definition 1)
reaches ``2/eta``. Checking the sharpness every step would cost one eigen-solve per step, so
the checks are spaced by a schedule that shrinks as ``S`` approaches ``2/eta``:

* from the last two checks, the rate of increase ``r = Delta S / Delta t`` predicts
  ``n* = (2/eta - S) / r`` steps to the threshold; the next check comes after
  ``clip(floor(safety * n*), 1, max_spacing)`` steps (``safety = 1/2``), so the spacing halves
  as the threshold nears and is one step at the end;
* if a check finds ``S >= 2/eta`` more than one step after the previous check, GD restarts from
  the iterate saved at that check and checks every step, so the crossing is located to one
  step: the result is the first iterate ``theta_t`` with ``S(theta_t) >= 2/eta`` and
  ``S(theta_{t-1}) < 2/eta``.

Each check is a warm-started Lanczos eigen-solve (:func:`eos.curvature.eigenpairs`)
on Hessian-vector products that share one linearisation with the loss and gradient. The
history ``(step, loss, sharpness, accuracy)`` of every check is returned. Between checks GD runs
inside one compiled loop (one compilation for all spacings).

Resumable: ``on_checkpoint(state)`` receives a ``dict[str, np.ndarray]`` every
``checkpoint_every`` steps (at a check); ``to_instability(..., resume_from=state)`` continues from
it and returns, on the same machine, bit-for-bit the result of an uninterrupted run.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eos import curvature
from eos.dynamics import _ops
from eos.dynamics.gd import (
    DivergenceError,
    check_lr,
    check_point,
    check_steps,
    divergence_message,
    is_diverged,
)
from eos.objective import check_objective

__all__ = ["InstabilityResult", "to_instability"]

_KIND = "eos.dynamics.to_instability"


@dataclass
class InstabilityResult:
    """Outcome of :func:`to_instability`.

    Attributes:
        params: the first iterate with ``S >= 2/eta`` (``reached``), else the last iterate; in
            the dtype of ``p0``. Callers switch to float64 before tracking (App. D.3).
        step: its GD step index.
        reached: whether the threshold ``2/eta`` was reached within ``max_steps``.
        sharpness: ``S(params)``.
        eigvec: the top Hessian eigenvector at ``params`` (a warm start for what follows).
        lr: the learning rate.
        history: ``step``, ``loss``, ``sharpness``, ``accuracy`` at every check, by step.
        meta: counters (``checks``, ``backtracked``, ``matvecs``).
    """

    params: np.ndarray
    step: int
    reached: bool
    sharpness: float
    eigvec: np.ndarray
    lr: float
    history: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def p(self) -> np.ndarray:
        """Alias of :attr:`params`."""
        return self.params

    @property
    def threshold(self) -> float:
        """``2/eta``."""
        return 2.0 / self.lr


def _next_spacing(
    steps: list[int], sharp: list[float], threshold: float, safety: float, max_spacing: int
) -> int:
    """Steps to the next check: ``safety`` times the predicted steps to ``threshold``."""
    if len(steps) < 2 or steps[-1] == steps[-2]:
        return max(1, min(max_spacing, 10))
    rate = (sharp[-1] - sharp[-2]) / (steps[-1] - steps[-2])
    if not rate > 0:
        return max_spacing
    n_star = (threshold - sharp[-1]) / rate
    return int(min(max_spacing, max(1, math.floor(safety * n_star))))


_FNS: dict[tuple, tuple[Any, tuple[Callable, Callable]]] = {}


def _build_fns(objective: Any, buffer: int, eig_tol: float, eig_iters: int):
    """Compiled GD runner and sharpness check (cached per objective and static settings)."""
    key = (id(objective), buffer, eig_tol, eig_iters)
    hit = _FNS.get(key)
    if hit is not None and hit[0]() is objective:
        return hit[1]

    data_jit = _ops.jit(objective)  # the data set is an argument, not a constant

    @data_jit
    def run(obj, p: jax.Array, n: jax.Array, lr: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``n`` GD steps; the loss of each step's starting iterate in a buffer."""
        losses = jnp.full((buffer,), jnp.nan, p.dtype)
        lr = lr.astype(p.dtype)

        def body(i, carry):
            p, losses = carry
            loss, g = obj.value_and_grad(p)
            return p - lr * g, losses.at[i].set(loss)

        return jax.lax.fori_loop(0, n, body, (p, losses))

    @data_jit
    def check(obj, p: jax.Array, u0: jax.Array):
        """Loss, sharpness, eigenvector (warm start ``u0``) at ``p``."""
        vals, vecs, info = curvature.eigenpairs(
            lambda v: obj.hvp(p, v), u0[:, None], tol=eig_tol, max_iters=eig_iters
        )
        loss = obj.value(p)
        return loss, vals[0], vecs[:, 0], info.matvecs

    fns = (run, check)
    try:
        _FNS[key] = (weakref.ref(objective), fns)
    except TypeError:
        pass
    return fns


@dataclass
class _Search:
    """The state of the search for the crossing (everything a checkpoint holds).

    ``t, p, u``: step, iterate and the eigen-solver's warm start; ``hist``: every check's
    ``(step, loss, sharpness, accuracy)``; ``chk_steps, chk_sharp``: the checks below the
    threshold (the spacing schedule's data); ``last``: ``(t, p, u)`` of the last of them (the
    restart point when a check overshoots); ``every_step``: checking every step after a
    restart; ``loss0``: the first check's loss (the divergence test's reference); ``spacing``:
    GD steps until the next check; ``pending_check``: whether ``p`` is yet to be checked;
    ``last_ckpt``: the step of the last checkpoint.
    """

    t: int
    p: jax.Array
    u: jax.Array
    hist: dict[str, list] = field(
        default_factory=lambda: {"step": [], "loss": [], "sharpness": [], "accuracy": []}
    )
    chk_steps: list[int] = field(default_factory=list)
    chk_sharp: list[float] = field(default_factory=list)
    last: tuple[int, jax.Array, jax.Array] | None = None
    every_step: bool = False
    loss0: float | None = None
    matvecs: int = 0
    checks: int = 0
    backtracked: int = 0
    pending_check: bool = True
    spacing: int = 0
    last_ckpt: int = 0


@dataclass(frozen=True)
class _Schedule:
    """The run's fixed settings: ``lr``, ``threshold = 2/lr``, ``max_steps``, ``safety``,
    ``max_spacing`` (see :func:`_next_spacing`) and ``divergence_factor``."""

    lr: float
    threshold: float
    max_steps: int
    safety: float
    max_spacing: int
    divergence_factor: float


def _record_check(s: _Search, objective: Any, check: Callable, sch: _Schedule, bar: Any) -> float:
    """Evaluate loss, sharpness ``S`` and ``u`` at ``s.p`` (warm start ``s.u``), test for
    divergence, append the check to the history and return ``S``."""
    loss, S, s.u, mv = check(s.p, s.u)
    loss, S = float(loss), float(S)
    if s.loss0 is None:
        s.loss0 = loss
    if is_diverged(loss, s.loss0, sch.divergence_factor) or not math.isfinite(S):
        raise DivergenceError(
            divergence_message("gradient descent", s.t, loss, sch.lr, s.loss0), step=s.t
        )
    acc = float(objective.accuracy(s.p)) if hasattr(objective, "accuracy") else math.nan
    s.matvecs += int(mv)
    s.checks += 1
    for k, val in zip(("step", "loss", "sharpness", "accuracy"), (s.t, loss, S, acc)):
        s.hist[k].append(val)
    bar.set_postfix_str(f"S={S:.4g} / 2/lr={sch.threshold:.4g}")
    return S


def _schedule_next(s: _Search, S: float, sch: _Schedule, bar: Any) -> bool:
    """After a check with sharpness ``S``: ``True`` when the search ends; else set ``s.spacing``.

    ``S >= 2/lr`` one step after a check below it (or at the start) locates the crossing; more
    than one step after, GD goes back to that check and checks every step from there. Below the
    threshold the next check comes after :func:`_next_spacing` steps (one once restarted),
    never past ``max_steps``.
    """
    if S >= sch.threshold:
        if s.last is None or s.t - s.last[0] <= 1:
            return True  # located to one step (or already unstable at the start)
        # Overshot between checks: back to the last stable check, then every step.
        bar.update(s.last[0] - s.t)
        s.t, s.p, s.u = s.last
        s.every_step = True
        s.backtracked += 1
        s.spacing = 1
    elif s.t >= sch.max_steps:
        return True
    else:
        s.chk_steps.append(s.t)
        s.chk_sharp.append(S)
        s.last = (s.t, s.p, s.u)
        if s.every_step:
            spacing = 1
        else:
            spacing = _next_spacing(
                s.chk_steps, s.chk_sharp, sch.threshold, sch.safety, sch.max_spacing
            )
        s.spacing = min(spacing, sch.max_steps - s.t)
    return False


def _run_steps(s: _Search, run: Callable, sch: _Schedule, bar: Any) -> None:
    """``s.spacing`` GD steps from ``s.p`` in one compiled loop; a ``DivergenceError`` names the
    first step whose starting loss is not finite or exploded."""
    p_new, losses = run(s.p, jnp.asarray(s.spacing, jnp.int32), jnp.asarray(sch.lr))
    losses = np.asarray(losses[: s.spacing], dtype=np.float64)
    bad = [i for i, x in enumerate(losses) if is_diverged(float(x), s.loss0, sch.divergence_factor)]
    if bad:
        step = s.t + bad[0]
        raise DivergenceError(
            divergence_message("gradient descent", step, float(losses[bad[0]]), sch.lr, s.loss0),
            step=step,
        )
    s.p = p_new
    bar.update(s.spacing)
    s.t += s.spacing


def _search(
    s: _Search,
    objective: Any,
    fns: tuple[Callable, Callable],
    sch: _Schedule,
    config: np.ndarray,
    on_checkpoint: Callable[[dict[str, np.ndarray]], None] | None,
    checkpoint_every: int,
    bar: Any,
) -> None:
    """Alternate checks (:func:`_record_check`, :func:`_schedule_next`, a checkpoint every
    ``checkpoint_every`` steps) and GD runs (:func:`_run_steps`) until the search ends."""
    run, check = fns
    while True:
        if s.pending_check:
            S = _record_check(s, objective, check, sch, bar)
            if _schedule_next(s, S, sch, bar):
                break
            if on_checkpoint is not None and s.t - s.last_ckpt >= checkpoint_every:
                on_checkpoint(_state(s, config))
                s.last_ckpt = s.t
        s.pending_check = True
        _run_steps(s, run, sch, bar)


def to_instability(
    objective: Any,
    p0: Any,
    *,
    lr: float,
    max_steps: int,
    eig_tol: float = 1e-4,
    eig_max_iters: int = 100,
    safety: float = 0.5,
    max_spacing: int | None = None,
    divergence_factor: float = 1e3,
    seed: int = 0,
    resume_from: dict[str, np.ndarray] | None = None,
    on_checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
    checkpoint_every: int = 1000,
    progress: bool = True,
) -> InstabilityResult:
    """Run GD from ``p0`` to the first iterate with ``S(theta_t) >= 2/lr`` (App. D.3).

    Args:
        objective: an :class:`eos.objective.Objective`.
        p0: initial flat parameters; GD runs in their dtype (float32 in the paper).
        lr: learning rate ``eta > 0``.
        max_steps: cap on GD steps; ``reached=False`` if the threshold is not met by then.
        eig_tol: relative residual of each sharpness eigen-solve (``1e-4`` gives the
            eigenvalue to ~1e-8 relative, Rayleigh-quotient accuracy).
        eig_max_iters: Lanczos block steps per check.
        safety: fraction of the predicted steps-to-threshold between checks.
        max_spacing: largest spacing between checks (default ``ceil(1/lr)`` steps, i.e. unit
            time, as the paper's code).
        divergence_factor: the run has diverged when the loss is not finite or exceeds this
            multiple of the initial loss.
        seed: key of the random start vector of the first eigen-solve.
        resume_from / on_checkpoint / checkpoint_every: see the module docstring.
        progress: show a tqdm progress bar.

    Raises:
        ValueError: bad arguments (non-positive ``lr``/``max_steps``, non-finite ``p0``, a
            checkpoint from a different run).
        DivergenceError: (a ``ValueError``) the loss became non-finite or exploded; the message
            names the step and suggests a smaller learning rate.
    """
    objective = check_objective(objective)
    lr = check_lr(lr)
    max_steps = check_steps(max_steps, "max_steps")
    checkpoint_every = check_steps(checkpoint_every, "checkpoint_every")
    if not 0 < safety <= 1:
        raise ValueError(f"safety must be in (0, 1], got {safety!r}")
    if max_spacing is None:
        max_spacing = max(1, math.ceil(1.0 / lr))
    max_spacing = check_steps(max_spacing, "max_spacing")
    p = check_point(p0, "p0")
    sch = _Schedule(lr, 2.0 / lr, max_steps, safety, max_spacing, divergence_factor)
    fns = _build_fns(objective, max_spacing, eig_tol, eig_max_iters)

    config = np.array([lr, float(max_steps), float(max_spacing), safety, eig_tol])
    if resume_from is None:
        s = _Search(t=0, p=p, u=jax.random.normal(jax.random.PRNGKey(seed), p.shape, p.dtype))
    else:
        s = _restore(resume_from, config, p)

    from eos.progress import progress_bar

    bar = progress_bar(total=max_steps, initial=s.t, desc="GD to instability", disable=not progress)
    try:
        _search(s, objective, fns, sch, config, on_checkpoint, checkpoint_every, bar)
    finally:
        bar.close()

    return InstabilityResult(
        params=np.asarray(s.p),
        step=int(s.t),
        reached=bool(s.hist["sharpness"][-1] >= sch.threshold),
        sharpness=float(s.hist["sharpness"][-1]),
        eigvec=np.asarray(s.u),
        lr=lr,
        history=_sorted_history(s.hist),
        meta={"checks": s.checks, "backtracked": s.backtracked, "matvecs": s.matvecs},
    )


def _sorted_history(hist: dict[str, list]) -> dict[str, np.ndarray]:
    """History by step; where a step was checked twice (backtracking) the later check counts."""
    steps = np.asarray(hist["step"], dtype=np.int64)
    order = np.argsort(steps, kind="stable")
    keep: dict[int, int] = {}
    for i in order:
        keep[int(steps[i])] = int(i)  # later occurrences overwrite earlier ones
    idx = np.asarray([keep[s] for s in sorted(keep)], dtype=np.int64)
    out = {"step": steps[idx]}
    for k in ("loss", "sharpness", "accuracy"):
        out[k] = np.asarray(hist[k], dtype=np.float64)[idx]
    return out


def _state(s: _Search, config: np.ndarray) -> dict[str, np.ndarray]:
    """The checkpoint of the search state ``s`` (what ``on_checkpoint`` receives)."""
    return {
        "kind": np.asarray(_KIND),
        "config": config,
        "step": np.asarray(s.t, np.int64),
        "p": np.asarray(s.p),
        "u": np.asarray(s.u),
        "hist_step": np.asarray(s.hist["step"], np.int64),
        "hist_loss": np.asarray(s.hist["loss"], np.float64),
        "hist_sharpness": np.asarray(s.hist["sharpness"], np.float64),
        "hist_accuracy": np.asarray(s.hist["accuracy"], np.float64),
        "chk_steps": np.asarray(s.chk_steps, np.int64),
        "chk_sharp": np.asarray(s.chk_sharp, np.float64),
        "last_step": np.asarray(s.last[0], np.int64),
        "last_p": np.asarray(s.last[1]),
        "last_u": np.asarray(s.last[2]),
        "every_step": np.asarray(s.every_step),
        "loss0": np.asarray(s.loss0, np.float64),
        "counters": np.asarray([s.matvecs, s.checks, s.backtracked], np.int64),
        "spacing": np.asarray(s.spacing, np.int64),
    }


def _restore(state: dict[str, np.ndarray], config: np.ndarray, p0: jax.Array) -> _Search:
    """The search state of a checkpoint (after checking it belongs to this run's settings);
    the run resumes with GD steps, the check at its step having been made."""
    need = {"kind", "config", "step", "p", "u", "hist_step", "last_p", "spacing"}
    missing = need - set(state)
    if missing or str(np.asarray(state["kind"])) != _KIND:
        raise ValueError(
            f"resume_from is not a to_instability checkpoint (missing {sorted(missing)} or wrong "
            "kind); pass the dict that on_checkpoint received"
        )
    if not np.array_equal(np.asarray(state["config"]), config):
        raise ValueError(
            "resume_from was saved with different settings (lr, max_steps, max_spacing, safety, "
            f"eig_tol = {np.asarray(state['config']).tolist()}); now {config.tolist()}"
        )
    dtype = p0.dtype
    if np.asarray(state["p"]).shape != p0.shape:
        raise ValueError("resume_from holds parameters of a different size than p0")
    matvecs, checks, backtracked = (int(x) for x in np.asarray(state["counters"]))
    t = int(state["step"])
    return _Search(
        t=t,
        p=jnp.asarray(state["p"], dtype),
        u=jnp.asarray(state["u"], dtype),
        hist={
            "step": [int(x) for x in state["hist_step"]],
            "loss": [float(x) for x in state["hist_loss"]],
            "sharpness": [float(x) for x in state["hist_sharpness"]],
            "accuracy": [float(x) for x in state["hist_accuracy"]],
        },
        chk_steps=[int(x) for x in state["chk_steps"]],
        chk_sharp=[float(x) for x in state["chk_sharp"]],
        last=(
            int(state["last_step"]),
            jnp.asarray(state["last_p"], dtype),
            jnp.asarray(state["last_u"], dtype),
        ),
        every_step=bool(state["every_step"]),
        loss0=float(state["loss0"]),
        matvecs=matvecs,
        checks=checks,
        backtracked=backtracked,
        pending_check=False,
        spacing=int(state["spacing"]),
        last_ckpt=t,
    )
