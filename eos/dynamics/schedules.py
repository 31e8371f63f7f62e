"""Learning-rate schedules for (full-batch) gradient descent.

A schedule maps the step index ``t`` and the current sharpness ``S(theta_t)``
(Definition 1) to the learning rate ``eta_t`` used for the update
``theta_{t+1} = theta_t - eta_t grad L(theta_t)``. Three schedules appear in the
paper's discussion of what self-stabilization implies for training (Sec. 7.3,
App. G.1):

:class:`Constant`
    ``eta_t = eta``. Gradient descent then implicitly solves
    ``min L(theta)`` subject to ``S(theta) <= 2/eta`` (eq. (2)).
:class:`InverseSharpness`
    ``eta_t = c / S(theta_t)`` with ``c = 1`` by default: the "commonly proposed"
    schedule of App. G.1 (Fig. 6). With ``c < 2`` the step is always stable
    along the top eigenvector, since ``eta_t S(theta_t) = c``.
:class:`LinearWarmup`
    ``eta_t = eta_init + (eta_0 - eta_init) min(1, (t + 1)/T)``: the learning rate
    grows linearly over ``T`` steps to ``eta_0`` (Gilmer et al.; Sec. 7.3,
    "Connection to Warmup"). Each small increase puts ``S`` only slightly above
    ``2/eta_t`` and self-stabilization pushes it back down, so training reaches an
    ``eta_0`` whose ``2/eta_0`` is far below the initial sharpness.

Schedules are immutable pytrees (their numbers are array leaves). Each has
``needs_sharpness`` (whether the loop must compute ``S(theta_t)`` at every step) and
``pack()``, a fixed-size array read by :func:`packed_lr`, so that one jitted training loop
(:func:`eos.dynamics.run_gd`) serves every built-in schedule and learning rate without
recompiling.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from eos.validate import positive_int, positive_number

__all__ = [
    "Constant",
    "InverseSharpness",
    "LinearWarmup",
    "Schedule",
    "as_schedule",
    "constant",
    "inverse_sharpness",
    "linear_warmup",
    "packed_lr",
    "packed_needs_sharpness",
]


@runtime_checkable
class Schedule(Protocol):
    """``schedule(t, sharpness) -> eta_t`` (jit-compatible; ``sharpness`` may be ``None``
    when ``needs_sharpness`` is false)."""

    needs_sharpness: bool

    def __call__(self, step: jax.Array | int, sharpness: jax.Array | None = None) -> jax.Array: ...


KIND_CONSTANT, KIND_INVERSE_SHARPNESS, KIND_LINEAR_WARMUP = 0, 1, 2


def _pack(kind: int, a: Any, b: Any, c: Any) -> jax.Array:
    return jnp.stack([jnp.asarray(v, jnp.float64) for v in (kind, a, b, c)])


def packed_lr(packed: jax.Array, step: jax.Array, sharpness: jax.Array) -> jax.Array:
    """``eta_t`` of a schedule given as ``schedule.pack()`` (a length-4 array).

    One jitted training loop evaluates every built-in schedule through this function, so
    switching between constant, ``1/S`` and warmup schedules does not recompile it.
    Computes in the dtype of ``sharpness``.
    """
    dtype = jnp.asarray(sharpness).dtype
    kind, a, b, c = (packed[i] for i in range(4))
    a, b, c = (jnp.asarray(v, dtype) for v in (a, b, c))
    const = a
    inverse = jnp.minimum(a / sharpness, b)
    frac = jnp.minimum(1.0, (jnp.asarray(step, dtype) + 1) / jnp.where(kind == 2, b, 1.0))
    warm = c + (a - c) * frac
    return jnp.where(
        kind == KIND_CONSTANT, const, jnp.where(kind == KIND_INVERSE_SHARPNESS, inverse, warm)
    )


def packed_needs_sharpness(packed: jax.Array) -> jax.Array:
    """Whether the packed schedule needs ``S(theta_t)`` at every step (traced bool)."""
    return packed[0] == KIND_INVERSE_SHARPNESS


def _pytree(cls: type) -> type:
    """Register a frozen dataclass as a pytree whose fields are all data leaves."""
    fields = [f.name for f in dataclasses.fields(cls)]
    return jax.tree_util.register_dataclass(cls, data_fields=fields, meta_fields=[])


@_pytree
@dataclasses.dataclass(frozen=True)
class Constant:
    """``eta_t = lr`` for every step."""

    lr: Any

    needs_sharpness = False

    def __call__(self, step, sharpness=None):
        return jnp.asarray(self.lr)

    def pack(self) -> jax.Array:
        return _pack(KIND_CONSTANT, self.lr, 0.0, 0.0)

    @property
    def peak(self) -> float:
        """The largest learning rate the schedule reaches."""
        return float(self.lr)


@_pytree
@dataclasses.dataclass(frozen=True)
class InverseSharpness:
    """``eta_t = scale / S(theta_t)`` (App. G.1 uses ``scale = 1``).

    ``max_lr`` (optional, ``inf`` for none) caps ``eta_t``, which protects the very
    first steps of a run whose initial sharpness is tiny.
    """

    scale: Any = 1.0
    max_lr: Any = math.inf

    needs_sharpness = True

    def __call__(self, step, sharpness=None):
        if sharpness is None:
            raise ValueError("InverseSharpness needs the current sharpness S(theta_t)")
        sharpness = jnp.asarray(sharpness)
        return jnp.minimum(self.scale / sharpness, jnp.asarray(self.max_lr, sharpness.dtype))

    def pack(self) -> jax.Array:
        return _pack(KIND_INVERSE_SHARPNESS, self.scale, self.max_lr, 0.0)

    @property
    def peak(self) -> float:
        return float(self.max_lr)


@_pytree
@dataclasses.dataclass(frozen=True)
class LinearWarmup:
    """``eta_t = init_lr + (peak_lr - init_lr) min(1, (t + 1)/warmup_steps)``.

    Step ``t = 0`` already uses ``init_lr + (peak_lr - init_lr)/warmup_steps``; step
    ``warmup_steps - 1`` and every later step use ``peak_lr``.
    """

    peak_lr: Any
    warmup_steps: Any
    init_lr: Any = 0.0

    needs_sharpness = False

    def __call__(self, step, sharpness=None):
        t = jnp.asarray(step)
        peak = jnp.asarray(self.peak_lr)
        frac = jnp.minimum(1.0, (t + 1) / jnp.asarray(self.warmup_steps, peak.dtype))
        return self.init_lr + (peak - self.init_lr) * frac.astype(peak.dtype)

    def pack(self) -> jax.Array:
        return _pack(KIND_LINEAR_WARMUP, self.peak_lr, self.warmup_steps, self.init_lr)

    @property
    def peak(self) -> float:
        return float(self.peak_lr)


def constant(lr: float) -> Constant:
    """The constant schedule ``eta_t = lr``; ``lr`` must be ``> 0``."""
    return Constant(positive_number(lr, "lr"))


def inverse_sharpness(scale: float = 1.0, *, max_lr: float | None = None) -> InverseSharpness:
    """The schedule ``eta_t = scale / S(theta_t)`` of App. G.1 (``scale = 1``)."""
    scale = positive_number(scale, "scale")
    cap = math.inf if max_lr is None else positive_number(max_lr, "max_lr")
    return InverseSharpness(scale, cap)


def linear_warmup(peak_lr: float, warmup_steps: int, *, init_lr: float = 0.0) -> LinearWarmup:
    """Linear warmup from ``init_lr`` (``>= 0``) to ``peak_lr`` (``> 0``) over ``warmup_steps`` (``> 0``) steps."""
    peak = positive_number(peak_lr, "peak_lr")
    if isinstance(warmup_steps, float) and warmup_steps.is_integer():
        warmup_steps = int(warmup_steps)
    steps = positive_int(warmup_steps, "warmup_steps")
    start = positive_number(init_lr, "init_lr", allow_zero=True)
    if start > peak:
        raise ValueError(f"init_lr must satisfy 0 <= init_lr <= peak_lr={peak}, got {init_lr!r}")
    return LinearWarmup(peak, steps, start)


def as_schedule(lr: Any) -> Schedule:
    """``lr`` as a validated schedule: a number becomes :func:`constant`; a built-in schedule
    is re-checked through its factory (the dataclasses themselves accept anything)."""
    if isinstance(lr, Constant):
        return constant(lr.lr)
    if isinstance(lr, InverseSharpness):
        cap = None if not math.isfinite(float(lr.max_lr)) else float(lr.max_lr)
        return inverse_sharpness(lr.scale, max_lr=cap)
    if isinstance(lr, LinearWarmup):
        return linear_warmup(lr.peak_lr, float(lr.warmup_steps), init_lr=lr.init_lr)
    if callable(lr):
        raise ValueError(
            "lr must be a number or an eos.dynamics.schedules schedule "
            "(constant, inverse_sharpness, linear_warmup)"
        )
    return constant(lr)
