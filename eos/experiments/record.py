"""A finished experiment as read from its cache: :class:`Result` (an :class:`eos.records.Record`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eos.experiments.config import ExperimentConfig
from eos.records import Record

__all__ = ["Result"]


@dataclass(frozen=True, eq=False)
class Result(Record):
    """A finished run.

    ``config``: the :class:`ExperimentConfig`; ``provenance``: versions, git commit, device,
    platform, dates, wall time per phase, resumption; ``history``: the to-instability history
    (``step``, ``loss``, ``sharpness``, ``accuracy`` at every sharpness check; ``"track"`` and
    ``"gd"`` runs); ``trajectory`` (also ``arrays``): the run's per-step arrays -- after
    instability, indexed by ``step`` = GD steps since instability, for ``"track"`` the keys of
    :class:`eos.dynamics.Trajectory` (``gd/loss``, ``predicted/x``, ``constrained/delta``,
    ``lambda2/value``, ...), for ``"gd"`` ``step``, ``gd/loss``, ``gd/sharpness_step``,
    ``gd/sharpness``; for ``"spectrum"`` the keys of :class:`eos.dynamics.GDRun` (``loss``,
    ``lr``, ``eig_step``, ``eigvals``, ``x``, ``metric/test_accuracy`` ...); ``meta``: the
    learning rate, steps done, stop reason, for ``"track"``/``"gd"`` the instability step, and
    the dynamics' own metadata (``meta["trajectory"]``); ``theta_star`` / ``u_star``: the
    parameters at instability (float32) and the top Hessian eigenvector there; ``params``: the
    final parameters of a ``"spectrum"`` run. ``result["gd/loss"]`` indexes ``trajectory``.
    """

    config: ExperimentConfig
    provenance: dict[str, Any]
    history: dict[str, np.ndarray]
    trajectory: dict[str, np.ndarray]
    meta: dict[str, Any]
    theta_star: np.ndarray | None = None
    u_star: np.ndarray | None = None
    params: np.ndarray | None = None
    path: Path | None = None

    @property
    def arrays(self) -> dict[str, np.ndarray]:  # the record's arrays (eos.records.Record)
        return self.trajectory

    def _missing(self, key: str) -> str:
        return (
            f"{key!r} is not in the trajectory of {self.config.name!r}; "
            f"available: {', '.join(sorted(self.trajectory))}"
        )

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def lr(self) -> float | None:
        """The learning rate ``eta`` of the run (for a ``"spectrum"`` run with ``relative_lr``
        the resolved ``lr/S(theta_start)``, with warmup the final one; ``None`` under the
        ``inverse_sharpness`` schedule)."""
        if "lr" not in self.meta:
            return self.config.lr
        return Record.lr.fget(self)  # type: ignore[attr-defined]

    @property
    def threshold(self) -> float:
        """``2/eta``."""
        if self.lr is None:
            raise ValueError(f"{self.name!r} has no constant learning rate, hence no 2/eta")
        return 2.0 / self.lr

    @property
    def instability_step(self) -> int | None:
        """GD step of the first iterate with ``S >= 2/eta`` (``None`` if never reached)."""
        s = self.meta.get("instability_step")
        return None if s is None else int(s)

    @property
    def reached_instability(self) -> bool:
        return bool(self.meta.get("reached_instability", False))

    def trajectory_object(self) -> Any:
        """The tracked part as an :class:`eos.dynamics.Trajectory` (``"track"`` runs)."""
        if self.config.kind != "track":
            raise ValueError(f"{self.name!r} is a {self.config.kind!r} run; it has no Trajectory")
        from eos import dynamics

        return dynamics.Trajectory(dict(self.trajectory), dict(self.meta.get("trajectory", {})))

    def gd_run(self) -> Any:
        """The run as an :class:`eos.dynamics.GDRun` (``"spectrum"`` runs): ``sharpness``,
        ``metric(name)``, ``diverged``, ``params``."""
        if self.config.kind != "spectrum":
            raise ValueError(f"{self.name!r} is a {self.config.kind!r} run; it has no GDRun")
        from eos import dynamics

        meta = dict(self.meta.get("trajectory", {}))
        return dynamics.GDRun(dict(self.trajectory), meta, self.params)

    def summary(self) -> str:
        c, p = self.config, self.provenance
        lr = f"lr={c.lr:g} (2/lr={c.threshold:g})"
        head = (
            f"  instability: step {self.instability_step} "
            f"(reached: {self.reached_instability}); after it: "
        )
        if c.kind == "spectrum":
            resolved = self.lr is not None and (c.relative_lr or c.schedule != "constant")
            lr = f"lr={c.lr_text()}" + (f" (eta={self.lr:.4g})" if resolved else "")
            head = f"  from {self.meta.get('start') or 'the initialisation'}: "
        lines = [
            f"{c.name} ({c.kind}) -- {c.model} on {c.dataset}[n={c.n}], {c.criterion}, {lr}",
            head + f"{self.steps_done} steps, stop reason: {self.stop_reason or '-'}",
            f"  computed {p.get('finished', '?')} on {p.get('device', '?')} "
            f"(jax {p.get('jax_version', '?')}, eos {p.get('eos_version', '?')}, "
            f"commit {str(p.get('git', {}).get('commit', '?'))[:12]})",
            "  wall time: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in p.get("wall_time_s", {}).items()),
            f"  path: {self.path}",
            "  arrays: "
            + ", ".join(f"{k}{tuple(v.shape)}" for k, v in sorted(self.trajectory.items())),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        lr = "None" if self.lr is None else f"{self.lr:g}"
        return (
            f"Result({self.name!r}, kind={self.config.kind!r}, lr={lr}, "
            f"instability_step={self.instability_step}, steps_done={self.steps_done})"
        )
