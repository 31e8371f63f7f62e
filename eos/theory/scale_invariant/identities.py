"""App. H.1's identities for a scale-invariant ``f`` as explicit right-hand sides.

With ``r = ||theta||``, ``tb = theta / r``, ``P = I - tb tb^T`` (:mod:`.geometry`), ``g, H`` the
gradient and Hessian of ``f`` at ``tb`` and ``S_f`` the sharpness of ``f`` (``S = S_f + lambda``
for ``L = f + (lambda/2) ||theta||^2``), homogeneity of degree ``-k`` of the ``k``-th derivative
of ``f`` gives (each function here takes the quantities at ``tb`` only):

* Lemma 7: ``grad f(theta) = P g / r`` and
  ``hess f(theta) = [P H P - P g tb^T - tb (P g)^T] / r^2``.
* Corollary 2: at a critical point of ``f``, ``hess f(theta) = P H P / r^2``.
* Corollary 3: at a critical point of ``f``, ``u(theta) . grad L(theta) = 0``.
* Lemma 8 (**corrected**): ``grad S(theta) = [P grad S_f(tb) - 2 S_f(tb) tb] / r^3``; the paper
  prints the radial coefficient as ``S(tb) - lambda = S_f(tb)`` (Euler's identity
  ``theta . grad S_f(theta) = -2 S_f(theta)`` gives the 2).
* Lemma 10 (**corrected**): at a critical point of ``f``,
  ``alpha = -grad L . grad S = 2 lambda S_f(tb) / r^2`` (paper: ``lambda S_f(tb) / r^2``).
* Lemma 11 (**corrected**): at a critical point of ``f``,
  ``alpha / (||grad L|| ||grad S||) = 1 / sqrt(1 + ||P grad S_f(tb)||^2 / (2 S_f(tb))^2)``,
  independent of ``r`` and ``lambda`` (paper: without the 2).

``form="paper"`` gives App. H's formulas as printed (:mod:`.forms`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eos.theory.scale_invariant.forms import Form, check_form
from eos.theory.scale_invariant.geometry import normalize, project_tangent, tangent_projector

Array = jax.Array

__all__ = [
    "corollary2_hessian",
    "corollary3_cosine",
    "lemma7_gradient",
    "lemma7_hessian",
    "lemma8_sharpness_gradient",
    "lemma10_alpha",
    "lemma11_ratio",
]


def lemma7_gradient(theta: Array, grad_f_bar: Array) -> Array:
    """Lemma 7: ``grad f(theta) = P grad f(theta_bar) / ||theta||``."""
    tb, r = normalize(theta)
    return project_tangent(tb, grad_f_bar) / r


def lemma7_hessian(theta: Array, grad_f_bar: Array, hess_f_bar: Array) -> Array:
    """Lemma 7: ``hess f(theta) = [P H P - P g tb^T - tb (P g)^T] / ||theta||^2``.

    ``g, H`` are the gradient and Hessian of ``f`` at ``tb = theta/||theta||`` (dense).
    """
    tb, r = normalize(theta)
    P = tangent_projector(theta)
    Pg = P @ grad_f_bar
    return (P @ hess_f_bar @ P - jnp.outer(Pg, tb) - jnp.outer(tb, Pg)) / r**2


def corollary2_hessian(theta: Array, hess_f_bar: Array) -> Array:
    """Corollary 2: at a critical point of ``f``, ``hess f(theta) = P H(theta_bar) P / ||theta||^2``."""
    _, r = normalize(theta)
    P = tangent_projector(theta)
    return P @ hess_f_bar @ P / r**2


def corollary3_cosine(u: Array, grad_L: Array) -> Array:
    """Corollary 3's quantity ``|u . grad L| / (||u|| ||grad L||)`` (zero at critical points of ``f``)."""
    return jnp.abs(jnp.vdot(u, grad_L)) / (jnp.linalg.norm(u) * jnp.linalg.norm(grad_L))


def _radial_coefficient(form: str) -> float:
    """The coefficient of ``S_f(tb) tb`` in Lemma 8: 2 (corrected) or 1 (as printed)."""
    return 2.0 if check_form(form) == "corrected" else 1.0


def lemma8_sharpness_gradient(
    theta: Array, grad_sf_bar: Array, sf_bar: Array, *, form: Form = "corrected"
) -> Array:
    """Lemma 8: ``grad S(theta)`` from ``grad S_f(theta_bar)`` and ``S_f(theta_bar)``.

    ``corrected``: ``[P grad S_f(tb) - 2 S_f(tb) tb] / r^3`` (differentiate
    ``S_f(theta) = S_f(tb) / r^2``: ``grad (r^{-2}) = -2 tb / r^3``). ``paper``: App. H's
    ``[P grad S(tb) - (S(tb) - lambda) tb] / r^3`` with ``S(tb) - lambda = S_f(tb)``.
    Note ``grad S = grad S_f`` everywhere (``S = S_f + lambda``).
    """
    tb, r = normalize(theta)
    return (project_tangent(tb, grad_sf_bar) - _radial_coefficient(form) * sf_bar * tb) / r**3


def lemma10_alpha(theta: Array, sf_bar: Array, lam: float, *, form: Form = "corrected") -> Array:
    """Lemma 10: ``alpha(theta) = -grad L . grad S`` at a critical point of ``f``.

    ``corrected``: ``2 lambda S_f(tb) / r^2``; ``paper``: ``lambda (S(tb) - lambda) / r^2 =
    lambda S_f(tb) / r^2``.
    """
    _, r = normalize(theta)
    return _radial_coefficient(form) * lam * sf_bar / r**2


def lemma11_ratio(
    theta: Array, grad_sf_bar: Array, sf_bar: Array, *, form: Form = "corrected"
) -> Array:
    """Lemma 11: ``alpha / (||grad L|| ||grad S||)`` at a critical point of ``f``.

    ``corrected``: ``1 / sqrt(1 + ||P grad S_f(tb)||^2 / (2 S_f(tb))^2)``; ``paper``:
    ``1 / sqrt(1 + ||P grad S_f(tb)||^2 / S_f(tb)^2)``. Equivalently the cosine between
    ``theta`` and ``-grad S(theta)``; independent of ``r`` and ``lambda``.
    """
    tb, _ = normalize(theta)
    c = _radial_coefficient(form)
    q = jnp.linalg.norm(project_tangent(tb, grad_sf_bar)) / (c * sf_bar)
    return 1.0 / jnp.sqrt(1.0 + q**2)
