r"""The predicted dynamics of Sec. 5 / App. C and the generalized ones of App. F.

Notation (Definitions 3-5, at :math:`\theta^\dagger_t`): :math:`u_t`, :math:`\nabla L_t`,
:math:`\nabla S_t = \nabla^3L_t(u_t,u_t)`, :math:`\nabla S_t^\perp = P^\perp_{u_t}\nabla S_t`,

.. math::  \alpha_t = -\nabla L_t\cdot\nabla S_t,\quad \beta_t = \|\nabla S_t^\perp\|^2,\quad
           \delta_t^2 = 2\alpha_t/\beta_t,\quad \epsilon_t = \eta\sqrt{\alpha_t},

and for a displacement :math:`v` from :math:`\theta^\dagger_t`: :math:`x = u_t\cdot v`,
:math:`y = \nabla S_t^\perp\cdot v`.

**Predicted dynamics** (Definition 7, eq. (6); :math:`\hat v_0 = v_0 = \theta_0 - \theta^\dagger_0`):

.. math::  \hat v_{t+1} = P^\perp_{u_{t+1}}\Big[(I - \eta\nabla^2L_t)P^\perp_{u_t}\hat v_t
           + \eta\nabla S_t^\perp\,\tfrac{\delta_t^2 - \hat x_t^2}{2}\Big]
           + \hat x_{t+1}\,u_{t+1},\qquad \hat x_{t+1} = -(1 + \eta\hat y_t)\hat x_t,

one Hessian-vector product per step. In :math:`x, y` this is eq. (5),
:math:`\hat y_{t+1} = \eta\sum_{s\le t}\beta_{s\to t}(\delta_s^2 - \hat x_s^2)/2` with
:math:`\beta_{s\to t}` of eq. (10).

**Generalized predicted dynamics** (App. F, eq. (11)): the same update with
:math:`\hat x_{t+1} = -(1 + \eta\hat y_t)\hat x_t - \eta F_t'(\hat x_t)`, where
:math:`F_t(x) = L(\theta^\dagger_t + x u_t) - L(\theta^\dagger_t) - x^2/\eta`, i.e.
:math:`\hat x_{t+1} = \hat x_t - \eta\hat x_t\hat y_t - \eta\,u_t\cdot\nabla L(\theta^\dagger_t + \hat x_t u_t)`.

**Theorem 1**: :math:`L(\theta_t) \approx L(\theta^\dagger_t) + \hat x_t^2/\eta`,
:math:`S(\theta_t) \approx 2/\eta + \hat y_t + (\nabla S_t\cdot u_t)\hat x_t`,
:math:`\theta_t \approx \theta^\dagger_t + \hat v_t`. For the generalized dynamics App. F.2
gives :math:`S(\theta_t) \approx 2/\eta + \hat y_t + F_t''(\hat x_t)` and, by the same
reasoning, :math:`L(\theta_t) \approx L(\theta^\dagger_t + \hat x_t u_t)`.

**beta_{s->t}** (eq. (10)): follow :math:`r = \nabla S_s^\perp`; at each later time
:math:`\tau > s` record :math:`\nabla S_\tau^\perp\cdot r = \beta_{s\to\tau-1}`, then
:math:`r \leftarrow (I - \eta\nabla^2L_\tau)P^\perp_{u_\tau} r` (one HVP per followed start).

All functions are pure and jit-compatible; the Hessian-vector products are passed in.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "Frame",
    "frame",
    "generalized_x_next",
    "predicted_step",
    "propagate_follower",
    "theorem1",
    "xy",
]


class Frame(NamedTuple):
    """Definition 4's quantities at :math:`\\theta^\\dagger_t` (see the module docstring)."""

    u: jax.Array
    grad_sharpness_perp: jax.Array
    grad_sharpness_dot_u: jax.Array
    alpha: jax.Array
    beta: jax.Array
    delta2: jax.Array  # 2 alpha / beta (may be negative when Assumption 1 fails)
    delta: jax.Array  # sqrt(delta2), NaN when delta2 < 0
    epsilon: jax.Array  # eta sqrt(alpha), NaN when alpha < 0


def frame(u: jax.Array, grad: jax.Array, grad_sharpness: jax.Array, lr: float) -> Frame:
    """:class:`Frame` from :math:`u_t, \\nabla L_t, \\nabla S_t` (Definition 4; Definition 6)."""
    gSu = jnp.dot(u, grad_sharpness)
    gSp = grad_sharpness - gSu * u
    alpha = -jnp.dot(grad, grad_sharpness)
    beta = jnp.dot(gSp, gSp)
    delta2 = 2 * alpha / beta
    nan = jnp.asarray(jnp.nan, u.dtype)
    delta = jnp.where(delta2 >= 0, jnp.sqrt(jnp.abs(delta2)), nan)
    eps = jnp.where(alpha >= 0, jnp.asarray(lr, u.dtype) * jnp.sqrt(jnp.abs(alpha)), nan)
    return Frame(u, gSp, gSu, alpha, beta, delta2, delta, eps)


def xy(f: Frame, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(x, y) = (u_t . v, grad S_t^perp . v)`` (Definition 5)."""
    return jnp.dot(f.u, v), jnp.dot(f.grad_sharpness_perp, v)


def predicted_step(
    v: jax.Array,
    f: Frame,
    *,
    hvp_perp: jax.Array,
    u_next: jax.Array,
    lr: float,
    x_next: jax.Array | None = None,
) -> jax.Array:
    """One step of eq. (6) (``x_next=None``) or of App. F's update (``x_next`` given).

    ``hvp_perp`` is :math:`\\nabla^2L_t\\,P^\\perp_{u_t}v`; ``u_next`` is :math:`u_{t+1}`.
    """
    lr_ = jnp.asarray(lr, v.dtype)
    x, y = xy(f, v)
    v_perp = v - x * f.u
    w = v_perp - lr_ * hvp_perp + lr_ * f.grad_sharpness_perp * (f.delta2 - x * x) / 2
    if x_next is None:
        x_next = -(1 + lr_ * y) * x
    return w - jnp.dot(u_next, w) * u_next + x_next * u_next


def generalized_x_next(
    x: jax.Array,
    y: jax.Array,
    line_grad_u: jax.Array,
    lr: float,
    grad_u_at_dagger: jax.Array | float = 0.0,
) -> jax.Array:
    """Eq. (11): :math:`-(1 + \\eta y)x - \\eta F'(x)` with ``line_grad_u`` :math:`= u_t\\cdot\\nabla L(\\theta^\\dagger_t + x u_t)`.

    ``grad_u_at_dagger``: :math:`u_t\\cdot\\nabla L(\\theta^\\dagger_t) = F'(0)`, zero on
    :math:`\\mathcal M` by definition; passing the computed value uses :math:`F'(x) - F'(0)`, which
    is the same on :math:`\\mathcal M` but cancels the projection's residual (otherwise a forcing
    :math:`-\\eta F'(0)` that dominates while :math:`|x|` is tiny, before the blow-up)."""
    lr_ = jnp.asarray(lr, x.dtype)
    dF = line_grad_u - grad_u_at_dagger - 2 * x / lr_
    return -(1 + lr_ * y) * x - lr_ * dF


def theorem1(
    loss_dagger: jax.Array, f: Frame, x: jax.Array, y: jax.Array, lr: float
) -> tuple[jax.Array, jax.Array]:
    """Theorem 1's loss :math:`L(\\theta^\\dagger_t) + x^2/\\eta` and sharpness :math:`2/\\eta + y + (\\nabla S_t\\cdot u_t) x`."""
    lr_ = jnp.asarray(lr, x.dtype)
    return loss_dagger + x * x / lr_, 2 / lr_ + y + f.grad_sharpness_dot_u * x


def propagate_follower(r: jax.Array, u: jax.Array, hvp_perp: jax.Array, lr: float) -> jax.Array:
    """:math:`(I - \\eta\\nabla^2L_t)P^\\perp_{u_t} r` given ``hvp_perp`` :math:`= \\nabla^2L_t P^\\perp_{u_t} r` (eq. (10))."""
    return r - jnp.dot(u, r) * u - jnp.asarray(lr, r.dtype) * hvp_perp


def perp(v: jax.Array, u: jax.Array) -> jax.Array:
    """:math:`P_u^\\perp v` for a unit ``u``."""
    return v - jnp.dot(u, v) * u
