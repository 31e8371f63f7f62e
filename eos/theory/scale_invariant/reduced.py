"""App. H's reduced problem on the unit sphere, solved independently of gradient descent.

Minimising ``L = f + (lambda/2) ||theta||^2`` subject to ``S(theta) <= 2/eta`` is, for each
direction ``tb`` (``S = S_f(tb) / r^2 + lambda`` with the constraint active), solved by
``r^2 = eta S_f(tb) / (2 - eta lambda)``; substituting leaves the *reduced problem*

    ``min_{||tb|| = 1} F(tb) = f(tb) + c S_f(tb)``,  ``c = eta lambda / (2 (2 - eta lambda))``

(**corrected**: App. H prints ``c = eta lambda / (2 - eta lambda)``, dropping the 1/2 of
``(lambda/2) r^2``; :func:`reduced_coefficient` gives both). :func:`minimize_reduced` minimises
``F`` by BFGS on its scale-invariant extension with Lemma 2's ``grad S_f = D^3 f(u, u)``;
:func:`critical_point_on_sphere` (``c = 0``) finds the second-order stationary points of ``f``
where Corollaries 2-3 and Lemmas 10-11 apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from eos.theory.scale_invariant.dense import check_dense, curvature_kernel, dense_curvature
from eos.theory.scale_invariant.forms import Form, check_form
from eos.theory.scale_invariant.geometry import normalize, project_tangent, tangent_projector
from eos.theory.scale_invariant.problem import ScaleInvariantProblem
from eos.validate import positive_number

Array = jax.Array

__all__ = [
    "ReducedSolution",
    "critical_point_on_sphere",
    "minimize_reduced",
    "reduced_coefficient",
    "reduced_objective",
]


def reduced_coefficient(lr: float, lam: float, *, form: Form = "corrected") -> float:
    """The weight ``c`` of ``S_f`` in App. H's reduced problem ``min f(tb) + c S_f(tb)``.

    ``corrected``: ``eta lambda / (2 (2 - eta lambda))`` (from ``(lambda/2) r^2`` with
    ``r^2 = eta S_f(tb) / (2 - eta lambda)``); ``paper``: ``eta lambda / (2 - eta lambda)``.
    """
    lr = positive_number(lr, "lr")
    lam = positive_number(lam, "lam", allow_zero=True)
    if lr * lam >= 2.0:
        raise ValueError(f"lr * lam must be < 2, got {lr * lam}")
    c = lr * lam / (2.0 - lr * lam)
    return 0.5 * c if check_form(form) == "corrected" else c


def reduced_objective(problem: ScaleInvariantProblem, theta: Array, coefficient: float) -> Array:
    """``F(tb) = f(tb) + c S_f(tb)`` at ``tb = theta / ||theta||`` (dense sharpness)."""
    tb, _ = normalize(jnp.asarray(theta))
    cb = dense_curvature(problem.f, tb)
    return cb.value + coefficient * cb.sharpness


@dataclass(frozen=True)
class ReducedSolution:
    """A (local) minimiser ``theta_bar`` of ``f + c S_f`` on the unit sphere, with diagnostics.

    ``grad_norm`` is the norm of the Riemannian gradient ``P (grad f + c grad S_f)`` at the
    solution (``grad S_f`` by Lemma 2); ``gap`` the eigengap ``lambda_1 - lambda_2`` of
    ``hess f(theta_bar)`` (Lemma 2 needs it > 0); ``min_tangent_eig`` the smallest eigenvalue of
    ``P hess f P`` on the tangent space (>= 0 at a second-order stationary point of ``f``).
    """

    theta_bar: np.ndarray
    coefficient: float
    value: float
    f: float
    sharpness: float
    gap: float
    grad_norm: float
    min_tangent_eig: float
    iterations: int
    message: str


@partial(jax.jit, static_argnums=0)
def _reduced_value_and_grad(f: Callable[[Array], Array], w: Array, c: Array) -> tuple[Array, Array]:
    """``F(w / ||w||)`` and its gradient ``P [grad f(tb) + c grad S_f(tb)] / ||w||``."""
    r = jnp.linalg.norm(w)
    tb = w / r
    cb = curvature_kernel(f, tb)
    return cb.value + c * cb.sharpness, project_tangent(tb, cb.grad + c * cb.grad_s) / r


def _sphere_diagnostics(
    problem: ScaleInvariantProblem, tb: Array, c: float, n_iter: int, msg: str
) -> ReducedSolution:
    """The :class:`ReducedSolution` at the unit vector ``tb`` (dense curvature of ``f``)."""
    cb = dense_curvature(problem.f, tb)
    P = tangent_projector(tb)
    Ht = np.asarray(P @ cb.hess @ P)
    ev = np.linalg.eigvalsh(0.5 * (Ht + Ht.T))
    # drop the zero eigenvalue that belongs to the radial direction tb
    ev = np.delete(ev, np.argmin(np.abs(ev)))
    fv = float(cb.value)
    return ReducedSolution(
        theta_bar=np.asarray(tb),
        coefficient=float(c),
        value=fv + c * float(cb.sharpness),
        f=fv,
        sharpness=float(cb.sharpness),
        gap=float(cb.gap),
        grad_norm=float(jnp.linalg.norm(project_tangent(tb, cb.grad + c * cb.grad_s))),
        min_tangent_eig=float(ev.min()),
        iterations=int(n_iter),
        message=msg,
    )


def minimize_reduced(
    problem: ScaleInvariantProblem,
    theta0: Array,
    coefficient: float,
    *,
    gtol: float = 1e-11,
    maxiter: int = 20000,
) -> ReducedSolution:
    """Minimise ``F(tb) = f(tb) + c S_f(tb)`` over the unit sphere, independently of GD.

    scipy BFGS on the scale-invariant extension ``w -> F(w / ||w||)``, whose gradient is
    ``P [grad f(tb) + c grad S_f(tb)] / ||w||`` with ``grad S_f = D^3 f(u, u)`` (Lemma 2) and
    ``S_f, u`` from a dense ``eigh``; float64 throughout. ``coefficient=0`` minimises ``f`` itself
    (see also :func:`critical_point_on_sphere`). Returns a local minimiser near ``theta0``;
    check ``grad_norm`` and ``gap`` of the result (BFGS may stop on "precision loss" once the
    gradient is at round-off level).
    """
    import scipy.optimize as so

    c = positive_number(coefficient, "coefficient", allow_zero=True)
    w0 = np.asarray(theta0, dtype=np.float64)
    check_dense(jnp.asarray(w0), "minimize_reduced")
    f = problem.f
    c_arr = jnp.asarray(c, jnp.float64)

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = _reduced_value_and_grad(f, jnp.asarray(w), c_arr)
        return float(v), np.asarray(g)

    res = so.minimize(
        fun,
        w0 / np.linalg.norm(w0),
        jac=True,
        method="BFGS",
        options={"gtol": gtol, "maxiter": int(maxiter)},
    )
    tb = jnp.asarray(res.x / np.linalg.norm(res.x))
    return _sphere_diagnostics(problem, tb, c, res.nit, str(res.message))


@partial(jax.jit, static_argnums=0)
def _newton_on_sphere(f: Callable[[Array], Array], tb: Array) -> Array:
    """One Riemannian Newton step ``normalize(tb - (P H P + tb tb^T)^{-1} P grad f(tb))``."""
    cb = curvature_kernel(f, tb)
    P = jnp.eye(tb.shape[0], dtype=tb.dtype) - jnp.outer(tb, tb)
    A = P @ cb.hess @ P + jnp.outer(tb, tb)
    new = tb - jnp.linalg.solve(A, project_tangent(tb, cb.grad))
    return new / jnp.linalg.norm(new)


def critical_point_on_sphere(
    problem: ScaleInvariantProblem, theta0: Array, *, newton_steps: int = 6
) -> ReducedSolution:
    """A local minimiser of ``f`` on the sphere (a second-order stationary point of ``f``).

    BFGS (:func:`minimize_reduced` with ``c = 0``), then Riemannian Newton steps
    ``tb <- normalize(tb - (P H P + tb tb^T)^{-1} grad f(tb))`` to machine precision
    (``grad f(tb)`` is tangent by Euler's identity; at a critical point the Riemannian Hessian is
    ``P H P``). Check ``min_tangent_eig >= 0`` of the result for second-order stationarity.
    """
    sol = minimize_reduced(problem, theta0, 0.0)
    tb = jnp.asarray(sol.theta_bar)
    for _ in range(int(newton_steps)):
        tb = _newton_on_sphere(problem.f, tb)
    msg = f"{sol.message} + {int(newton_steps)} Newton steps"
    return _sphere_diagnostics(problem, tb, 0.0, sol.iterations, msg)
