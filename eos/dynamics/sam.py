"""Sharpness-aware minimisation (SAM, Foret et al.): its update direction for :func:`run_gd`.

SAM replaces ``min L(theta)`` by ``min_theta max_{||delta|| <= rho} L(theta + delta)``
(Sec. 7.3, "Connection to SAM"). Linearising the inner maximum gives
``delta* = rho grad L(theta) / ||grad L(theta)||`` and the SAM update

    g_SAM(theta) = grad L(theta + rho grad L(theta) / ||grad L(theta)||),
    theta_{t+1}  = theta_t - eta g_SAM(theta_t).

SAM thus penalises sharpness *explicitly*: for a quadratic ``L = theta^T H theta / 2`` the
perturbed gradient is ``H theta + rho H^2 theta / ||H theta||``, the extra term pulling hardest
along the sharpest directions. Gradient descent with a constant learning rate ``eta`` only
enforces ``S(theta) <= 2/eta`` *implicitly* (self-stabilization, eq. (2)).

At a stationary point (``grad L = 0``) the perturbation is undefined; we then take
``delta = 0`` (SAM reduces to gradient descent), which is also what the gradient of the
normalised direction does in the limit for an exact zero.

:func:`sam` is the :class:`eos.dynamics.driver.Direction` that :func:`eos.dynamics.run_gd`
steps along; :func:`run_sam` is that call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from eos.dynamics.driver import Direction, GDRun, run_gd
from eos.dynamics.gd import gd_step
from eos.validate import positive_number

__all__ = ["run_sam", "sam", "sam_direction", "sam_gradient", "sam_step"]


def sam_direction(
    grad: Callable[[jax.Array], jax.Array], p: jax.Array, g: jax.Array, rho: Any
) -> jax.Array:
    """``grad L(p + rho g/||g||)`` given ``g = grad L(p)`` (zero perturbation when ``g = 0``)."""
    norm = jnp.linalg.norm(g)
    safe = jnp.where(norm > 0, norm, jnp.ones_like(norm))
    scale = jnp.where(norm > 0, jnp.asarray(rho, p.dtype) / safe, jnp.zeros_like(norm))
    return grad(p + scale.astype(p.dtype) * g)


def sam_gradient(grad: Callable[[jax.Array], jax.Array], p: jax.Array, rho: Any) -> jax.Array:
    """``grad L(p + rho g/||g||)`` with ``g = grad L(p)`` (zero perturbation when ``g = 0``).

    ``grad`` maps a flat parameter vector to the gradient of the loss (e.g. ``Objective.grad``);
    the result has the dtype of ``p``. jit-compatible (``rho`` may be traced).
    """
    return sam_direction(grad, p, grad(p), rho)


def sam_step(grad: Callable[[jax.Array], jax.Array], p: jax.Array, lr: Any, rho: Any) -> jax.Array:
    """One SAM step ``p - lr * sam_gradient(grad, p, rho)``."""
    return gd_step(sam_gradient(grad, p, rho), p, lr)


def sam(rho: float) -> Direction:
    """SAM's direction with radius ``rho > 0``, for :func:`eos.dynamics.run_gd`."""
    rho = positive_number(rho, "rho", what="the SAM radius")
    return Direction("sam", sam_direction, rho, "rho")


def run_sam(objective: Any, p0: jax.Array, *, lr: Any, rho: float, steps: int, **kwargs) -> GDRun:
    """SAM with learning rate ``lr`` (a number or a schedule) and radius ``rho``:
    :func:`eos.dynamics.run_gd` with ``direction=sam(rho)``; it records the loss, the learning
    rate and the top eigenvalues of the Hessian (``spectrum``, ``metrics`` ... as there)."""
    return run_gd(objective, p0, lr=lr, steps=steps, direction=sam(rho), **kwargs)
