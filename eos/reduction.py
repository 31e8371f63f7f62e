r"""Exact reduction of the MLP's input layer to the row space of its training inputs.

The MLP (App. D) sees its first-layer kernel :math:`K \in \mathbb R^{d_{in}\times m}` only through
:math:`XK`, where :math:`X \in \mathbb R^{n\times d_{in}}` holds the flattened training inputs. Let
the columns of :math:`V \in \mathbb R^{d_{in}\times r}` be an orthonormal basis of the row space of
:math:`X` (:math:`r = \operatorname{rank} X \le n`, from a thin SVD :math:`X = U\Sigma V^\top`) and
:math:`V_\perp` complete it. In the orthogonal coordinates
:math:`K = V\tilde K + V_\perp K_\perp` the loss depends on :math:`\tilde K = V^\top K` alone,
since :math:`XK = (XV)\tilde K = U\Sigma\tilde K`. Hence :math:`\nabla_K L = X^\top\delta = V (U\Sigma)^\top\delta`
lies in :math:`\operatorname{range}(V)`, and so do every Hessian-vector product, the sharpness
gradient :math:`\nabla S = \nabla^3L(u,u)` (Lemma 2) and the top eigenvectors:
:math:`K_\perp` has zero gradient, Hessian and higher derivatives.

Every trajectory of the paper moves only along such vectors: gradient descent, gradient flow,
the constrained trajectory :math:`\theta^\dagger` (eq. (2): steps along :math:`\nabla L`,
:math:`\nabla S^\perp` and :math:`u`, Lemma 13), the predicted dynamics (eq. (5)-(6): along
:math:`u`, :math:`\nabla S^\perp` and :math:`\nabla^2 L\,v`) and App. F's generalized ones. Started
from the same point they keep :math:`K_\perp` fixed, and everything they record (losses,
eigenvalues, inner products such as :math:`x_t = u_t\cdot v_t`, norms of differences such as
:math:`\|\theta_t - \theta^\dagger_t\|`, training accuracy) is invariant under the orthogonal map.
So they can be computed with the *same network on the inputs* :math:`XV = U\Sigma` (:math:`n\times r`)
and :math:`r m` instead of :math:`d_{in}m` first-layer weights: for the MLP on 1,000 CIFAR-10 images,
242,410 parameters instead of 656,810, and each gradient or Hessian-vector product is about 2.6
times cheaper (``benchmarks/tracking.py``). The results agree with the full computation up to
rounding (``tests/test_reduction.py``). Nothing is gained when :math:`n \ge d_{in}` (the paper's
5,000 images), and the reduction applies to training quantities only: held-out inputs are not in
the row space, so evaluate them with the full objective at :meth:`RowSpace.lift`\ ed parameters.

:func:`row_space` builds the reduction; :class:`RowSpace` maps points (:meth:`~RowSpace.reduce`,
:meth:`~RowSpace.lift`) and tangent vectors (:meth:`~RowSpace.lift_direction`) between the
coordinates.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from eos import models as _models
from eos.objective import Objective, build

__all__ = ["RowSpace", "row_space", "supports_row_space"]

_LAYER = "Dense_0"  # flax's name for the MLP's first Dense layer


def _unsupported(objective: Objective) -> str | None:
    """Why :func:`row_space` cannot reduce ``objective`` (``None``: it can)."""
    model = getattr(objective, "model", None)
    if not isinstance(model, _models.MLP) or getattr(objective, "dataset", None) is None:
        return (
            "row_space needs an MLP objective built by eos.objective.build (its first layer is "
            f"dense on the flattened input); got model {type(model).__name__}"
        )
    if objective.dataset.metadata.get("row_space"):
        return "this objective is already reduced to the row space of its inputs"
    return None


def supports_row_space(objective: Objective) -> bool:
    """Whether :func:`row_space` applies and saves work: an MLP objective built by
    :func:`eos.objective.build` on fewer training examples than input features."""
    if _unsupported(objective) is not None:
        return False
    ds = objective.dataset
    x = np.asarray(ds.inputs)
    return bool(np.issubdtype(x.dtype, np.floating) and len(ds) < int(np.prod(x.shape[1:])))


@dataclass(frozen=True, eq=False)
class RowSpace:
    """The reduced objective and the maps between full and reduced coordinates.

    Attributes:
        objective: the same network on the inputs :math:`XV` (:math:`n\\times r`), an
            :class:`~eos.objective.Objective` over the reduced flat vector.
        full: the original objective.
        basis: :math:`V`, ``(d_in, r)`` with orthonormal columns (float64).
        frozen: :math:`V_\\perp V_\\perp^\\top K_{ref}`, the first-layer kernel's component that no
            trajectory changes, ``(d_in, m)`` (float64), taken from the reference point.
        digest: a hash of ``basis`` (checkpoints written in reduced coordinates carry it).
    """

    objective: Objective
    full: Objective
    basis: jax.Array
    frozen: jax.Array
    digest: str

    @property
    def rank(self) -> int:
        """:math:`r`, the dimension of the row space."""
        return int(self.basis.shape[1])

    def describe(self) -> dict[str, Any]:
        """Provenance: the rank, both parameter counts and the basis digest."""
        return {
            "rank": self.rank,
            "num_params": int(self.objective.num_params),
            "full_num_params": int(self.full.num_params),
            "digest": self.digest,
        }

    def reduce(self, theta: jax.Array) -> jax.Array:
        """Full point or tangent vector -> reduced coordinates (:math:`\\tilde K = V^\\top K`); the
        :math:`K_\\perp` part is dropped. Keeps the dtype of ``theta``."""
        theta = jnp.asarray(theta)
        if theta.shape != (self.full.num_params,):
            raise ValueError(
                f"reduce needs a full parameter vector of shape ({self.full.num_params},), "
                f"got {theta.shape}"
            )
        return _reduce(theta, self.full.unravel, self.basis)

    def lift(self, theta_r: jax.Array) -> jax.Array:
        """Reduced point -> full point (:math:`K = V\\tilde K + K_\\perp`, the frozen part added)."""
        return self._lift(theta_r, self.frozen)

    def lift_direction(self, v_r: jax.Array) -> jax.Array:
        """Reduced tangent vector (a gradient, an eigenvector, a displacement) -> full one
        (:math:`K = V\\tilde K`): norms and inner products are preserved."""
        return self._lift(v_r, jnp.zeros_like(self.frozen))

    def _lift(self, theta_r: jax.Array, frozen: jax.Array) -> jax.Array:
        theta_r = jnp.asarray(theta_r)
        if theta_r.shape != (self.objective.num_params,):
            raise ValueError(
                f"lift needs a reduced parameter vector of shape ({self.objective.num_params},), "
                f"got {theta_r.shape}"
            )
        return _lift(theta_r, self.objective.unravel, self.basis, frozen)


def _reduce(theta, unravel, basis):
    tree = unravel(theta)
    kernel = tree["params"][_LAYER]["kernel"]
    tree["params"][_LAYER]["kernel"] = (basis.T @ kernel.astype(basis.dtype)).astype(theta.dtype)
    return ravel_pytree(tree)[0]


def _lift(theta_r, unravel, basis, frozen):
    tree = unravel(theta_r)
    kernel = tree["params"][_LAYER]["kernel"]
    full = basis @ kernel.astype(basis.dtype) + frozen
    tree["params"][_LAYER]["kernel"] = full.astype(theta_r.dtype)
    return ravel_pytree(tree)[0]


_reduce = jax.jit(_reduce, static_argnums=1)
_lift = jax.jit(_lift, static_argnums=1)


def row_space(objective: Objective, reference: jax.Array, *, rtol: float | None = None) -> RowSpace:
    """The row-space reduction of an MLP ``objective`` (module docstring).

    Args:
        objective: built by :func:`eos.objective.build` with the MLP (any chunk size).
        reference: a full parameter vector (e.g. the initialisation ``p0``); its first-layer
            component outside the row space is the frozen part that :meth:`RowSpace.lift` adds.
        rtol: singular values below ``rtol * sigma_max`` count as zero (default
            ``max(n, d_in) * eps`` of float64); dropping them is exact up to that rounding.

    Raises:
        ValueError: the objective is not an MLP built from a data set, or the reference has
            the wrong shape.
    """
    reason = _unsupported(objective)
    if reason is not None:
        raise ValueError(reason)
    ds = objective.dataset
    reference = jnp.asarray(reference)
    if reference.shape != (objective.num_params,):
        raise ValueError(
            f"reference must be a full parameter vector of shape ({objective.num_params},), "
            f"got {reference.shape}"
        )
    x = np.asarray(ds.inputs, dtype=np.float64).reshape(len(ds), -1)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    if rtol is None:
        rtol = max(x.shape) * np.finfo(np.float64).eps
    r = max(1, int(np.sum(s > rtol * s[0]))) if s.size and s[0] > 0 else 1
    # A deterministic sign per direction (largest entry of each row of V^T positive), so the
    # coordinates do not depend on the LAPACK build's sign choices.
    signs = np.sign(vt[np.arange(r), np.argmax(np.abs(vt[:r]), axis=1)])
    signs[signs == 0] = 1.0
    basis = np.ascontiguousarray((vt[:r] * signs[:, None]).T)  # (d_in, r)
    inputs = np.ascontiguousarray(u[:, :r] * (s[:r] * signs))  # X V, (n, r)
    inputs.setflags(write=False)
    meta = dict(ds.metadata, row_space=True, row_space_rank=r, row_space_of=ds.name)
    reduced_ds = dataclasses.replace(ds, inputs=inputs, metadata=meta)
    reduced, _ = build(
        objective.model, reduced_ds, objective.criterion, chunk_size=objective.chunk_size
    )
    basis_j = jnp.asarray(basis)
    kernel = np.asarray(
        objective.unravel(reference.astype(jnp.float64))["params"][_LAYER]["kernel"]
    )
    frozen = kernel - basis @ (basis.T @ kernel)
    digest = hashlib.sha256(basis.tobytes()).hexdigest()[:16]
    return RowSpace(reduced, objective, basis_j, jnp.asarray(frozen), digest)
