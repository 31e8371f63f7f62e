"""Derivative oracles of an :class:`eos.objective.Objective` as used by the dynamics.

All functions are traceable (they call the objective's jitted methods, which inline under an
outer ``jax.jit``) and compute in the dtype of the point; ghost batching (``chunk_size``) is
respected because only the objective's own ``value_and_grad``, ``hvp`` and ``D`` are used.

Cost model (measured on the paper's MLP, see ``benchmarks/tracking.py``): a Hessian-vector
product costs about 1.1 gradients and a tangent pass after ``jax.linearize`` costs as much as a
full HVP, so linearising first does not pay. What does pay is *fusing*: ``jax.jvp`` of
``value_and_grad`` returns :math:`L`, :math:`\nabla L` and :math:`Hv` in one pass, so the first
product of every eigen-solve also delivers the loss and the gradient at that point
(:func:`point_eigen`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from eos.curvature.lanczos import LanczosResult, lanczos_top

__all__ = [
    "d3",
    "hvps",
    "jit",
    "linearize",
    "point_eigen",
    "unit",
    "value_grad_hvp",
]

MatVec = Callable[[jax.Array], jax.Array]


def jit(objective: Any) -> Callable[[Callable], Callable]:
    """A decorator: compile ``body(objective, *args)`` as ``body_compiled(*args)``.

    With an :class:`eos.objective.Objective` this is :meth:`~eos.objective.Objective.jit`, which
    passes the training data to the compiled program as an argument (a plain closure would
    inline them as constants); any other objective is closed over as it is.
    """
    method = getattr(objective, "jit", None)
    if callable(method):
        return method
    return lambda body: jax.jit(functools.partial(body, objective))


def _chunked(objective: Any) -> bool:
    return getattr(objective, "chunk_size", None) is not None


def value_grad_hvp(objective: Any, p: jax.Array, v: jax.Array):
    """``(L(p), grad L(p), H(p) v)`` in one forward-over-reverse pass."""
    (loss, g), (_, hv) = jax.jvp(objective.value_and_grad, (p,), (v,))
    return loss, g, hv


def linearize(objective: Any, p: jax.Array) -> tuple[jax.Array, jax.Array, MatVec]:
    """``(L(p), grad L(p), v -> H(p) v)``: the loss and gradient, and the HVP operator."""
    loss, g = objective.value_and_grad(p)
    return loss, g, lambda v: objective.hvp(p, v)


def hvps(objective: Any, p: jax.Array, V: jax.Array) -> jax.Array:
    """``H(p) V^T`` row by row: ``V`` is ``(k, d)``; one primal pass, ``k`` vmapped tangents."""
    if V.shape[0] == 0:
        return V
    return objective.hvp(p, V.T).T


def d3(objective: Any, p: jax.Array, u: jax.Array) -> jax.Array:
    """``grad^3 L(p)(u, u)``: the sharpness gradient of Lemma 2 when ``u`` is the top eigenvector."""
    return objective.D(p, 3, u, u)


def point_eigen(
    objective: Any, p: jax.Array, u0: jax.Array, *, tol: float, max_iters: int, restarts: int = 0
) -> tuple[jax.Array, jax.Array, LanczosResult]:
    """Loss, gradient and warm-started top eigenpair at ``p``; the first Lanczos product is
    fused with the loss and gradient (:func:`value_grad_hvp`)."""
    q0 = unit(u0)
    loss, g, hq0 = value_grad_hvp(objective, p, q0)
    r = lanczos_top(
        lambda v: objective.hvp(p, v), q0, tol=tol, max_iters=max_iters, Hq0=hq0, restarts=restarts
    )
    return loss, g, r


def unit(v: jax.Array) -> jax.Array:
    """``v / ||v||`` (``v`` unchanged if it is zero)."""
    n = jnp.linalg.norm(v)
    return v / jnp.where(n > 0, n, 1)
