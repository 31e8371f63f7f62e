"""Full-batch gradient descent ``theta_{t+1} = theta_t - eta d_t`` (Sec. 3): the update, written
once (:func:`gd_step`), and the divergence test and error shared by every driver in
:mod:`eos.dynamics` (:func:`eos.dynamics.to_instability`, :func:`eos.dynamics.track`,
:func:`eos.dynamics.run_gd`).

``d_t = grad L(theta_t)`` for gradient descent; SAM (:mod:`eos.dynamics.sam`) uses a perturbed
gradient, and a schedule (:mod:`eos.dynamics.schedules`) varies ``eta`` with ``t``.

``check_lr``, ``check_steps`` and ``check_point`` are the argument checks of :mod:`eos.validate`
under the names the drivers import.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from eos import validate as _validate

__all__ = [
    "DivergenceError",
    "check_lr",
    "check_point",
    "check_steps",
    "divergence_message",
    "gd_step",
    "is_diverged",
]


class DivergenceError(ValueError):
    """Gradient descent diverged (non-finite or exploding loss).

    A ``ValueError`` because the cause is an argument: the learning rate is too large for this
    model and initialisation. ``step`` is the first step at which divergence was detected;
    ``run`` is the partial record up to and including that step, where the driver keeps one
    (:class:`eos.dynamics.GDRun` for :func:`eos.dynamics.run_gd`), else ``None``.
    """

    def __init__(self, message: str, *, step: int, run: Any = None) -> None:
        super().__init__(message)
        self.step = int(step)
        self.run = run


def gd_step(grad: jax.Array, theta: jax.Array, lr: Any) -> jax.Array:
    """One GD step ``theta - eta grad`` in the dtype of ``theta`` (``lr`` may be traced)."""
    return theta - jnp.asarray(lr, theta.dtype) * grad


def is_diverged(loss: float, reference: float, factor: float) -> bool:
    """Divergence test: ``loss`` is not finite or ``|loss| > factor * max(|reference|, 1)``.

    The floor 1 keeps the test meaningful when the starting loss is close to 0 (or the loss
    can be negative, as for the toy model of App. B).
    """
    if not math.isfinite(loss):
        return True
    return abs(loss) > factor * max(abs(reference), 1.0)


def check_lr(lr: Any) -> float:
    """A positive finite learning rate, else ``ValueError`` (:func:`eos.validate.positive_number`)."""
    return _validate.positive_number(lr, "lr", what="the step size eta")


def check_steps(steps: Any, name: str = "steps") -> int:
    """A positive integer number of steps, else ``ValueError`` (:func:`eos.validate.positive_int`)."""
    return _validate.positive_int(steps, name)


def check_point(theta: Any, name: str) -> jax.Array:
    """A flat, finite floating-point parameter vector, else ``ValueError``
    (:func:`eos.validate.flat_vector`)."""
    return _validate.flat_vector(theta, name)


def divergence_message(what: str, step: int, loss: float, lr: float, reference: float) -> str:
    """The error text for a diverged run: where, how, and what to try."""
    how = (
        "a non-finite loss"
        if not math.isfinite(loss)
        else f"loss {loss:.4g} (start {reference:.4g})"
    )
    return (
        f"{what} diverged at step {step} with {how} at lr={lr:g}. Try a smaller learning rate "
        f"(e.g. lr={lr / 2:g}), or check the initialisation and the data scaling."
    )
