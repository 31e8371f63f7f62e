r"""Curvature: derivatives, Hessian eigenpairs, sharpness and tensor norms, matrix-free.

Everything here works from Hessian-vector products and higher directional derivatives of a
scalar function ``f`` of a flat parameter vector ``x`` (or from a given matvec
``v -> H v``); the Hessian, let alone a third- or fourth-derivative tensor, is never formed
unless a caller asks for free indices of :func:`D` on a tiny problem. Numbers refer to the
paper (``/work/shared/paper/self-stabilization.md``).

One concept per module:

* :mod:`~eos.curvature.derivatives`: the one directional-derivative operator
  :func:`D` (:math:`\nabla^m f(x)[v_1, \dots, v_j]`, forward-over-reverse, orders 1-4),
  :func:`hvp` and Lemma 2's :func:`sharpness_gradient` :math:`\nabla S = \nabla^3 L(u, u)`;
* :mod:`~eos.curvature.lanczos`: the Lanczos solvers, the thick-restart block solver behind
  :func:`eigenpairs` and the tracker's single-vector warm-started :func:`lanczos_top` (the
  ``k = 1`` case with a fused first product);
* :mod:`~eos.curvature.eigen`: the one eigen entry point :func:`eigenpairs` (``which="top"``
  or ``"bottom"``) on an operator, either :func:`hessian` ``(f, x)`` or a matvec, and the
  conveniences :func:`sharpness` (Definition 1), :func:`lambda_min` (Assumption 5) and
  :func:`lambda_2` (App. D.3's stopping rule);
* :mod:`~eos.curvature.tensor_norms`: :func:`tensor_norm`, :func:`rho3`, :func:`rho4`
  (:math:`\|\nabla^3 L\|_{op}`, :math:`\|\nabla^4 L\|_{op}`, Assumption 3, App. E);
* ``_calling``: the argument checks and the compilation with ``f`` static shared by all.

Example (``objective`` an :class:`eos.objective.Objective`, ``p`` a flat point)::

    from jax.tree_util import Partial
    from eos import curvature

    S, u = curvature.sharpness(curvature.hessian(objective.fn, p))
    S, u = curvature.sharpness(Partial(objective.hvp, p), u)     # ghost-batched HVPs
    vals, vecs, info = curvature.eigenpairs(curvature.hessian(objective.fn, p), U0, which="bottom")
    grad_S = curvature.sharpness_gradient(objective.fn, p, u)     # Lemma 2
"""

from __future__ import annotations

from eos.curvature.derivatives import D, hvp, sharpness_gradient
from eos.curvature.eigen import (
    DEFAULT_MAX_ITERS,
    DEFAULT_TOL,
    Hessian,
    eigenpairs,
    hessian,
    lambda_2,
    lambda_min,
    sharpness,
)
from eos.curvature.lanczos import EigenInfo, LanczosResult, lanczos_top
from eos.curvature.tensor_norms import TensorNormInfo, rho3, rho4, tensor_norm

__all__ = [
    "DEFAULT_MAX_ITERS",
    "DEFAULT_TOL",
    "D",
    "EigenInfo",
    "Hessian",
    "LanczosResult",
    "TensorNormInfo",
    "eigenpairs",
    "hessian",
    "hvp",
    "lambda_2",
    "lambda_min",
    "lanczos_top",
    "rho3",
    "rho4",
    "sharpness",
    "sharpness_gradient",
    "tensor_norm",
]
