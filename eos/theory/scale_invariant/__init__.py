"""Scale-invariant losses with weight decay (App. H, Sec. 7.3).

A loss ``f`` is *scale invariant* when ``f(c theta) = f(theta)`` for every ``c > 0``. With weight
decay the training loss is ``L(theta) = f(theta) + (lambda/2) ||theta||^2``. Write
``r = ||theta||``, ``theta_bar = theta / r``, ``P = I - theta_bar theta_bar^T`` (the projector
onto the tangent space of the sphere at ``theta_bar``), ``S`` the sharpness of ``L``
(Definition 1) and ``S_f`` the sharpness of ``f``. Homogeneity of degree ``-k`` of the ``k``-th
derivative of ``f`` gives the identities of App. H.1, implemented as explicit right-hand sides
(functions of the quantities at ``theta_bar``):

* Lemma 7: ``grad f(theta) = P grad f(theta_bar) / r`` and
  ``hess f(theta) = [P H P - P g theta_bar^T - theta_bar (P g)^T] / r^2`` with
  ``g, H`` the gradient and Hessian of ``f`` at ``theta_bar``.
* Corollary 2: at a critical point of ``f``, ``hess f(theta) = P H P / r^2``.
* Corollary 3: at a critical point of ``f``, ``u(theta) . grad L(theta) = 0``.
* Lemma 8 (**corrected**): ``grad S(theta) = [P grad S_f(theta_bar) - 2 S_f(theta_bar) theta_bar] / r^3``.
  The paper prints the coefficient of ``S_f(theta_bar) theta_bar`` as 1 (written
  ``S(theta_bar) - lambda = S_f(theta_bar)``); differentiating ``S_f(theta_bar)/r^2`` gives
  ``-2 S_f(theta_bar) theta_bar / r^3`` (Euler: ``theta . grad S_f(theta) = -2 S_f(theta)``).
* Lemma 9: at a point with ``S(theta) = 2/eta``, ``r^2 = S_f(theta_bar)/(2/eta - lambda)``, so
  ``||D^k L(theta)||_op = ||D^k f(theta_bar)||_op / r^k``, i.e. ``rho_3 = Theta(eta^{-3/2})`` and
  ``rho_4 = O(eta^{-2})``.
* Lemma 10 (**corrected**): at a critical point of ``f``,
  ``alpha(theta) = -grad L . grad S = 2 lambda S_f(theta_bar) / r^2 = 2 lambda S_f(theta)``
  (the paper's value ``lambda S_f(theta_bar)/r^2`` inherits the factor 2 of Lemma 8).
* Lemma 11 (**corrected**): at a critical point of ``f``,
  ``alpha / (||grad L|| ||grad S||) = 1 / sqrt(1 + ||P grad S_f(theta_bar)||^2 / (2 S_f(theta_bar))^2)``,
  independent of ``r`` and ``lambda``.
* App. H's equivalence of minimisation problems: minimising ``L`` subject to ``S <= 2/eta``
  is, for each direction ``theta_bar``, solved by ``r^2 = eta S_f(theta_bar) / (2 - eta lambda)``,
  leaving the *reduced problem* on the unit sphere
  ``min f(theta_bar) + c S_f(theta_bar)`` with ``c = eta lambda / (2 (2 - eta lambda))``
  (**corrected**: the paper prints ``c = eta lambda / (2 - eta lambda)``, dropping the 1/2 of
  ``(lambda/2) r^2``).

Every function taking ``form=`` offers ``"corrected"`` (the default, the identity that holds) and
``"paper"`` (App. H as printed), so the chapter can show both against autodiff.

One concept per module:

* :mod:`.problem` -- :class:`ScaleInvariantProblem`, an exactly scale-invariant model (a
  two-layer tanh network on a synthetic teacher-student set, evaluated at
  ``R theta / ||theta||``), and :func:`make_problem`;
* :mod:`.geometry` -- ``theta_bar``, ``r`` and the tangent projector ``P``;
* :mod:`.forms` -- the ``"corrected"`` / ``"paper"`` switch;
* :mod:`.dense` -- dense curvature of tiny models (``jax.hessian`` + ``eigh``, Lemma 2's
  ``grad S``, derivative tensors), the independent reference;
* :mod:`.tensor_norm` -- operator norms of symmetric tensors (SS-HOPM);
* :mod:`.identities` -- Lemmas 7, 8, 10, 11 and Corollaries 2-3;
* :mod:`.checks` -- the identities against autodiff, as table rows;
* :mod:`.lemma9` -- the radius at ``S = target/eta`` and the scaling of ``rho_3, rho_4``;
* :mod:`.reduced` -- the reduced problem and its minimisation on the sphere;
* :mod:`.weight_decay` -- gradient descent on ``L``.
"""

from __future__ import annotations

from eos.theory.scale_invariant.checks import identity_checks
from eos.theory.scale_invariant.dense import (
    MAX_DENSE_PARAMS,
    DenseCurvature,
    dense_curvature,
    dense_sharpness,
    derivative_tensor,
    sharpness_gradient_dense,
)
from eos.theory.scale_invariant.forms import FORMS, Form
from eos.theory.scale_invariant.geometry import normalize, tangent_projector
from eos.theory.scale_invariant.identities import (
    corollary2_hessian,
    corollary3_cosine,
    lemma7_gradient,
    lemma7_hessian,
    lemma8_sharpness_gradient,
    lemma10_alpha,
    lemma11_ratio,
)
from eos.theory.scale_invariant.lemma9 import (
    Lemma9Result,
    lemma9_closed_form,
    lemma9_scaling,
    radius_for_sharpness,
)
from eos.theory.scale_invariant.problem import ScaleInvariantProblem, make_problem
from eos.theory.scale_invariant.reduced import (
    ReducedSolution,
    critical_point_on_sphere,
    minimize_reduced,
    reduced_coefficient,
    reduced_objective,
)
from eos.theory.scale_invariant.tensor_norm import symmetric_tensor_norm
from eos.theory.scale_invariant.weight_decay import GDWeightDecayResult, run_gd_weight_decay

__all__ = [
    "FORMS",
    "MAX_DENSE_PARAMS",
    "DenseCurvature",
    "Form",
    "GDWeightDecayResult",
    "Lemma9Result",
    "ReducedSolution",
    "ScaleInvariantProblem",
    "corollary2_hessian",
    "corollary3_cosine",
    "critical_point_on_sphere",
    "dense_curvature",
    "dense_sharpness",
    "derivative_tensor",
    "identity_checks",
    "lemma7_gradient",
    "lemma7_hessian",
    "lemma8_sharpness_gradient",
    "lemma9_closed_form",
    "lemma9_scaling",
    "lemma10_alpha",
    "lemma11_ratio",
    "make_problem",
    "minimize_reduced",
    "normalize",
    "radius_for_sharpness",
    "reduced_coefficient",
    "reduced_objective",
    "run_gd_weight_decay",
    "sharpness_gradient_dense",
    "symmetric_tensor_norm",
    "tangent_projector",
]
