"""Gradient descent with weight decay on a scale-invariant loss (App. H's setting; Sec. 7.3).

``theta_{t+1} = theta_t - eta grad L(theta_t)`` with ``L = f + (lambda/2) ||theta||^2``. Weight
decay shrinks ``||theta||``, which raises ``S = S_f(tb) / ||theta||^2 + lambda`` until GD reaches
the edge of stability ``S = 2/eta``; self-stabilization then keeps ``S`` near ``2/eta`` while
the direction ``tb`` drifts towards the solution of App. H's reduced problem
(:mod:`.reduced`). Records are taken at the two-step average of the iterates, which removes the
period-2 oscillation along ``u`` to first order.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from eos.theory.scale_invariant.dense import check_dense
from eos.theory.scale_invariant.geometry import normalize
from eos.theory.scale_invariant.problem import ScaleInvariantProblem
from eos.validate import positive_int, positive_number

Array = jax.Array

__all__ = ["GDWeightDecayResult", "run_gd_weight_decay"]


@dataclass(frozen=True)
class GDWeightDecayResult:
    """Gradient descent on ``L = f + (lambda/2)||theta||^2`` recorded every ``record_every`` steps.

    Arrays (one entry per record): ``step``; ``loss`` (``L(theta_t)``); ``f``; ``norm``
    (``||theta_t||``); ``sharpness`` (``S(theta_t)``); and, at the two-step average
    ``theta_tilde = (theta_{t-1} + theta_t)/2`` (which removes the period-2 oscillation along
    ``u`` to first order): ``avg_norm``, ``avg_f``, ``avg_sharpness`` (``S(theta_tilde)``),
    ``normalized_sharpness`` (``S_f(theta_tilde / ||theta_tilde||)``). ``theta_prev, theta_last``:
    the final two iterates.
    """

    lr: float
    lam: float
    arrays: dict[str, np.ndarray]
    theta_prev: np.ndarray
    theta_last: np.ndarray

    @property
    def endpoint(self) -> np.ndarray:
        """The two-step average of the last two iterates."""
        return 0.5 * (self.theta_prev + self.theta_last)


def run_gd_weight_decay(
    problem: ScaleInvariantProblem,
    theta0: Array,
    *,
    lr: float,
    steps: int,
    record_every: int = 10,
) -> GDWeightDecayResult:
    """``theta_{t+1} = theta_t - eta grad L(theta_t)`` (App. H's setting; Sec. 7.3), jitted.

    Runs in the dtype of ``theta0`` (use float64). Sharpness values are dense ``eigh`` of
    ``jax.hessian`` (tiny models).
    """
    lr = positive_number(lr, "lr")
    steps = positive_int(steps, "steps", minimum=2)
    record_every = positive_int(record_every, "record_every")
    theta0 = jnp.asarray(theta0)
    check_dense(theta0, "run_gd_weight_decay")
    n_rec = steps // record_every
    if n_rec < 1:
        raise ValueError(f"steps={steps} must be >= record_every={record_every}")
    grad_L = jax.grad(problem.loss)
    lam = problem.lam
    eta = jnp.asarray(lr, theta0.dtype)

    def top_eig(f, x):
        H = jax.hessian(f)(x)
        return jnp.linalg.eigvalsh(0.5 * (H + H.T))[-1]

    def inner(theta, _):
        new = theta - eta * grad_L(theta)
        return new, None

    def outer(carry, _):
        theta = carry
        theta_prev, _ = jax.lax.scan(inner, theta, None, length=record_every - 1)
        theta_new = theta_prev - eta * grad_L(theta_prev)
        avg = 0.5 * (theta_prev + theta_new)
        tb, r_avg = normalize(avg)
        sf_bar = top_eig(problem.f, tb)
        rec = {
            "loss": problem.loss(theta_new),
            "f": problem.f(theta_new),
            "norm": jnp.linalg.norm(theta_new),
            "sharpness": top_eig(problem.f, theta_new) + lam,
            "avg_norm": r_avg,
            "avg_f": problem.f(avg),
            "avg_sharpness": sf_bar / r_avg**2 + lam,
            "normalized_sharpness": sf_bar,
            "prev": theta_prev,
        }
        return theta_new, rec

    @jax.jit
    def run(theta):
        return jax.lax.scan(outer, theta, None, length=n_rec)

    theta_last, rec = run(theta0)
    prev = np.asarray(rec.pop("prev")[-1])
    arrays = {k: np.asarray(v) for k, v in rec.items()}
    arrays["step"] = np.arange(1, n_rec + 1) * record_every
    return GDWeightDecayResult(float(lr), float(lam), arrays, prev, np.asarray(theta_last))
