r"""Gradient flow :math:`\dot\theta = -\nabla L(\theta)` sampled at the GD times :math:`\eta t`.

Fig. 4 compares gradient descent with the gradient flow from the same start. The flow is stiff
near the edge of stability: its sharpness is about :math:`2/\eta` or more, so an explicit method
needs steps :math:`h \lesssim 1/S` to be accurate in the top eigendirection. Two integrators over
each interval :math:`[\eta t, \eta(t+1)]` (``n`` equal sub-steps of length :math:`h = \eta/n`):

``"etd"`` (default)
    Exponential time differencing RK4 (ETDRK4, Cox & Matthews 2002) with the *rank-one* linear
    part :math:`A = -S\,u u^\top` built from the top eigenpair :math:`(S, u)` at the start of the
    interval (which the tracker computes anyway, for the flow's sharpness). Writing
    :math:`\theta = \theta_n + e`, :math:`\dot e = A e + N(e)` with
    :math:`N(e) = -\nabla L(\theta_n + e) + S u (u\cdot e)`; the stiff top direction is
    integrated exactly (scalar :math:`\varphi`-functions of :math:`z = -hS`) and the rest is
    classical RK4 (the :math:`\varphi`-functions at 0). The remaining modes have eigenvalues
    :math:`\lambda_i \le S`; ``n = ceil(eta S / courant)`` with ``courant = 2.5`` keeps
    :math:`h\lambda_i \le 2.5` inside RK4's stability interval (:math:`2.78`). This is accurate
    while the flow is near its slow manifold (the top-mode amplitude is small): nonlinear terms
    quadratic in that amplitude decay at rate :math:`2S`, which RK4 resolves only with
    :math:`hS \lesssim 1`. So when :math:`|u\cdot\nabla L| > 0.2\,\|\nabla L\|` at the start of the
    interval (a transient, e.g. a flow started far from the valley floor) the sub-steps shrink to
    ``courant_transient = 1/2``. Flows started at a GD iterate at instability, where
    :math:`|u\cdot\nabla L|/\|\nabla L\|` is tiny, take one sub-step (3 new gradients) per interval.
    On the toy model of App. B this is more accurate than RK4 with :math:`hS \le 1/2`
    (``tests/test_dynamics_toy.py``).
``"rk4"``
    Classical RK4 with ``n = ceil(eta S / courant)`` sub-steps, ``courant = 1/2``
    (:math:`h S \le 1/2`): the accurate, more expensive reference.

Both work in the dtype of ``theta`` and are jit-compatible (``n`` is a traced integer).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["FLOW_METHODS", "flow_interval", "flow_substeps", "phi_functions"]

FLOW_METHODS = ("etd", "rk4")
Grad = Callable[[jax.Array], jax.Array]


def flow_substeps(lr: float, sharpness: jax.Array, method: str, courant) -> jax.Array:
    """Sub-steps per interval: ``max(1, ceil(eta S / courant))``."""
    n = jnp.ceil(jnp.asarray(lr, sharpness.dtype) * jnp.abs(sharpness) / courant)
    return jnp.maximum(1, n).astype(jnp.int32)


def phi_functions(z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    r""":math:`e^z` and :math:`\varphi_k(z) = (e^z - \sum_{j<k} z^j/j!)/z^k` for k = 1, 2, 3.

    A 20-term Taylor series for :math:`|z| < 1` (no cancellation), the closed form otherwise.
    """
    small = jnp.abs(z) < 1
    zs = jnp.where(small, z, 0.0)
    zb = jnp.where(small, 1.0, z)
    ez = jnp.exp(z)
    # series: phi_k(z) = sum_j z^j / (j + k)!
    terms = jnp.arange(20, dtype=z.dtype)
    powers = zs**terms

    def series(k: int) -> jax.Array:
        fact = jnp.exp(jax.scipy.special.gammaln(terms + k + 1))
        return jnp.sum(powers / fact)

    p1 = jnp.where(small, series(1), (ez - 1) / zb)
    p2 = jnp.where(small, series(2), (ez - 1 - zb) / zb**2)
    p3 = jnp.where(small, series(3), (ez - 1 - zb - zb**2 / 2) / zb**3)
    return ez, p1, p2, p3


def _etd_substep(grad: Grad, theta: jax.Array, g0: jax.Array, S, u, h) -> jax.Array:
    """One ETDRK4 step of length ``h`` from ``theta`` (``g0 = grad L(theta)``)."""
    dtype = theta.dtype
    z = -h * S
    ez, p1, p2, p3 = phi_functions(z)
    ez2, q1, _, _ = phi_functions(z / 2)

    def apply(scalar_at_z, scalar_at_0, w):
        # f(A) w for f with f(z) on span(u) and f(0) on its complement.
        return scalar_at_0 * w + (scalar_at_z - scalar_at_0) * jnp.dot(u, w) * u

    half = jnp.asarray(0.5, dtype)

    def N(e, g):
        return -g + S * jnp.dot(u, e) * u

    def psi_half(w):  # (h/2) phi_1(hA/2) w
        return h * half * apply(q1, 1.0, w)

    def exp_half(e):
        return apply(ez2, 1.0, e)

    e0 = jnp.zeros_like(theta)
    Nn = N(e0, g0)
    a = psi_half(Nn)
    Na = N(a, grad(theta + a))
    b = psi_half(Na)
    Nb = N(b, grad(theta + b))
    c = exp_half(a) + psi_half(2 * Nb - Nn)
    Nc = N(c, grad(theta + c))
    f1 = h * (p1 - 3 * p2 + 4 * p3)
    f2 = h * (p2 - 2 * p3)
    f3 = h * (-p2 + 4 * p3)
    sixth, third = h / 6, h / 3  # their limits at z = 0 (plain RK4 weights: h/6, 2h/6, h/6)
    e1 = (
        apply(f1, sixth, Nn)
        + apply(2 * f2, third, Na)
        + apply(2 * f2, third, Nb)
        + apply(f3, sixth, Nc)
    )
    return theta + e1


def _rk4_substep(grad: Grad, theta: jax.Array, g0: jax.Array, h) -> jax.Array:
    k1 = -g0
    k2 = -grad(theta + (h / 2) * k1)
    k3 = -grad(theta + (h / 2) * k2)
    k4 = -grad(theta + h * k3)
    return theta + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


def flow_interval(
    grad: Grad,
    theta: jax.Array,
    lr: float,
    *,
    grad0: jax.Array,
    sharpness: jax.Array,
    u: jax.Array,
    method: str = "etd",
    courant: float | None = None,
    courant_transient: float = 0.5,
    transient: float = 0.2,
) -> tuple[jax.Array, jax.Array]:
    """Integrate the gradient flow over one GD interval of length ``lr``.

    Args:
        grad: ``theta -> grad L(theta)``.
        theta: the flow at time ``eta t``; ``grad0 = grad L(theta)``.
        sharpness, u: top Hessian eigenpair at ``theta`` (``u`` only used by ``"etd"``).
        method: ``"etd"`` or ``"rk4"`` (module docstring).
        courant: ``h S`` bound per sub-step (defaults: 2.5 for etd, 1/2 for rk4).
        courant_transient, transient: etd only: the bound used instead when
            ``|u . grad0| > transient * ||grad0||``.

    Returns:
        ``(theta(eta (t + 1)), number of gradient evaluations)``.
    """
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}; valid: {', '.join(FLOW_METHODS)}")
    if courant is None:
        courant = 2.5 if method == "etd" else 0.5
    dtype = theta.dtype
    if method == "etd":
        rho = jnp.abs(jnp.dot(u, grad0)) / jnp.maximum(
            jnp.linalg.norm(grad0), jnp.finfo(dtype).tiny
        )
        courant = jnp.where(rho > transient, courant_transient, courant)
    n = flow_substeps(lr, sharpness, method, courant)
    h = jnp.asarray(lr, dtype) / n.astype(dtype)
    S = jnp.asarray(sharpness, dtype)

    def body(i, th):
        # The gradient at the start of the interval is given; later sub-steps compute theirs.
        g = jax.lax.cond(i == 0, lambda _: grad0, lambda _: grad(th), None)
        if method == "etd":
            return _etd_substep(grad, th, g, S, u, h)
        return _rk4_substep(grad, th, g, h)

    th = jax.lax.fori_loop(0, n, body, theta)
    return th, 3 + 4 * (n - 1)
