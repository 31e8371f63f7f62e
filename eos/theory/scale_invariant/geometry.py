"""The geometry of the sphere used throughout App. H.

For ``theta != 0`` write ``r = ||theta||``, ``theta_bar = theta / r`` and
``P = I - theta_bar theta_bar^T``, the projector onto the tangent space of the unit sphere at
``theta_bar`` (the paper's ``P_theta^perp``). Differentiating ``theta_bar`` gives
``d theta_bar / d theta = P / r``, the source of every ``P`` and every power of ``r`` in
Lemmas 7-11.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["normalize", "project_tangent", "tangent_projector"]


def normalize(theta: Array) -> tuple[Array, Array]:
    """``(theta_bar, r)`` with ``r = ||theta||`` and ``theta_bar = theta / r``."""
    r = jnp.linalg.norm(theta)
    return theta / r, r


def tangent_projector(theta: Array) -> Array:
    """``P = I - theta_bar theta_bar^T``, the projector orthogonal to ``theta`` (dense)."""
    tb, _ = normalize(theta)
    return jnp.eye(tb.shape[0], dtype=tb.dtype) - jnp.outer(tb, tb)


def project_tangent(theta_bar: Array, v: Array) -> Array:
    """``P v = v - (theta_bar . v) theta_bar`` for a unit ``theta_bar`` (matrix-free)."""
    return v - jnp.vdot(theta_bar, v) * theta_bar
