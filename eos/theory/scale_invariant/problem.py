"""The scale-invariant model of App. H and its weight-decayed training loss.

A loss ``f`` is *scale invariant* when ``f(c theta) = f(theta)`` for every ``c > 0``; App. H
trains ``L(theta) = f(theta) + (lambda/2) ||theta||^2``. :class:`ScaleInvariantProblem` is an
exactly scale-invariant ``f``: a two-layer tanh network evaluated at the parameter vector
normalised to a fixed radius, ``f(theta) = g(R theta / ||theta||)``, on a small synthetic
teacher-student regression set (:func:`make_problem`). Its ``f`` and ``loss`` are plain scalar
functions of a flat vector (usable with :mod:`eos.curvature` and
``eos.objective.Objective.from_function``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp
import numpy as np

from eos.validate import positive_int, positive_number

Array = jax.Array

__all__ = ["ScaleInvariantProblem", "make_problem"]


@dataclass(frozen=True, eq=False)
class ScaleInvariantProblem:
    """An exactly scale-invariant loss and its weight-decayed training loss.

    ``g(w)`` is the mean squared error ``(1/2n) sum_i (a . tanh(W x_i) - y_i)^2`` of a two-layer
    tanh network with parameters ``w = (vec W, a)`` (``W`` is ``hidden x input_dim``, no biases),
    and ``f(theta) = g(radius * theta / ||theta||)``, so ``f(c theta) = f(theta)`` for all
    ``c > 0`` exactly (the network lives on the sphere of radius ``radius``). The training loss is
    ``loss(theta) = f(theta) + (lam/2) ||theta||^2`` (App. H's ``L``).

    Instances are immutable; ``f``, ``g`` and ``loss`` are pure functions of a flat parameter
    vector, computed in the dtype of that vector.
    """

    inputs: Array
    targets: Array
    hidden: int
    lam: float
    radius: float = 2.0
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.inputs.ndim != 2:
            raise ValueError(f"inputs must have shape (n, input_dim), got {self.inputs.shape}")
        if self.targets.shape != (self.inputs.shape[0],):
            raise ValueError(
                f"targets must have shape ({self.inputs.shape[0]},), got {self.targets.shape}"
            )
        positive_int(self.hidden, "hidden")
        positive_number(self.lam, "lam", allow_zero=True)
        positive_number(self.radius, "radius")

    @property
    def input_dim(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def num_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def num_params(self) -> int:
        return self.hidden * self.input_dim + self.hidden

    def with_lam(self, lam: float) -> ScaleInvariantProblem:
        """The same ``f`` with another weight-decay strength."""
        return replace(self, lam=lam)

    def predict(self, w: Array) -> Array:
        """Network outputs at (unnormalised) parameters ``w``."""
        k = self.hidden * self.input_dim
        W = w[:k].reshape(self.hidden, self.input_dim)
        a = w[k:]
        return jnp.tanh(self.inputs.astype(w.dtype) @ W.T) @ a

    def g(self, w: Array) -> Array:
        """The (not scale-invariant) network loss at parameters ``w``."""
        resid = self.predict(w) - self.targets.astype(w.dtype)
        return 0.5 * jnp.mean(resid**2)

    def f(self, theta: Array) -> Array:
        """The scale-invariant loss ``f(theta) = g(R theta / ||theta||)``."""
        return self.g(self.radius * theta / jnp.linalg.norm(theta))

    def loss(self, theta: Array) -> Array:
        """``L(theta) = f(theta) + (lam/2) ||theta||^2``."""
        return self.f(theta) + 0.5 * jnp.asarray(self.lam, theta.dtype) * jnp.vdot(theta, theta)

    def align(self, theta: Array, reference: Array) -> np.ndarray:
        """The copy of ``theta`` under the network's symmetries that is closest to ``reference``.

        ``tanh`` is odd, so flipping the sign of a hidden unit's incoming and outgoing weights,
        ``(W_j, a_j) -> (-W_j, -a_j)``, and permuting hidden units leave ``f`` unchanged (and, being
        orthogonal maps, commute with normalisation). The best sign per pair of units and the best
        permutation (an assignment problem, solved exactly by ``scipy.optimize.linear_sum_assignment``)
        minimise ``||aligned - reference||``. Compare minimisers found from different starts with
        ``np.linalg.norm(problem.align(x, y) - y)``.
        """
        from scipy.optimize import linear_sum_assignment

        k = self.hidden * self.input_dim

        def units(v: np.ndarray) -> np.ndarray:  # (hidden, input_dim + 1): row j = (W_j, a_j)
            return np.concatenate([v[:k].reshape(self.hidden, self.input_dim), v[k:, None]], axis=1)

        x = units(np.asarray(theta, dtype=np.float64))
        y = units(np.asarray(reference, dtype=np.float64))
        plus = ((y[:, None, :] - x[None, :, :]) ** 2).sum(-1)  # cost[j, i]: ref unit j <- unit i
        minus = ((y[:, None, :] + x[None, :, :]) ** 2).sum(-1)
        rows, cols = linear_sum_assignment(np.minimum(plus, minus))
        signs = np.where(minus[rows, cols] < plus[rows, cols], -1.0, 1.0)
        out = x[cols] * signs[:, None]
        return np.concatenate([out[:, :-1].ravel(), out[:, -1]])

    def init(self, key: Array, *, norm: float = 1.0, dtype=jnp.float64) -> Array:
        """A random parameter vector of Euclidean norm ``norm`` (direction uniform on the sphere)."""
        positive_number(norm, "norm")
        x = jax.random.normal(key, (self.num_params,), dtype=dtype)
        return x * (norm / jnp.linalg.norm(x))


def make_problem(
    *,
    n: int = 40,
    input_dim: int = 3,
    hidden: int = 4,
    teacher_hidden: int = 3,
    noise: float = 0.1,
    lam: float = 0.01,
    radius: float = 2.0,
    seed: int = 0,
    dtype=jnp.float64,
) -> ScaleInvariantProblem:
    """A synthetic teacher-student regression set and its :class:`ScaleInvariantProblem`.

    Inputs ``x_i ~ N(0, I_input_dim)``; targets ``y_i = a* . tanh(W* x_i) + noise * xi_i`` from a
    random teacher with ``teacher_hidden`` units (``W*`` entries ``N(0, 1/input_dim)``, ``a*``
    entries ``N(0, 1)``) and Gaussian label noise. With ``n`` larger than the number of
    parameters and ``noise > 0`` the minimisers of ``f`` on the sphere are isolated.
    """
    sizes = {"n": n, "input_dim": input_dim, "hidden": hidden, "teacher_hidden": teacher_hidden}
    for name, value in sizes.items():
        positive_int(value, name)
    positive_number(noise, "noise", allow_zero=True)
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(seed), 4)
    X = jax.random.normal(k1, (n, input_dim), dtype=dtype)
    Wt = jax.random.normal(k2, (teacher_hidden, input_dim), dtype=dtype) / math.sqrt(input_dim)
    at = jax.random.normal(k3, (teacher_hidden,), dtype=dtype)
    y = jnp.tanh(X @ Wt.T) @ at + noise * jax.random.normal(k4, (n,), dtype=dtype)
    desc = (
        f"synthetic teacher-student regression: n={n}, input_dim={input_dim}, "
        f"teacher_hidden={teacher_hidden}, noise={noise}; student hidden={hidden}, "
        f"radius={radius}, seed={seed}"
    )
    return ScaleInvariantProblem(X, y, int(hidden), float(lam), float(radius), desc)
