"""The toy model of App. B, on which gradient descent is *exactly* eq. (3).

App. B considers, for ``alpha, beta > 0``, the loss on ``theta = (x, y, z)``

.. math::

    L(x, y, z) = \\Big(\\frac{2}{\\eta} + \\sqrt{\\beta}\\,y\\Big)\\frac{x^2}{2}
                 - \\frac{\\alpha}{\\sqrt{\\beta}}\\,y + z .

**Sign convention for z.** App. B prints the last term as ``- z`` but states
``grad L_t = [0, -alpha/sqrt(beta), 1]`` and ``z_t^dagger = -eta t`` (motion
along ``-P^perp grad L = [0, 0, -1]``), which require ``+ z``. We take ``+ z``,
consistent with the stated gradient and constrained trajectory; the ``x, y``
dynamics do not depend on this choice.

Its derivatives (all other entries vanish):

* ``grad L = ((2/eta + sqrt(beta) y) x,  sqrt(beta) x^2/2 - alpha/sqrt(beta),  1)``;
* ``H = [[2/eta + sqrt(beta) y, sqrt(beta) x, 0], [sqrt(beta) x, 0, 0], [0, 0, 0]]``;
* the only non-zero third derivative is ``d^3 L / dx^2 dy = sqrt(beta)``.

The sharpness (Definition 1) is the top eigenvalue of ``H``,
``S = (a + sqrt(a^2 + 4 c^2)) / 2`` with ``a = 2/eta + sqrt(beta) y`` and
``c = sqrt(beta) x``; on the constrained trajectory (``x = 0``) it equals
``2/eta + sqrt(beta) y`` as App. B states.

The reference point of Sec. 4.1 is ``theta* = theta_0^dagger = 0``, where
``u = (1, 0, 0)`` and ``grad S = (0, sqrt(beta), 0)``, hence the coordinates
``x_t = u . (theta_t - theta*) = theta_x`` and
``y_t = grad S . (theta_t - theta*) = sqrt(beta) theta_y``. Gradient descent
``theta_{t+1} = theta_t - eta grad L(theta_t)`` gives, with no approximation,

.. math::

    x_{t+1} = -(1 + \\eta y_t)\\,x_t, \\qquad
    y_{t+1} = y_t + \\eta\\Big(\\alpha - \\beta\\frac{x_t^2}{2}\\Big), \\qquad
    z_{t+1} = z_t - \\eta,

i.e. the simplified dynamics eq. (3) in ``(x, y)`` while ``z`` follows the
constrained trajectory ``z_t^dagger = -eta t`` exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["ToyModel"]


def _check_positive(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a positive real number, got {value!r}") from err
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _check_theta(theta: jax.Array, *, batched: bool = False) -> jax.Array:
    theta = jnp.asarray(theta)
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        raise ValueError(
            f"theta must be a floating-point array (float32 or float64), got dtype {theta.dtype}"
        )
    ok = theta.shape[-1:] == (3,) and (batched or theta.ndim == 1)
    if not ok:
        want = "(..., 3)" if batched else "(3,)"
        raise ValueError(f"theta must have shape {want} (x, y, z), got shape {theta.shape}")
    return theta


@dataclass(frozen=True)
class ToyModel:
    """The loss of App. B with progressive sharpening ``alpha`` and stabilization ``beta``.

    A small frozen (hence hashable) dataclass: every method is a pure JAX
    function of a flat 3-vector ``theta = (x, y, z)`` that works in the dtype of
    ``theta`` and can be jitted, e.g. ``jax.jit(model.loss)`` or
    ``eos.objective.Objective.from_function(model.loss)``; the model itself can
    be a static argument of ``jax.jit``. See the module docstring for the
    formulae and the sign convention of the ``z`` term (``+ z``).

    Args:
        alpha: progressive sharpening coefficient ``alpha = -grad L . grad S > 0`` (Definition 2).
        beta: self-stabilization strength ``beta = ||grad S||^2 > 0``.
        eta: learning rate; the loss has sharpness ``2/eta`` at ``theta = 0``.
    """

    alpha: float
    beta: float
    eta: float

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "eta"):
            object.__setattr__(self, name, _check_positive(name, getattr(self, name)))

    # ------------------------------------------------------------------ scalars
    @property
    def delta(self) -> float:
        """``delta = sqrt(2 alpha / beta)``: the fixed point ``|x| = delta`` of eq. (4), Sec. 4.2."""
        return math.sqrt(2.0 * self.alpha / self.beta)

    @property
    def threshold(self) -> float:
        """The stability threshold ``2/eta``."""
        return 2.0 / self.eta

    # ----------------------------------------------------------- loss & derivatives
    def loss(self, theta: jax.Array) -> jax.Array:
        """``L(theta)`` of App. B (with ``+ z``); a scalar in the dtype of ``theta``."""
        theta = _check_theta(theta, batched=True)
        x, y, z = theta[..., 0], theta[..., 1], theta[..., 2]
        dt = theta.dtype
        sb = jnp.sqrt(jnp.asarray(self.beta, dt))
        a = jnp.asarray(2.0 / self.eta, dt) + sb * y
        return a * x * x / 2 - jnp.asarray(self.alpha, dt) / sb * y + z

    def grad(self, theta: jax.Array) -> jax.Array:
        """Closed-form ``grad L = ((2/eta + sqrt(beta) y) x, sqrt(beta) x^2/2 - alpha/sqrt(beta), 1)``."""
        theta = _check_theta(theta, batched=True)
        x, y = theta[..., 0], theta[..., 1]
        dt = theta.dtype
        sb = jnp.sqrt(jnp.asarray(self.beta, dt))
        gx = (jnp.asarray(2.0 / self.eta, dt) + sb * y) * x
        gy = sb * x * x / 2 - jnp.asarray(self.alpha, dt) / sb
        return jnp.stack([gx, gy, jnp.ones_like(x)], axis=-1)

    def hessian(self, theta: jax.Array) -> jax.Array:
        """Closed-form Hessian ``[[2/eta + sqrt(beta) y, sqrt(beta) x, 0], [sqrt(beta) x, 0, 0], 0]``."""
        theta = _check_theta(theta)
        x, y = theta[0], theta[1]
        dt = theta.dtype
        sb = jnp.sqrt(jnp.asarray(self.beta, dt))
        a = jnp.asarray(2.0 / self.eta, dt) + sb * y
        c = sb * x
        zero = jnp.zeros((), dt)
        return jnp.array([[a, c, zero], [c, zero, zero], [zero, zero, zero]], dtype=dt)

    def sharpness(self, theta: jax.Array) -> jax.Array:
        """``S(theta) = lambda_max(H) = (a + sqrt(a^2 + 4c^2))/2`` (Definition 1), batched over ``...``.

        ``a = 2/eta + sqrt(beta) y``, ``c = sqrt(beta) x``; the 2x2 block has
        eigenvalues of opposite signs, so ``S >= 0`` is its positive one (the
        third eigenvalue is 0). For ``a < 0`` the equivalent form
        ``2c^2 / (sqrt(a^2 + 4c^2) - a)`` avoids cancellation.
        """
        theta = _check_theta(theta, batched=True)
        x, y = theta[..., 0], theta[..., 1]
        dt = theta.dtype
        sb = jnp.sqrt(jnp.asarray(self.beta, dt))
        a = jnp.asarray(2.0 / self.eta, dt) + sb * y
        c = sb * x
        r = jnp.sqrt(a * a + 4 * c * c)
        safe = jnp.where(r - a > 0, r - a, jnp.ones_like(r))
        return jnp.where(a >= 0, (a + r) / 2, 2 * c * c / safe)

    def top_eigenvector(self, theta: jax.Array) -> jax.Array:
        """``u(theta)``: unit top eigenvector of ``H`` (Definition 1), sign fixed by ``u_x >= 0``."""
        theta = _check_theta(theta)
        x = theta[0]
        dt = theta.dtype
        c = jnp.sqrt(jnp.asarray(self.beta, dt)) * x
        s = self.sharpness(theta)
        # (H - S I) v = 0 on the 2x2 block: v = (S, c) (valid since S > 0 unless a <= 0 and c = 0).
        v = jnp.stack([s, c, jnp.zeros_like(s)])
        n = jnp.linalg.norm(v)
        e1 = jnp.array([1.0, 0.0, 0.0], dtype=dt)
        return jnp.where(n > 0, v / jnp.where(n > 0, n, 1), e1)

    def grad_sharpness(self, theta: jax.Array) -> jax.Array:
        """``grad S(theta)`` by differentiating the closed-form sharpness (equals ``D^3L(u, u)``, Lemma 2)."""
        return jax.grad(self.sharpness)(_check_theta(theta))

    def progressive_sharpening(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(alpha(theta), beta(theta)) = (-grad L . grad S, ||grad S||^2)`` (Definition 2, Sec. 4.1).

        On the constrained trajectory (``x = y = 0``) these are exactly the
        model's ``alpha`` and ``beta``.
        """
        theta = _check_theta(theta)
        gs = self.grad_sharpness(theta)
        return -jnp.dot(self.grad(theta), gs), jnp.dot(gs, gs)

    # --------------------------------------------------------------- trajectories
    def run_gd(self, theta0: jax.Array, steps: int) -> jax.Array:
        """All iterates ``theta_0..theta_steps`` of ``theta_{t+1} = theta_t - eta grad L(theta_t)``.

        Returns an array of shape ``(steps + 1, 3)`` in the dtype of ``theta0``
        (one jitted ``lax.scan``).
        """
        theta0 = _check_theta(theta0)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative int, got {steps!r}")
        return _run_gd(self, theta0, steps)

    def constrained_trajectory(self, steps: int, *, dtype=jnp.float64) -> jax.Array:
        """The constrained trajectory ``theta_t^dagger = (0, 0, -eta t)``, ``t = 0..steps`` (App. B, eq. (2)).

        ``x = y = 0`` keeps the sharpness at ``2/eta`` and ``grad L . u = 0``;
        with the ``+ z`` convention the projected gradient step moves along
        ``-P^perp grad L = (0, 0, -1)``. Shape ``(steps + 1, 3)``.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative int, got {steps!r}")
        t = jnp.arange(steps + 1, dtype=dtype)
        z = -jnp.asarray(self.eta, dtype) * t
        return jnp.stack([jnp.zeros_like(z), jnp.zeros_like(z), z], axis=-1)

    def initial_point(self, x0: float, y0: float = 0.0, *, dtype=jnp.float64) -> jax.Array:
        """``theta_0`` with paper coordinates ``(x_0, y_0)`` and ``z_0 = 0``.

        App. B starts at ``(x0, 0, 0)``, i.e. at the moment the sharpness
        reaches ``2/eta``; ``y0 < 0`` starts earlier, while ``S < 2/eta``.
        """
        return jnp.array([x0, y0 / math.sqrt(self.beta), 0.0], dtype=dtype)

    def coordinates(
        self, thetas: jax.Array, theta_star: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """The paper's coordinates ``x_t = u . (theta_t - theta*)``, ``y_t = grad S . (theta_t - theta*)`` (Sec. 4.1).

        ``u`` and ``grad S`` are evaluated at the reference point ``theta*``
        (default ``theta_0^dagger = 0``), where they equal ``(1, 0, 0)`` and
        ``(0, sqrt(beta), 0)``. ``thetas`` has shape ``(..., 3)``.
        """
        thetas = _check_theta(thetas, batched=True)
        if theta_star is None:
            theta_star = jnp.zeros(3, dtype=thetas.dtype)
        theta_star = _check_theta(theta_star).astype(thetas.dtype)
        u = self.top_eigenvector(theta_star)
        gs = self.grad_sharpness(theta_star)
        d = thetas - theta_star
        return d @ u, d @ gs


@partial(jax.jit, static_argnums=(0, 2))
def _run_gd(model: ToyModel, theta0: jax.Array, steps: int) -> jax.Array:
    eta = jnp.asarray(model.eta, theta0.dtype)

    def step(theta, _):
        new = theta - eta * model.grad(theta)
        return new, new

    _, rest = jax.lax.scan(step, theta0, None, length=steps)
    return jnp.concatenate([theta0[None], rest], axis=0)
