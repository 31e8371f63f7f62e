"""Reading a run's recorded Hessian spectrum: when eigenvalues cross ``2/eta``, and which
stretches of the run have one or several unstable eigenvalues (Sec. 8.2, Fig. 5).

Both work on the arrays of :func:`eos.dynamics.run_gd` (``eig_step``, ``eigvals`` ``(m, k)``,
``x``), whether from a :class:`eos.dynamics.GDRun` or a cached
:class:`eos.experiments.Result` of a ``"spectrum"`` experiment.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eos.validate import positive_int

__all__ = ["crossing_steps", "regime_windows"]


def crossing_steps(run: Any, threshold: float | None = None) -> list[int | None]:
    """For each tracked ``lambda_i`` the first recorded step with ``lambda_i >= threshold``
    (default ``2/eta`` of a constant-learning-rate run), ``None`` if it never gets there.

    ``run``: a record with ``run["eig_step"]``, ``run["eigvals"]`` and ``run.lr`` (a
    :class:`eos.records.Record`).
    """
    if threshold is None:
        if run.lr is None:
            raise ValueError("threshold is required for a run without a constant learning rate")
        threshold = 2.0 / run.lr
    steps, eigvals = run["eig_step"], run["eigvals"]
    out: list[int | None] = []
    for i in range(eigvals.shape[1]):
        hit = np.flatnonzero(eigvals[:, i] >= threshold)
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
    window = positive_int(window, "window")
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
