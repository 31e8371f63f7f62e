"""Derivative oracles of an :class:`eos.objective.Objective` as used by the dynamics.

All functions are traceable (they call the objective's jitted methods, which inline under an
outer ``jax.jit``) and compute in the dtype of the point. Without ghost batching,
:func:`linearize` uses ``jax.linearize`` of ``value_and_grad``: the loss and gradient come out of
the primal pass and every Hessian-vector product afterwards only pays for a tangent pass. With
ghost batching (``objective.chunk_size`` set) the linearisation would store every chunk, so the
chunked ``objective.hvp`` is used instead (same numbers up to rounding, memory of one chunk).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from eos.dynamics._lanczos import LanczosResult, lanczos_top

__all__ = ["check_objective", "d3", "hvps", "linearize", "point_eigen"]

MatVec = Callable[[jax.Array], jax.Array]


def check_objective(objective: Any) -> Any:
    """Raise a clear ``ValueError`` unless ``objective`` has the Objective interface."""
    missing = [
        name
        for name in ("value", "value_and_grad", "hvp", "D")
        if not callable(getattr(objective, name, None))
    ]
    if missing:
        raise ValueError(
            "objective must be an eos.objective.Objective (or offer value, value_and_grad, hvp "
            f"and D); {type(objective).__name__} lacks {', '.join(missing)}. Wrap a plain scalar "
            "function with eos.objective.Objective.from_function(f)."
        )
    return objective


def _chunked(objective: Any) -> bool:
    return getattr(objective, "chunk_size", None) is not None


def linearize(objective: Any, p: jax.Array) -> tuple[jax.Array, jax.Array, MatVec]:
    """``(L(p), grad L(p), v -> H(p) v)`` sharing one primal pass (see the module docstring)."""
    if _chunked(objective):
        loss, g = objective.value_and_grad(p)
        return loss, g, lambda v: objective.hvp(p, v)
    (loss, g), lin = jax.linearize(objective.value_and_grad, p)
    return loss, g, lambda v: lin(v)[1]


def hvps(objective: Any, p: jax.Array, V: jax.Array) -> jax.Array:
    """``H(p) V^T`` row by row: ``V`` is ``(k, d)``; one primal pass, ``k`` vmapped tangents."""
    if V.shape[0] == 0:
        return V
    return objective.hvp(p, V.T).T


def d3(objective: Any, p: jax.Array, u: jax.Array) -> jax.Array:
    """``grad^3 L(p)(u, u)``: the sharpness gradient of Lemma 2 when ``u`` is the top eigenvector."""
    return objective.D(p, 3, u, u)


def point_eigen(
    objective: Any, p: jax.Array, u0: jax.Array, *, tol: float, max_iters: int
) -> tuple[jax.Array, jax.Array, LanczosResult]:
    """Loss, gradient and warm-started top eigenpair at ``p`` (one shared primal pass)."""
    loss, g, mv = linearize(objective, p)
    return loss, g, lanczos_top(mv, u0, tol=tol, max_iters=max_iters)


def unit(v: jax.Array) -> jax.Array:
    """``v / ||v||`` (``v`` unchanged if it is zero)."""
    n = jnp.linalg.norm(v)
    return v / jnp.where(n > 0, n, 1)
