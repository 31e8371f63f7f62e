"""The phases of a run: where :mod:`eos.experiments` calls :mod:`eos.dynamics`.

Each phase computes in the working coordinates of a :class:`~eos.experiments.workspace.Workspace`
(the runner lifts what it saves), checkpoints through ``ckpt`` (an
:class:`eos.results.Checkpointer`), resumes from ``state`` (its last checkpoint, or ``None``)
and returns ``(arrays, meta)``:

* :func:`instability` -- App. D.3: float32 GD to the first iterate with ``S >= 2/eta``
  (:func:`eos.dynamics.to_instability`);
* :func:`track` -- App. D.3, Fig. 4: GD, ``theta-dagger``, gradient flow and the predicted
  dynamics in float64 (:func:`eos.dynamics.track`);
* :func:`gd` -- Fig. 1: plain float32 GD after instability, the loss at every step and the
  sharpness every ``sharpness_every`` steps (:func:`eos.dynamics.run_gd`);
* :func:`spectrum` -- Sec. 7.3, Sec. 8.2, App. G.1: GD with a schedule, or SAM, recording the
  top ``k`` eigenvalues (:func:`eos.dynamics.run_gd`); :func:`sharpness_at` is its probe of
  ``S(theta_start)`` for learning rates relative to it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from eos.experiments.config import ExperimentConfig
from eos.experiments.workspace import Workspace, test_set

__all__ = ["central", "gd", "instability", "sharpness_at", "spectrum", "track"]


def instability(config: ExperimentConfig, ws: Workspace, ckpt, state, progress: bool):
    """float32 GD until the first iterate with ``S >= 2/eta`` -> (arrays, meta)."""
    from eos import dynamics

    inst = dynamics.to_instability(
        ws.objective,
        ws.reduce(ws.p0),
        lr=config.lr,
        max_steps=config.max_steps,
        seed=config.seed,
        resume_from=state,
        on_checkpoint=ckpt.save,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
    )
    arrays = {f"history/{k}": np.asarray(v) for k, v in inst.history.items()}
    arrays["theta_star"] = np.asarray(inst.params)
    arrays["u_star"] = np.asarray(inst.eigvec)
    meta = {
        "instability_step": int(inst.step),
        "reached_instability": bool(inst.reached),
        "sharpness_at_instability": float(inst.sharpness),
        "instability": dict(inst.meta),
    }
    if not inst.reached:
        warnings.warn(
            f"{config.name}: no instability within max_steps={config.max_steps} "
            f"(sharpness {float(inst.sharpness):.4g} < 2/lr = {config.threshold:.4g}); "
            "continuing from the last iterate",
            stacklevel=5,
        )
    return arrays, meta


def track(config: ExperimentConfig, ws: Workspace, theta_star, u_star, ckpt, state, progress):
    """Track GD, theta-dagger, flow and predictions in float64 -> (arrays, meta)."""
    import jax.numpy as jnp

    from eos import dynamics

    traj = dynamics.track(
        ws.objective,
        jnp.asarray(theta_star, dtype=jnp.float64),
        lr=config.lr,
        steps=config.track_steps,
        generalized=config.generalized,
        diag_every=config.diag_every,
        lambda2_every=config.lambda2_every,
        lambda2_threshold=config.lambda2_threshold,
        u0=jnp.asarray(u_star, dtype=jnp.float64),
        dtype=jnp.float64,
        resume_from=state,
        on_checkpoint=ckpt.save,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
    )
    return {k: np.asarray(v) for k, v in traj.arrays.items()}, dict(traj.meta)


def _spectrum_recorder(config: ExperimentConfig):
    from eos.dynamics import Spectrum

    return Spectrum(
        k=config.k,
        every=config.sharpness_every,
        tol=config.eig_tol,
        max_iters=config.eig_max_iters,
        refresh=False,  # eta_t = c/S uses the latest solve, every sharpness_every steps
    )


def _drive(
    config: ExperimentConfig,
    ws: Workspace,
    p,
    lr,
    *,
    steps: int,
    ckpt,
    state,
    progress: bool,
    desc: str,
    **kwargs: Any,
):
    """:func:`eos.dynamics.run_gd` on the workspace with the configuration's recorder, chunk
    length, checkpoints and a progress bar."""
    from eos.dynamics import run_gd
    from eos.progress import progress_bar

    start = 0 if state is None else int(np.asarray(state["step"]))
    bar = progress_bar(total=steps, initial=start, desc=desc, disable=not progress)

    def advance(done: int, _run: Any) -> None:
        bar.update(done - bar.n)

    try:
        return run_gd(
            ws.objective,
            p,
            lr=lr,
            steps=steps,
            spectrum=_spectrum_recorder(config),
            chunk=config.chunk,
            seed=config.seed,
            progress=advance if progress else None,
            resume_from=state,
            on_checkpoint=ckpt.save,
            checkpoint_every=config.checkpoint_every,
            **kwargs,
        )
    finally:
        bar.close()


def gd(config: ExperimentConfig, ws: Workspace, theta_star, u_star, ckpt, state, progress):
    """Plain float32 GD after instability (Fig. 1): loss every step, sharpness every
    ``sharpness_every`` steps (warm-started from the previous eigenvector) -> (arrays, meta).

    The ``track_steps + 1`` iterates ``theta_0 .. theta_{track_steps}`` are those of
    :func:`eos.dynamics.run_gd` over ``track_steps + 1`` steps (the last update is not used).
    """
    import jax.numpy as jnp

    from eos.dynamics import DivergenceError

    steps = config.track_steps
    p, u = jnp.asarray(theta_star, jnp.float32), jnp.asarray(u_star, jnp.float32)
    try:
        run = _drive(
            config,
            ws,
            p,
            config.lr,
            steps=steps + 1,
            ckpt=ckpt,
            state=state,
            progress=progress,
            desc="gradient descent",
            U0=u[:, None],
            max_loss=np.inf,
            raise_on_divergence=True,
        )
    except DivergenceError as exc:
        raise DivergenceError(
            f"{config.name}: gradient descent diverged at step {exc.step} after instability "
            f"(lr={config.lr:g}); try a smaller learning rate",
            step=exc.step,
            run=exc.run,
        ) from None
    arrays = {
        "step": np.arange(steps + 1),
        "gd/loss": run["loss"],
        "gd/sharpness_step": run["eig_step"],
        "gd/sharpness": run["eigvals"][:, 0],
    }
    return arrays, {"steps_done": steps, "stop_reason": "completed", "dtype": "float32"}


def sharpness_at(config: ExperimentConfig, ws: Workspace, p) -> float:
    """``S(p)`` from the first eigen-solve of a one-step run with the configuration's solver
    and chunk length (the same compiled loop, hence the same number, as the run's step 0)."""
    from eos.dynamics import run_gd

    probe = run_gd(
        ws.objective,
        p,
        lr=1e-6,
        steps=1,
        spectrum=_spectrum_recorder(config),
        chunk=config.chunk,
        seed=config.seed,
    )
    return float(probe.sharpness[0])


def _metrics(config: ExperimentConfig, ws: Workspace) -> Mapping[str, Any]:
    """Train and test accuracy (held-out data need the full coordinates, :mod:`eos.reduction`)."""
    if not config.test_n:
        return {}
    test = test_set(config)
    return {
        "test_accuracy": lambda p: ws.full.evaluate(ws.lift(p), test)["accuracy"],
        "train_accuracy": ws.objective.accuracy,
    }


def spectrum(config: ExperimentConfig, ws: Workspace, p, lr, ckpt, state, progress):
    """GD (or SAM, ``config.rho > 0``) with learning rate or schedule ``lr`` from ``p``, the
    top ``k`` Hessian eigenpairs recorded -> (arrays, meta, final parameters)."""
    from eos.dynamics import GRADIENT, sam

    direction = sam(config.rho) if config.rho > 0 else GRADIENT
    run = _drive(
        config,
        ws,
        p,
        lr,
        steps=config.track_steps,
        ckpt=ckpt,
        state=state,
        progress=progress,
        desc=config.name,
        direction=direction,
        metrics=_metrics(config, ws),
    )
    return dict(run.arrays), dict(run.meta), run.params


def central(config: ExperimentConfig, ws: Workspace, theta_star, u_star, ckpt, state, progress):
    """The central flow beside GD, theta-dagger and gradient flow in float64 (beyond the paper;
    :func:`eos.experiments.central.central_phase`) -> (arrays, meta)."""
    from eos.experiments.central import central_phase

    return central_phase(config, ws, theta_star, u_star, ckpt, state, progress)
