"""Dense curvature of tiny models: the independent reference for App. H's identities.

For a scalar ``f`` and a flat ``x`` with at most :data:`MAX_DENSE_PARAMS` entries, the Hessian
is materialised (``jax.hessian``, symmetrised) and diagonalised (``eigh``): the sharpness
``S(x) = lambda_1(hess f(x))`` (Definition 1), its eigenvector ``u`` and the eigengap
``lambda_1 - lambda_2``, and the sharpness gradient ``grad S(x) = D^3 f(x)(u, u)`` of Lemma 2
(forward-over-reverse, no tensor materialised). :func:`derivative_tensor` gives the dense
derivative tensors of orders 1-4 (for Lemma 9's operator norms).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from eos.curvature import D

Array = jax.Array
#: Largest parameter count the dense (materialised Hessian/tensor) helpers accept.
MAX_DENSE_PARAMS = 2000

__all__ = [
    "MAX_DENSE_PARAMS",
    "DenseCurvature",
    "check_dense",
    "curvature_kernel",
    "dense_curvature",
    "dense_sharpness",
    "derivative_tensor",
    "sharpness_gradient_dense",
]


def check_dense(x: Array, what: str) -> None:
    """Refuse anything but a flat vector of at most :data:`MAX_DENSE_PARAMS` entries."""
    if x.ndim != 1:
        raise ValueError(f"{what}: expected a flat parameter vector, got shape {x.shape}")
    if x.shape[0] > MAX_DENSE_PARAMS:
        raise ValueError(
            f"{what}: {x.shape[0]} parameters is too many for the dense helpers "
            f"(limit {MAX_DENSE_PARAMS}); use eos.curvature's matrix-free routines instead"
        )


class DenseCurvature(NamedTuple):
    """Dense derivatives of a scalar ``f`` at ``x`` (tiny models): the independent reference.

    ``eigvals`` ascending eigenvalues of ``hess``; ``u`` the top eigenvector; ``grad_s`` the
    sharpness gradient ``D^3 f(x)(u, u)`` (Lemma 2).
    """

    value: Array
    grad: Array
    hess: Array
    eigvals: Array
    u: Array
    grad_s: Array

    @property
    def sharpness(self) -> Array:
        return self.eigvals[-1]

    @property
    def gap(self) -> Array:
        return self.eigvals[-1] - self.eigvals[-2]


def sharpness_gradient_dense(f: Callable[[Array], Array], x: Array, u: Array) -> Array:
    """Lemma 2: ``grad S(x) = D^3 f(x)(u, u)`` (forward-over-reverse, no tensor materialised)."""

    def uhu(z: Array) -> Array:
        return jnp.vdot(u, jax.jvp(jax.grad(f), (z,), (u,))[1])

    return jax.grad(uhu)(x)


@partial(jax.jit, static_argnums=0)
def curvature_kernel(f: Callable[[Array], Array], x: Array) -> DenseCurvature:
    """The unchecked, jitted body of :func:`dense_curvature` (callable inside other jits)."""
    H = jax.hessian(f)(x)
    H = 0.5 * (H + H.T)
    w, V = jnp.linalg.eigh(H)
    u = V[:, -1]
    return DenseCurvature(f(x), jax.grad(f)(x), H, w, u, sharpness_gradient_dense(f, x, u))


def dense_curvature(f: Callable[[Array], Array], x: Array) -> DenseCurvature:
    """Value, gradient, Hessian, its spectrum, ``u`` and ``grad S`` (Lemma 2) of ``f`` at ``x``.

    One jitted call (compiled once per ``f`` and shape; pass a stable callable such as
    ``problem.f``); dense ``jax.hessian`` + ``eigh``, so for tiny models only.
    """
    x = jnp.asarray(x)
    check_dense(x, "dense_curvature")
    return curvature_kernel(f, x)


def dense_sharpness(f: Callable[[Array], Array], x: Array) -> tuple[Array, Array, Array]:
    """``(S, u, gap)``: top Hessian eigenvalue, its eigenvector and ``lambda_1 - lambda_2``."""
    c = dense_curvature(f, x)
    return c.sharpness, c.u, c.gap


def derivative_tensor(f: Callable[[Array], Array], x: Array, order: int) -> Array:
    """The dense ``order``-th derivative tensor of ``f`` at ``x`` (orders 1-4, tiny models):
    :func:`eos.curvature.D` with no direction (``jax.grad`` then ``order - 1`` ``jax.jacfwd``),
    compiled once per ``f`` and ``order``."""
    x = jnp.asarray(x)
    check_dense(x, "derivative_tensor")
    if order not in (1, 2, 3, 4):
        raise ValueError(f"order must be 1, 2, 3 or 4, got {order!r}")
    return D(f, x, int(order))
