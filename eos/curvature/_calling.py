"""Calling conventions of :mod:`eos.curvature`: argument checks, and compilation with ``f`` static.

* Every public entry point checks its arguments in Python, before anything is traced, and
  raises a ``ValueError`` that names the argument (the generic checks are those of
  :mod:`eos.validate`). Value checks (finiteness) are skipped for tracers, so every function
  also works inside an outer ``jax.jit`` / ``lax.fori_loop`` / ``lax.scan``.
* A function that takes a scalar function ``f`` is compiled here with ``f`` static
  (:func:`maybe_jit`, one compilation per ``f``): pass a *stable* function
  (``objective.fn``), not a fresh lambda per call. An unhashable ``f`` runs uncompiled.
* Everything computes in the dtype of the point (float32 or float64).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eos import validate

__all__ = [
    "check_block",
    "check_like",
    "check_max_iters",
    "check_point",
    "check_tols",
    "is_tracer",
    "maybe_jit",
]


def is_tracer(a: Any) -> bool:
    return isinstance(a, jax.core.Tracer)


def check_point(x: Any, name: str = "x") -> jax.Array:
    """A flat, non-empty floating-point array; finite when concrete."""
    return validate.flat_vector(x, name)


def check_like(v: Any, d: int, dtype: Any, name: str, ndim: int = 1) -> jax.Array:
    """An array of shape (d,) (ndim=1) or (d, k) (ndim=2) cast to ``dtype``; finite if concrete."""
    if not hasattr(v, "shape"):
        v = np.asarray(v)
    if v.ndim != ndim or v.shape[0] != d:
        want = f"({d},)" if ndim == 1 else f"({d}, k)"
        raise ValueError(f"{name} must have shape {want} to match x, got shape {tuple(v.shape)}")
    if not (jnp.issubdtype(v.dtype, jnp.floating) or jnp.issubdtype(v.dtype, jnp.integer)):
        raise ValueError(f"{name} must be a real floating-point array, got dtype {v.dtype}")
    v = jnp.asarray(v, dtype=dtype)
    if not is_tracer(v) and not bool(jnp.all(jnp.isfinite(v))):
        raise ValueError(f"{name} contains non-finite values (nan or inf)")
    return v


def check_block(U0: Any, d: int, dtype: Any, name: str = "U0") -> jax.Array:
    """A ``(d, k)`` start block with ``1 <= k <= d``, cast to ``dtype``."""
    U0 = check_like(U0, d, dtype, name, ndim=2)
    k = U0.shape[1]
    if k < 1:
        raise ValueError(f"{name} must have at least one column (k >= 1)")
    if k > d:
        raise ValueError(f"{name} asks for k={k} eigenpairs but the dimension is only d={d}")
    return U0


def check_tols(tol: Any, atol: Any) -> None:
    """Relative and absolute residual tolerances: finite, ``>= 0``, not both 0."""
    for name, t in (("tol", tol), ("atol", atol)):
        if not is_tracer(t):
            validate.positive_number(t, name, allow_zero=True)
    if not is_tracer(tol) and not is_tracer(atol) and float(tol) == 0 and float(atol) == 0:
        raise ValueError("tol and atol cannot both be 0 (the solver could never stop early)")


def check_max_iters(max_iters: Any) -> Any:
    """A Python int >= 1 (a tracer passes unchecked: the loop bound may be dynamic)."""
    if is_tracer(max_iters):
        return max_iters
    return validate.positive_int(max_iters, "max_iters")


def _hashable(f: Any) -> bool:
    try:
        hash(f)
    except TypeError:
        return False
    return True


def maybe_jit(impl: Callable, f: Any, static: tuple[str, ...]) -> Callable:
    """``impl`` compiled with ``f`` static when ``f`` is hashable (cached per ``f``)."""
    if _hashable(f):
        return jitted(impl, static)
    return impl


@functools.cache
def jitted(impl: Callable, static: tuple[str, ...]) -> Callable:
    """``jax.jit(impl, static_argnames=static)``, one per ``(impl, static)``."""
    return jax.jit(impl, static_argnames=static)
