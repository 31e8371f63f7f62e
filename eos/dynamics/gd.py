"""Full-batch gradient descent ``theta_{t+1} = theta_t - eta grad L(theta_t)`` (Sec. 3), and the
checks shared by every driver in :mod:`eos.dynamics` (argument validation, divergence).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DivergenceError", "check_lr", "check_steps", "gd_step", "is_diverged"]


class DivergenceError(ValueError):
    """Gradient descent diverged (non-finite or exploding loss).

    A ``ValueError`` because the cause is an argument: the learning rate is too large for this
    model and initialisation. ``step`` is the first step at which divergence was detected.
    """

    def __init__(self, message: str, *, step: int) -> None:
        super().__init__(message)
        self.step = int(step)


def gd_step(grad: jax.Array, theta: jax.Array, lr: float) -> jax.Array:
    """One GD step ``theta - eta grad`` in the dtype of ``theta``."""
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
    """A positive finite learning rate, else ``ValueError``."""
    try:
        value = float(lr)
    except (TypeError, ValueError) as err:
        raise ValueError(f"lr must be a positive number, got {lr!r}") from err
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"lr must be a positive finite number (the step size eta), got {lr!r}")
    return value


def check_steps(steps: Any, name: str = "steps") -> int:
    """A positive integer number of steps, else ``ValueError``."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise ValueError(f"{name} must be a positive integer, got {steps!r}")
    return int(steps)


def check_point(theta: Any, name: str) -> jax.Array:
    """A flat, finite floating-point parameter vector, else ``ValueError``."""
    a = jnp.asarray(theta)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        raise ValueError(
            f"{name} must be a floating-point array (float32 or float64), got {a.dtype}"
        )
    if a.ndim != 1 or a.shape[0] < 1:
        raise ValueError(f"{name} must be a flat (1-D) parameter vector, got shape {a.shape}")
    if not bool(jnp.all(jnp.isfinite(a))):
        raise ValueError(f"{name} contains non-finite values (nan or inf)")
    return a


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
