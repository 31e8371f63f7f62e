"""The loss along the unstable direction beyond its quadratic model (App. F).

App. F abstracts the dynamics in the top-eigenvector direction into the one-dimensional function

.. math::

    F_t(x) := L(\\theta^\\dagger_t + x u_t) - L(\\theta^\\dagger_t) - x^2/\\eta ,

the loss along :math:`u_t` minus the quadratic it would be if the sharpness were exactly
:math:`2/\\eta` everywhere on the line. :math:`L` is *sub-quadratic* at :math:`t` when
:math:`F_t < 0` and *super-quadratic* when :math:`F_t > 0`. The generalized predicted dynamics
(eq. (11), Lemma 5) replace the :math:`x`-update of eq. (5) by

.. math::

    x_{t+1} = -(1 + \\eta y_t) x_t - \\eta F_t'(x_t), \\qquad
    y_{t+1} = \\eta \\sum_{s \\le t} \\beta_{s\\to t} \\frac{\\delta_s^2 - x_s^2}{2},

which, for a constant :math:`\\beta_{s\\to t} = \\beta` and :math:`\\alpha = \\beta\\delta^2/2`,
is the recursion :math:`y_{t+1} = y_t + \\eta(\\alpha - \\beta x_t^2/2)` of eq. (3).

Limiting sharpness (App. F.2). With :math:`F` even (App. F.2 replaces :math:`F` by its even part,
:func:`even_part`), a period-2 orbit :math:`x = \\pm\\delta`, :math:`y = y^*` of eq. (11) needs
:math:`-\\delta = -(1 + \\eta y^*)\\delta - \\eta F'(\\delta)`, i.e. :math:`y^* = -F'(\\delta)/\\delta`
(:func:`limiting_y`), and the sharpness :math:`S \\approx 2/\\eta + y + F''(x)` tends to

.. math::

    S_\\infty = \\frac{2}{\\eta} - \\frac{F'(\\delta)}{\\delta} + F''(\\delta)

(:func:`limiting_sharpness`).

So :math:`S_\\infty` lies above :math:`2/\\eta` exactly when
:math:`F''(\\delta) - F'(\\delta)/\\delta = \\delta\\,\\tfrac{d}{dx}[F'(x)/x]_{x=\\delta} > 0`
(:func:`limiting_sharpness_offset`). **The paper's text says** "the sign of
:math:`F''(\\delta) - \\delta F'(\\delta)`"; that expression is not even dimensionally consistent
(:math:`F''` and :math:`F'/\\delta` are loss/length², :math:`\\delta F'` is loss) and it is a typo:
for :math:`F = -\\rho_4 x^4/24` and :math:`\\delta^2 > 3` it is positive while the sharpness
converges below :math:`2/\\eta` (the paper's own worked example, :math:`2/\\eta - \\rho_4\\delta^2/3`).
``tests/test_analysis_quadratic.py`` checks this by running :func:`generalized_xy_map`.

Stability of that orbit (derived here, checked in the tests): linearising the constant-coefficient
map in :math:`(|x|, y)` around :math:`(\\delta, y^*)` gives the Jacobian
:math:`J = \\begin{pmatrix}1 + \\eta\\kappa & \\eta\\delta\\\\ -\\eta\\beta\\delta & 1\\end{pmatrix}`
with :math:`\\kappa = F''(\\delta) - F'(\\delta)/\\delta = S_\\infty - 2/\\eta`,
:math:`\\det J = 1 + \\eta\\kappa + 2\\eta^2\\alpha`, :math:`\\operatorname{tr} J = 2 + \\eta\\kappa`.
By the Jury conditions the orbit is linearly stable iff
:math:`-2 - \\eta^2\\alpha < \\eta\\kappa < -2\\eta^2\\alpha`, i.e. (for moderate :math:`\\eta|\\kappa|`)
only when the limiting sharpness is below :math:`2/\\eta - 2\\eta\\alpha`. For :math:`F = 0`
(eq. (3)) and for super-quadratic :math:`F` the discrete map spirals slowly outwards around the
orbit, and :math:`S_\\infty` is then the time average over its (growing) cycles
(:func:`orbit_stability` computes the spectral radius of :math:`J`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eos.analysis.assumptions import derivative_ops
from eos.objective import line_derivatives
from eos.validate import positive_int, positive_number

__all__ = [
    "classify",
    "even_part",
    "generalized_xy_map",
    "limiting_sharpness",
    "limiting_sharpness_offset",
    "limiting_y",
    "line_profile",
    "orbit_stability",
]

ArrayLike = Any


def line_profile(
    objective: Any, theta: jax.Array, u: jax.Array, xs: ArrayLike, lr: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:math:`F_t(x)`, :math:`F_t'(x)` and :math:`F_t''(x)` of App. F at every ``x`` in ``xs``.

    .. math::

        F(x) = L(\\theta + x u) - L(\\theta) - x^2/\\eta,\\quad
        F'(x) = u\\cdot\\nabla L(\\theta + x u) - 2x/\\eta,\\quad
        F''(x) = u^\\top \\nabla^2 L(\\theta + x u)\\, u - 2/\\eta .

    The derivatives are exact (forward-over-forward along ``u``,
    :func:`eos.objective.line_derivatives`: no gradient is formed); the points are evaluated
    one after another with :func:`jax.lax.map`, so memory stays that of a single forward pass.
    ``objective`` is an :class:`eos.objective.Objective` (anything with ``value`` and ``D``) or a
    plain scalar JAX function of the flat vector. ``u`` should be a unit vector (the top
    eigenvector :math:`u_t`); everything is computed in the dtype of ``theta``. Jit-compatible.
    """
    positive_number(lr, "lr")
    value, _, _ = derivative_ops(objective)
    theta = jnp.asarray(theta)
    dtype = theta.dtype
    u = jnp.asarray(u, dtype=dtype)
    xs = jnp.asarray(xs, dtype=dtype)
    if xs.ndim != 1:
        raise ValueError(f"xs must be a one-dimensional array of offsets, got shape {xs.shape}")
    base = value(theta)
    inv_lr = jnp.asarray(1.0 / lr, dtype=dtype)

    def one(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        loss, slope, curvature = line_derivatives(value, theta + x * u, u)
        return loss - base - x * x * inv_lr, slope - 2.0 * x * inv_lr, curvature - 2.0 * inv_lr

    return jax.lax.map(one, xs)


def even_part(F_values: ArrayLike, xs: ArrayLike) -> np.ndarray:
    """The even part :math:`(F(x) + F(-x))/2` of sampled values (App. F.2).

    App. F.2 replaces :math:`F_t` by its even part because the odd part only adds period-2
    oscillations. ``xs`` must be sorted increasingly and cover ``-x`` for every ``x`` (a grid
    symmetric about 0 gives the exact even part; otherwise ``F(-x)`` is linearly interpolated).
    """
    F = np.asarray(F_values, dtype=np.float64)
    x = np.asarray(xs, dtype=np.float64)
    if F.shape != x.shape or x.ndim != 1:
        raise ValueError(
            f"F_values and xs must be 1-d arrays of equal length, got {F.shape} and {x.shape}"
        )
    if x.size == 0:
        raise ValueError("xs is empty")
    if np.any(np.diff(x) <= 0):
        raise ValueError("xs must be strictly increasing")
    scale = max(np.max(np.abs(x)), np.finfo(np.float64).tiny)
    if -x[-1] < x[0] - 1e-12 * scale or -x[0] > x[-1] + 1e-12 * scale:
        raise ValueError(
            f"xs must be symmetric about 0 (range [{x[0]:.3g}, {x[-1]:.3g}]) to form the even part"
        )
    mirrored = np.interp(-x, x, F)
    return 0.5 * (F + mirrored)


def classify(
    F_values: ArrayLike,
    xs: ArrayLike,
    *,
    lr: float | None = None,
    delta: float | None = None,
    window: float = 2.0,
    rtol: float = 1e-2,
) -> str:
    """Classify the loss along ``u`` as ``"sub-quadratic"``, ``"super-quadratic"``, ``"mixed"`` or ``"quadratic"``.

    App. F.1: :math:`L` is sub-quadratic when :math:`F < 0` and super-quadratic when :math:`F > 0`.
    The sign is read from the :func:`even_part` of ``F_values`` at the nonzero ``xs`` with
    :math:`|x| \\le` ``window * delta`` (all of ``xs`` if ``delta`` is None). A point counts only
    when the deviation from the quadratic model is significant: :math:`|F_{even}(x)| >`
    ``rtol`` :math:`\\cdot x^2/\\eta` when ``lr`` is given (the quadratic model's own size), else
    ``rtol`` times the largest :math:`|F_{even}|` in the window. All significant points negative ->
    "sub-quadratic", all positive -> "super-quadratic", both -> "mixed", none -> "quadratic".
    """
    x = np.asarray(xs, dtype=np.float64)
    Fe = even_part(F_values, x)
    positive_number(window, "window")
    if delta is not None and not delta > 0:
        raise ValueError(f"delta must be positive (or None for the whole grid), got {delta}")
    mask = x != 0
    if delta is not None:
        mask &= np.abs(x) <= window * delta
    if not np.any(mask):
        raise ValueError("no nonzero xs inside |x| <= window * delta; widen the grid or the window")
    Fe, x = Fe[mask], x[mask]
    if not np.all(np.isfinite(Fe)):
        raise ValueError("F_values contain non-finite entries inside the window")
    if lr is not None:
        positive_number(lr, "lr")
        threshold = rtol * x**2 / lr
    else:
        threshold = np.full_like(Fe, rtol * np.max(np.abs(Fe)))
    pos = np.any(Fe > threshold)
    neg = np.any(Fe < -threshold)
    if pos and neg:
        return "mixed"
    if pos:
        return "super-quadratic"
    if neg:
        return "sub-quadratic"
    return "quadratic"


def limiting_y(dF_delta: ArrayLike, delta: ArrayLike) -> ArrayLike:
    """:math:`y^* = -F'(\\delta)/\\delta`, the :math:`y` of the period-2 orbit of eq. (11) (App. F.2)."""
    return -dF_delta / delta


def limiting_sharpness_offset(
    dF_delta: ArrayLike, d2F_delta: ArrayLike, delta: ArrayLike
) -> ArrayLike:
    """:math:`S_\\infty - 2/\\eta = F''(\\delta) - F'(\\delta)/\\delta`; its sign says above/below :math:`2/\\eta`.

    (The paper's text writes :math:`F''(\\delta) - \\delta F'(\\delta)`, a typo: see the module docstring.)
    """
    return d2F_delta - dF_delta / delta


def limiting_sharpness(
    dF_delta: ArrayLike, d2F_delta: ArrayLike, delta: ArrayLike, lr: float
) -> ArrayLike:
    """Limiting sharpness of eq. (11): :math:`2/\\eta - F'(\\delta)/\\delta + F''(\\delta)` (App. F.2).

    Works elementwise on floats, numpy or JAX arrays (e.g. ``F'``/``F''`` of :func:`line_profile`
    evaluated at :math:`x = \\delta_t` for every :math:`t`). Example: :math:`F = -\\rho_4 x^4/24`
    gives :math:`2/\\eta - \\rho_4\\delta^2/3`.
    """
    positive_number(lr, "lr")
    return 2.0 / lr + limiting_sharpness_offset(dF_delta, d2F_delta, delta)


def orbit_stability(
    dF_delta: float, d2F_delta: float, delta: float, *, lr: float, alpha: float
) -> dict[str, float | bool]:
    """Linear stability of the period-2 orbit :math:`(\\pm\\delta, -F'(\\delta)/\\delta)` of constant-coefficient eq. (11).

    In :math:`(|x|, y)` the Jacobian is :math:`[[1 + \\eta\\kappa, \\eta\\delta], [-\\eta\\beta\\delta, 1]]`
    with :math:`\\kappa = F''(\\delta) - F'(\\delta)/\\delta` and :math:`\\beta = 2\\alpha/\\delta^2`.
    Returns ``kappa``, the spectral radius and ``stable`` (radius < 1; by the Jury conditions
    equivalent to :math:`-2 - \\eta^2\\alpha < \\eta\\kappa < -2\\eta^2\\alpha`).
    """
    for value, name in ((lr, "lr"), (alpha, "alpha"), (delta, "delta")):
        positive_number(value, name)
    beta = 2.0 * alpha / delta**2
    kappa = d2F_delta - dF_delta / delta
    J = np.array([[1.0 + lr * kappa, lr * delta], [-lr * beta * delta, 1.0]])
    radius = float(np.max(np.abs(np.linalg.eigvals(J))))
    return {"kappa": float(kappa), "spectral_radius": radius, "stable": radius < 1.0}


def generalized_xy_map(
    x0: float,
    y0: float,
    *,
    lr: float,
    alpha: float,
    beta: float,
    dF: Callable[[jax.Array], jax.Array] | None = None,
    d2F: Callable[[jax.Array], jax.Array] | None = None,
    steps: int,
    dtype: Any = jnp.float64,
) -> dict[str, np.ndarray]:
    """Iterate the constant-coefficient generalized predicted dynamics (eq. (11), Lemma 5).

    .. math::

        x_{t+1} = -(1 + \\eta y_t)\\, x_t - \\eta F'(x_t), \\qquad
        y_{t+1} = y_t + \\eta\\,(\\alpha - \\beta x_t^2/2),

    which is eq. (11) with :math:`\\beta_{s\\to t} = \\beta` and :math:`\\delta^2 = 2\\alpha/\\beta`
    (then :math:`\\eta\\sum_s \\beta(\\delta^2 - x_s^2)/2` telescopes into the :math:`y`-recursion).
    ``dF=None`` means :math:`F = 0`, i.e. the simplified dynamics of eq. (3). ``dF``/``d2F`` are
    JAX-traceable functions of a scalar. Returns numpy arrays ``x``, ``y`` (length ``steps + 1``,
    starting with ``x0, y0``) and, when ``d2F`` is given or ``dF`` is None, ``sharpness`` =
    :math:`2/\\eta + y_t + F''(x_t)` (App. F.2).
    """
    for value, name in ((lr, "lr"), (alpha, "alpha"), (beta, "beta")):
        positive_number(value, name)
    positive_int(steps, "steps", minimum=0)
    xs, ys = _xy_scan(
        float(x0), float(y0), float(lr), float(alpha), float(beta), dF, int(steps), dtype
    )
    out = {"x": np.asarray(xs), "y": np.asarray(ys)}
    if dF is None and d2F is None:
        out["sharpness"] = 2.0 / lr + out["y"]
    elif d2F is not None:
        curv = np.asarray(jax.vmap(d2F)(jnp.asarray(xs)))
        out["sharpness"] = 2.0 / lr + out["y"] + curv
    return out


def _xy_scan(x0, y0, lr, alpha, beta, dF, steps, dtype):
    zero = lambda x: jnp.zeros_like(x)  # noqa: E731
    force = zero if dF is None else dF

    @jax.jit
    def run(x0, y0):
        def body(carry, _):
            x, y = carry
            x_new = -(1.0 + lr * y) * x - lr * force(x)
            y_new = y + lr * (alpha - 0.5 * beta * x * x)
            return (x_new, y_new), (x_new, y_new)

        _, (xs, ys) = jax.lax.scan(body, (x0, y0), None, length=steps)
        return jnp.concatenate([x0[None], xs]), jnp.concatenate([y0[None], ys])

    return run(jnp.asarray(x0, dtype=dtype), jnp.asarray(y0, dtype=dtype))
