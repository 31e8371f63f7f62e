"""Argument checks shared by the whole package: one place for "a positive number", "a positive
integer" and "a flat parameter vector".

Every public entry point validates its arguments in Python, before anything is traced or
compiled, and raises a ``ValueError`` that names the argument, states what was expected and
shows what was given, e.g. ``lr must be a finite number > 0 (the step size eta), got -0.1``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["flat_vector", "parameter_vector", "positive_int", "positive_number"]


def positive_number(value: Any, name: str, *, what: str = "", allow_zero: bool = False) -> float:
    """``value`` as a float if it is finite and ``> 0`` (``>= 0`` with ``allow_zero``).

    ``what`` is an optional explanation appended to the name in the message, e.g.
    ``"the step size eta"``. Booleans are refused (``True`` is not a learning rate).
    """
    label = f"{name} ({what})" if what else name
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool):
        raise ValueError(f"{label} must be a finite number {bound}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a finite number {bound}, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{label} must be a finite number {bound}, got {value!r}")
    return number


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer ``>= minimum`` (booleans and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def flat_vector(value: Any, name: str, *, finite: bool = True) -> Any:
    """``value`` as a flat (1-D, non-empty) floating-point JAX array, finite unless
    ``finite=False``; a traced value is returned after the shape and dtype checks only."""
    import jax
    import jax.numpy as jnp

    a = jnp.asarray(value)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        raise ValueError(
            f"{name} must be a floating-point array (float32 or float64), got {a.dtype}"
        )
    if a.ndim != 1 or a.shape[0] < 1:
        raise ValueError(f"{name} must be a flat (1-D) parameter vector, got shape {a.shape}")
    if finite and not isinstance(a, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(a))):
        raise ValueError(f"{name} contains non-finite values (nan or inf)")
    return a


def parameter_vector(
    value: Any, name: str, num_params: int | None, *, columns: bool = False
) -> Any:
    """``value`` as a JAX array whose first axis has ``num_params`` entries: shape
    ``(num_params,)``, or ``(num_params, k)`` with ``columns``. Checks the shape only (no
    device sync, traced values pass); ``num_params=None`` checks nothing but the rank."""
    import jax.numpy as jnp

    a = jnp.asarray(value)
    ranks = (1, 2) if columns else (1,)
    if a.ndim not in ranks or (num_params is not None and a.shape[0] != num_params):
        want = f"({num_params},)" if num_params is not None else "(d,)"
        if columns:
            want += f" or ({num_params if num_params is not None else 'd'}, k)"
        raise ValueError(
            f"{name} must have shape {want} (one entry per parameter of the objective), "
            f"got shape {a.shape}"
        )
    return a
