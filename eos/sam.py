"""Sharpness-aware minimisation (SAM, Foret et al.) on an :class:`eos.objective.Objective`.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from eos.schedules import validate_lr

__all__ = ["run_sam", "sam_direction", "sam_gradient", "sam_step", "validate_rho"]


def validate_rho(rho: Any) -> float:
    """Return ``rho`` as a float if it is a finite radius ``> 0``, else raise ``ValueError``."""
    try:
        value = float(rho)
    except (TypeError, ValueError):
        raise ValueError(f"rho (the SAM radius) must be a number > 0, got {rho!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"rho (the SAM radius) must be a finite number > 0, got {rho!r}")
    return value


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
    return p - jnp.asarray(lr, p.dtype) * sam_gradient(grad, p, rho)


def run_sam(objective, p0: jax.Array, *, lr: Any, rho: float, steps: int, **kwargs):
    """SAM with learning rate ``lr`` (a number or an :mod:`eos.schedules` schedule) and radius ``rho``.

    A thin wrapper around :func:`eos.spectrum.run_gd` with the SAM direction in place of the
    gradient: it records the loss, the learning rate and the top eigenvalues of the Hessian
    (``k``, ``eig_every`` ... as in :func:`eos.spectrum.run_gd`, passed through ``kwargs``).
    """
    from eos.spectrum import run_gd

    rho = validate_rho(rho)
    if not callable(lr):
        lr = validate_lr(lr, "lr")
    return run_gd(objective, p0, lr=lr, steps=steps, sam_rho=rho, **kwargs)
