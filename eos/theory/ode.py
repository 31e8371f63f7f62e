"""The simplified dynamics eq. (3), its ODE limit eq. (4) and the conserved quantity (Sec. 4.2).

Eq. (3), the simplified dynamics of Sec. 4.1,

.. math::

    x_{t+1} = -(1 + \\eta y_t)\\,x_t, \\qquad y_{t+1} = y_t + \\eta\\Big(\\alpha - \\beta\\frac{x_t^2}{2}\\Big),

is coupled to the ODE eq. (4) for ``X ~ |x|``, ``Y ~ y`` in the time ``eta t``:

.. math::

    X' = X Y, \\qquad Y' = \\alpha - \\beta \\frac{X^2}{2},

with unique fixed point ``(delta, 0)``, ``delta = sqrt(2 alpha / beta)``.
Lemma 3: with ``h(z) = z - log z - 1``, ``g(X, Y) = h(beta X^2 / (2 alpha)) + Y^2/alpha``
is conserved, so every orbit is closed; Corollary 1 bounds its extent.

**Lotka-Volterra form.** With ``P = beta X^2 / (2 alpha)`` eq. (4) reads
``P' = 2 P Y``, ``Y' = alpha (1 - P)``. Let ``Q > 0`` solve ``h(Q) = Y^2/alpha`` on
the branch ``Q <= 1`` when ``Y >= 0`` and ``Q >= 1`` when ``Y <= 0``. Then, in the
time ``s`` with ``ds/dt = 2 Y / (1 - Q) > 0`` (``-> sqrt(2 alpha)`` as ``Y -> 0``),

.. math::

    \\frac{dP}{ds} = P (1 - Q), \\qquad \\frac{dQ}{ds} = Q (P - 1),

the classical predator-prey model (prey ``P`` = squared displacement in the
unstable direction, predator ``Q`` = a monotone transform of the excess sharpness),
whose classical conserved quantity ``V = h(P) + h(Q)`` is exactly ``g``.

Numerics: :func:`solve` integrates eq. (4) in the variables ``(log X, Y)``
(``(log X)' = Y``), which keeps ``X > 0`` and is well scaled for ``X(0)``
spanning many decades; the level set of ``g`` is solved exactly with both
branches of the Lambert W function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate, special

__all__ = [
    "OdeSolution",
    "OrbitBounds",
    "STAGES",
    "conserved_quantity",
    "contiguous_runs",
    "discrete_drift",
    "h",
    "lotka_volterra",
    "lotka_volterra_invariant",
    "lotka_volterra_rate",
    "lotka_volterra_rhs",
    "measured_extent",
    "orbit_bounds",
    "orbit_period",
    "section_crossings",
    "simplified_dynamics",
    "simplified_step",
    "solve",
    "stage_of",
    "stages_from_changes",
]

#: Stage indices returned by :func:`stage_of` (0-based; the paper numbers them 1-4).
STAGES: tuple[str, ...] = (
    "progressive sharpening",
    "blowup",
    "self-stabilization",
    "return to stability",
)


# --------------------------------------------------------------------------- validation
def _positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a positive real number, got {value!r}") from err
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _finite(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real number, got {value!r}") from err
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    return int(steps)


def _float_dtype(*xs):
    dt = jnp.result_type(*xs)
    if not jnp.issubdtype(dt, jnp.floating):
        dt = jnp.float64
    return dt


# --------------------------------------------------------------------------- eq. (3)
def simplified_step(x, y, *, alpha, beta, eta):
    """One step of eq. (3): ``(-(1 + eta y) x, y + eta (alpha - beta x^2 / 2))``.

    Pure ``jnp`` arithmetic in the dtype of ``x, y`` (no validation, so it can
    be used inside ``jit``/``scan`` with traced coefficients).
    """
    return -(1 + eta * y) * x, y + eta * (alpha - beta * x * x / 2)


@partial(jax.jit, static_argnames=("steps",))
def _simplified_scan(x0, y0, alpha, beta, eta, steps):
    def body(carry, _):
        new = simplified_step(*carry, alpha=alpha, beta=beta, eta=eta)
        return new, new

    _, (xs, ys) = jax.lax.scan(body, (x0, y0), None, length=steps)
    return jnp.concatenate([x0[None], xs]), jnp.concatenate([y0[None], ys])


def simplified_dynamics(x0, y0, *, alpha, beta, eta, steps: int) -> tuple[jax.Array, jax.Array]:
    """Iterate eq. (3) ``steps`` times from ``(x0, y0)``; returns ``(x, y)`` of length ``steps + 1``.

    One jitted ``lax.scan`` (coefficients are traced, so sweeps over ``eta``
    recompile only when ``steps`` changes), in the dtype of ``x0, y0``
    (float64 for Python floats).
    """
    alpha, beta, eta = _positive("alpha", alpha), _positive("beta", beta), _positive("eta", eta)
    steps = _steps(steps)
    dt = _float_dtype(x0, y0)
    x0, y0 = jnp.asarray(x0, dt), jnp.asarray(y0, dt)
    if x0.shape != () or y0.shape != ():
        raise ValueError(f"x0 and y0 must be scalars, got shapes {x0.shape} and {y0.shape}")
    c = [jnp.asarray(v, dt) for v in (alpha, beta, eta)]
    return _simplified_scan(x0, y0, *c, steps=steps)


# --------------------------------------------------------------------------- Lemma 3
def h(z):
    """``h(z) = z - log z - 1 >= 0`` (Lemma 3), zero only at ``z = 1``."""
    return z - jnp.log(z) - 1


def conserved_quantity(X, Y, *, alpha, beta):
    """``g(X, Y) = h(beta X^2 / (2 alpha)) + Y^2 / alpha`` of Lemma 3 (array in, array out).

    Depends on ``X`` only through ``X^2``, so it can be evaluated on the
    signed iterates ``x_t`` of eq. (3) as well as on ``X = |x|``.
    """
    alpha, beta = _positive("alpha", alpha), _positive("beta", beta)
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    dt = _float_dtype(X, Y)
    X, Y = X.astype(dt), Y.astype(dt)
    return h(jnp.asarray(beta / (2 * alpha), dt) * X * X) + Y * Y / jnp.asarray(alpha, dt)


# --------------------------------------------------------------------------- eq. (4)
def _log_field(t, state, args):
    s, Y = state  # s = log X
    alpha, beta = args
    return (Y, alpha - beta * jnp.exp(2 * s) / 2)


_SOLVERS = {"dopri8": diffrax.Dopri8, "tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5}


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def _solve_core(s0, Y0, alpha, beta, t0, t1, ts, rtol, atol, solver, max_steps):
    return diffrax.diffeqsolve(
        diffrax.ODETerm(_log_field),
        _SOLVERS[solver](),
        t0=t0,
        t1=t1,
        dt0=None,
        y0=(s0, Y0),
        args=(alpha, beta),
        saveat=diffrax.SaveAt(ts=ts, dense=True),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )


@jax.jit
def _evaluate(sol, t):
    s, Y = jax.vmap(sol.evaluate)(t)
    return jnp.exp(s), Y


@dataclass(frozen=True)
class OdeSolution:
    """A dense solution of eq. (4).

    Attributes:
        ts: the regular output grid ``t0..t_max``.
        X, Y: the solution on ``ts``.
        alpha, beta: the ODE's coefficients.
        num_steps: accepted steps of the adaptive solver.
        dense: the underlying ``diffrax.Solution`` (in ``(log X, Y)``).
    """

    ts: jax.Array
    X: jax.Array
    Y: jax.Array
    alpha: float
    beta: float
    num_steps: int
    dense: diffrax.Solution

    def evaluate(self, t) -> tuple[jax.Array, jax.Array]:
        """``(X(t), Y(t))`` at arbitrary times ``t`` (scalar or array) inside ``[ts[0], ts[-1]]``."""
        t = jnp.asarray(t, self.ts.dtype)
        X, Y = _evaluate(self.dense, jnp.atleast_1d(t))
        return (X[0], Y[0]) if t.ndim == 0 else (X.reshape(t.shape), Y.reshape(t.shape))

    @property
    def delta(self) -> float:
        """``delta = sqrt(2 alpha / beta)``, the fixed point ``(delta, 0)``."""
        return math.sqrt(2 * self.alpha / self.beta)


def solve(
    X0,
    Y0,
    *,
    alpha,
    beta,
    t_max,
    t0=0.0,
    num: int = 4001,
    solver: str = "dopri8",
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int = 65536,
) -> OdeSolution:
    """Solve eq. (4) ``X' = XY, Y' = alpha - beta X^2/2`` from ``(X0, Y0)`` at ``t0`` up to ``t_max``.

    Adaptive ``diffrax`` integration (``solver`` in ``dopri8`` (default),
    ``tsit5``, ``dopri5``; PID step-size control) of the equivalent system
    ``(log X)' = Y``, ``Y' = alpha - beta exp(2 log X)/2``, with dense output.
    Tolerances default to ``1e-12`` in float64 and ``1e-6`` in float32 (the
    dtype of ``X0, Y0``; Python floats give float64). With Dopri8 the dense
    interpolant, not the steps, limits the accuracy between steps: at ``1e-12``
    ``g`` (Lemma 3) is conserved to ~1e-10 relative everywhere.

    Returns an :class:`OdeSolution`: ``X, Y`` on ``num`` regularly spaced times
    and ``evaluate(t)`` at arbitrary times.
    """
    dt = _float_dtype(X0, Y0)
    X0 = _positive("X0", X0)
    Y0 = _finite("Y0", Y0)
    alpha, beta = _positive("alpha", alpha), _positive("beta", beta)
    t0, t_max = _finite("t0", t0), _finite("t_max", t_max)
    if t_max <= t0:
        raise ValueError(f"t_max must be larger than t0={t0}, got {t_max!r}")
    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(_SOLVERS)}, got {solver!r}")
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 2:
        raise ValueError(f"num must be an int >= 2, got {num!r}")
    tol = 1e-12 if dt == jnp.float64 else 1e-6
    if rtol is None:
        rtol = tol
    if atol is None:
        atol = tol
    ts = jnp.linspace(t0, t_max, int(num), dtype=dt)
    c = lambda v: jnp.asarray(v, dt)  # noqa: E731
    sol = _solve_core(
        c(math.log(X0)),
        c(Y0),
        c(alpha),
        c(beta),
        c(t0),
        c(t_max),
        ts,
        c(rtol),
        c(atol),
        solver=solver,
        max_steps=int(max_steps),
    )
    s, Y = sol.ys
    return OdeSolution(
        ts=ts,
        X=jnp.exp(s),
        Y=Y,
        alpha=alpha,
        beta=beta,
        num_steps=int(sol.stats["num_accepted_steps"]),
        dense=sol,
    )


# --------------------------------------------------------------------------- Corollary 1
@dataclass(frozen=True)
class OrbitBounds:
    """Extent of the closed orbit of eq. (4) through ``(X0, Y0)`` (Lemma 3, Corollary 1).

    Attributes:
        g: the orbit's level ``g(X0, Y0)``.
        x_min, x_max: the exact extremes of ``X`` (attained where ``Y = 0``).
        y_max: the exact maximum of ``|Y|``, ``sqrt(alpha g)``, attained at ``X = delta``.
        delta: ``sqrt(2 alpha / beta)``.
        x_scaling: Corollary 1's ``delta sqrt(log(delta / X0))`` (NaN unless ``X0 < delta``).
        y_scaling: Corollary 1's ``sqrt(alpha log(delta / X0))`` (NaN unless ``X0 < delta``).
    """

    g: float
    x_min: float
    x_max: float
    y_max: float
    delta: float
    x_scaling: float
    y_scaling: float


def _expm1_minus_id(s: float) -> float:
    """``e^s - 1 - s = h(e^s)`` without cancellation for small ``|s|``."""
    if abs(s) < 0.1:
        term, total = s * s / 2, 0.0
        for k in range(3, 16):
            total += term
            term *= s / k
        return total
    return math.expm1(s) - s


def _level_roots(c: float) -> tuple[float, float]:
    """The two roots ``log P_min <= 0 <= log P_max`` of ``h(P) = c`` (``c >= 0``).

    ``P - log P = 1 + c`` means ``-P e^{-P} = -e^{-(1+c)}``, so
    ``P = -W_k(-e^{-(1+c)})`` with the principal branch ``k = 0`` (``P <= 1``)
    and ``k = -1`` (``P >= 1``). Near the branch point (small ``c``) the series
    ``log P = +-sqrt(2c) - c/3`` is used instead, and where ``e^{-(1+c)}``
    underflows the asymptotics of both branches. Every root is then polished
    by Newton's method on ``F(s) = e^s - 1 - s - c`` in ``s = log P``, with
    ``F`` evaluated without cancellation.
    """
    if c <= 0.0:
        return 0.0, 0.0
    if c < 1e-2:
        r = math.sqrt(2 * c)
        guesses = (-r - c / 3, r - c / 3)
    else:
        arg = -math.exp(-(1.0 + c))
        if arg < 0.0:
            guesses = (
                math.log(-special.lambertw(arg, 0).real),
                math.log(-special.lambertw(arg, -1).real),
            )
        else:  # e^{-(1+c)} underflows: asymptotics of both branches
            guesses = (-(1.0 + c), math.log(1.0 + c + math.log(1.0 + c)))
    out = []
    for s in guesses:
        for _ in range(60):
            der = math.expm1(s)
            if der == 0.0:
                break
            step = (_expm1_minus_id(s) - c) / der
            s -= step
            if abs(step) <= 4e-16 * abs(s):
                break
        out.append(s)
    return out[0], out[1]


def orbit_bounds(X0, Y0=0.0, *, alpha, beta) -> OrbitBounds:
    """Exact extent of the closed orbit of eq. (4) through ``(X0, Y0)`` from the level set of ``g``.

    With ``P = beta X^2 / (2 alpha)``, the orbit is ``h(P) + Y^2/alpha = g``:
    ``X`` ranges over ``delta sqrt(P)`` for the two roots of ``h(P) = g``
    (Lambert W, both branches), and ``|Y|`` is largest, ``sqrt(alpha g)``, at
    ``P = 1`` (``X = delta``). Also returns Corollary 1's scalings
    ``delta sqrt(log(delta/X0))`` and ``sqrt(alpha log(delta/X0))``; for
    ``Y0 = 0``, ``X0 << delta`` the exact bounds approach ``sqrt(2)`` times them.
    """
    X0, Y0 = _positive("X0", X0), _finite("Y0", Y0)
    alpha, beta = _positive("alpha", alpha), _positive("beta", beta)
    delta = math.sqrt(2 * alpha / beta)
    P0 = (X0 / delta) ** 2
    g = (P0 - 2 * math.log(X0 / delta) - 1) + Y0 * Y0 / alpha
    g = max(g, 0.0)
    s_lo, s_hi = _level_roots(g)
    lg = math.log(delta / X0)
    xs, ys = (delta * math.sqrt(lg), math.sqrt(alpha * lg)) if lg > 0 else (math.nan, math.nan)
    return OrbitBounds(
        g=g,
        x_min=delta * math.exp(s_lo / 2),
        x_max=delta * math.exp(s_hi / 2),
        y_max=math.sqrt(alpha * g),
        delta=delta,
        x_scaling=xs,
        y_scaling=ys,
    )


def measured_extent(solution: OdeSolution, *, newton_iters: int = 6) -> tuple[float, float, float]:
    """``(min X, max X, max |Y|)`` of a solved orbit, located on the grid and refined on the dense output.

    Extremes of ``X`` satisfy ``Y(t) = 0`` (``X' = XY``) and are refined by
    Newton's method with ``dY/dt = alpha - beta X^2/2``; extremes of ``Y``
    satisfy ``X(t) = delta`` and are refined with ``dX/dt = XY``. The solution
    should cover at least one period.
    """
    a, b, delta = solution.alpha, solution.beta, solution.delta
    ts = np.asarray(solution.ts)
    X, Y = np.asarray(solution.X), np.asarray(solution.Y)
    lo, hi = ts[0], ts[-1]

    def refine(t, fun):
        for _ in range(newton_iters):
            Xt, Yt = (float(v) for v in solution.evaluate(t))
            f, df = fun(Xt, Yt)
            if df == 0.0:
                break
            t = float(np.clip(t - f / df, lo, hi))
        return solution.evaluate(t)

    x_min = refine(ts[np.argmin(X)], lambda x, y: (y, a - b * x * x / 2))[0]
    x_max = refine(ts[np.argmax(X)], lambda x, y: (y, a - b * x * x / 2))[0]
    y_ext = refine(ts[np.argmax(np.abs(Y))], lambda x, y: (x - delta, x * y))[1]
    return float(x_min), float(x_max), abs(float(y_ext))


def section_crossings(solution: OdeSolution, *, newton_iters: int = 6) -> np.ndarray:
    """Times at which the solved orbit crosses the section ``{Y = 0, X < delta}`` (upwards).

    These are the minima of ``X`` (the start of stage 2 in Fig. 3); successive
    differences are the period measured on the ODE solution. Located on the
    grid, refined by Newton's method with ``dY/dt = alpha - beta X^2/2`` on the
    dense output.
    """
    a, b, delta = solution.alpha, solution.beta, solution.delta
    ts = np.asarray(solution.ts)
    X, Y = np.asarray(solution.X), np.asarray(solution.Y)
    idx = np.flatnonzero((Y[:-1] < 0) & (Y[1:] >= 0) & (X[:-1] < delta))
    out = []
    for i in idx:
        t = ts[i] - Y[i] * (ts[i + 1] - ts[i]) / (Y[i + 1] - Y[i])
        for _ in range(newton_iters):
            Xt, Yt = (float(v) for v in solution.evaluate(t))
            t = float(np.clip(t - Yt / (a - b * Xt * Xt / 2), ts[i], ts[i + 1]))
        out.append(t)
    return np.asarray(out)


def orbit_period(X0, Y0=0.0, *, alpha, beta) -> float:
    """Period of the closed orbit of eq. (4) through ``(X0, Y0)``, by quadrature on the level set of ``g``.

    In ``s = log P = log(beta X^2 / (2 alpha))`` eq. (4) reads ``s' = 2Y``,
    ``Y' = alpha (1 - e^s)``; on the orbit ``Y = +-sqrt(alpha G(s))`` with
    ``G(s) = g - h(e^s)``, so ``T = int_{s_min}^{s_max} ds / sqrt(alpha G(s))``.
    The inverse square-root endpoint singularities are handled by Gauss-Jacobi
    weights (``scipy.integrate.quad(weight='alg')``) and ``G`` is evaluated
    relative to the nearer endpoint (``log1p``/``expm1``) to avoid cancellation.
    Small orbits tend to ``2 pi / sqrt(2 alpha)`` (linearisation at ``(delta, 0)``).
    """
    b = orbit_bounds(X0, Y0, alpha=alpha, beta=beta)
    alpha = float(alpha)
    if b.g <= 0.0:
        return 2 * math.pi / math.sqrt(2 * alpha)
    s_lo, s_hi = _level_roots(b.g)
    p_lo, p_hi = math.exp(s_lo), math.exp(s_hi)

    def phi(v):  # expm1(v) / v, -> 1 at v = 0
        return math.expm1(v) / v if v != 0.0 else 1.0

    def f(s):  # sqrt((s - s_lo)(s_hi - s) / (alpha G(s))), finite at both ends
        d, e = max(s - s_lo, 0.0), max(s_hi - s, 0.0)
        if d <= e:  # G = d (1 - p_lo phi(d))
            return math.sqrt(e / (alpha * (1.0 - p_lo * phi(d))))
        return math.sqrt(d / (alpha * (p_hi * phi(-e) - 1.0)))  # G = e (p_hi phi(-e) - 1)

    val, _ = integrate.quad(f, s_lo, s_hi, weight="alg", wvar=(-0.5, -0.5), limit=200)
    return float(val)


# --------------------------------------------------------------------------- Lotka-Volterra
def _q_from_y(Y, alpha):
    """``Q`` with ``h(Q) = Y^2/alpha``, ``Q <= 1`` for ``Y >= 0`` and ``Q >= 1`` for ``Y < 0``."""
    Y = np.asarray(Y, dtype=np.float64)
    out = np.ones_like(Y)
    for idx, y in np.ndenumerate(Y):
        s_lo, s_hi = _level_roots(float(y * y / alpha))
        out[idx] = math.exp(s_lo if y >= 0 else s_hi)
    return out


def lotka_volterra(X, Y, *, alpha, beta) -> tuple[np.ndarray, np.ndarray]:
    """The change of variables ``(X, Y) -> (P, Q)`` turning eq. (4) into Lotka-Volterra.

    ``P = beta X^2 / (2 alpha)`` (prey) and ``Q`` with ``h(Q) = Y^2/alpha``,
    ``Q <= 1`` iff ``Y >= 0`` (predator). In the time ``s`` of
    :func:`lotka_volterra_rate`, ``dP/ds = P(1 - Q)`` and ``dQ/ds = Q(P - 1)``
    (see the module docstring); ``h(P) + h(Q) = g(X, Y)``.
    NumPy arrays in float64.
    """
    alpha, beta = _positive("alpha", alpha), _positive("beta", beta)
    X = np.asarray(X, dtype=np.float64)
    return beta * X * X / (2 * alpha), _q_from_y(Y, alpha)


def lotka_volterra_rate(Y, *, alpha) -> np.ndarray:
    """``ds/dt = 2Y / (1 - Q(Y)) > 0``: the clock in which ``(P, Q)`` follow Lotka-Volterra exactly.

    ``1 - Q = -expm1(log Q)`` is evaluated from ``log Q`` to avoid cancellation;
    the rate tends to ``sqrt(2 alpha)`` as ``Y -> 0`` (``h(Q) ~ (Q-1)^2/2``).
    """
    alpha = _positive("alpha", alpha)
    Y = np.asarray(Y, dtype=np.float64)
    out = np.full(Y.shape, math.sqrt(2 * alpha))
    for idx, y in np.ndenumerate(Y):
        if y != 0.0:
            s_lo, s_hi = _level_roots(float(y * y / alpha))
            out[idx] = 2 * y / -math.expm1(s_lo if y > 0 else s_hi)
    return out


def lotka_volterra_rhs(P, Q):
    """The classical Lotka-Volterra vector field ``(P(1 - Q), Q(P - 1))``."""
    return P * (1 - Q), Q * (P - 1)


def lotka_volterra_invariant(P, Q):
    """The classical Lotka-Volterra conserved quantity ``V = h(P) + h(Q) = P - log P + Q - log Q - 2``."""
    return h(P) + h(Q)


# --------------------------------------------------------------------------- stages
def stage_of(X, Y, *, alpha, beta) -> np.ndarray:
    """Stage (0..3, see :data:`STAGES`) of each point ``(|x|, y)`` from the vector field of eq. (3)/(4).

    The sharpness grows iff ``|x| < delta`` (``y' = alpha - beta x^2/2``) and
    ``|x|`` grows iff ``y > 0``: 0 = progressive sharpening (``|x| < delta``,
    ``y <= 0``), 1 = blowup (``|x| < delta``, ``y > 0``), 2 =
    self-stabilization (``|x| >= delta``, ``y > 0``), 3 = return to stability
    (``|x| >= delta``, ``y <= 0``).
    """
    alpha, beta = _positive("alpha", alpha), _positive("beta", beta)
    delta = math.sqrt(2 * alpha / beta)
    X, Y = np.abs(np.asarray(X)), np.asarray(Y)
    sharpening = X < delta
    growing = Y > 0
    return np.where(sharpening, np.where(growing, 1, 0), np.where(growing, 2, 3))


def stages_from_changes(abs_x, y) -> np.ndarray:
    """Stage of each step ``t -> t+1`` of any trajectory from the observed changes alone.

    Uses the signs of ``|x_{t+1}| - |x_t|`` and ``y_{t+1} - y_t`` (no model):
    sharpness up & ``|x|`` down = 0, both up = 1, sharpness down & ``|x|`` up = 2,
    both down = 3. Length ``len(y) - 1``. For eq. (3) it equals
    :func:`stage_of` at ``t`` (when ``eta y_t > -2``).
    """
    ax, y = np.abs(np.asarray(abs_x)), np.asarray(y)
    if ax.shape != y.shape or ax.ndim != 1:
        raise ValueError(f"abs_x and y must be 1-d of equal length, got {ax.shape} and {y.shape}")
    up_x = np.diff(ax) > 0
    up_y = np.diff(y) > 0
    return np.where(up_y, np.where(up_x, 1, 0), np.where(up_x, 2, 3))


def contiguous_runs(labels: Sequence[int] | np.ndarray) -> list[tuple[int, int, int]]:
    """``[(start, stop, label), ...]`` of maximal constant runs (``labels[start:stop] == label``)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-d, got shape {labels.shape}")
    if labels.size == 0:
        return []
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [labels.size]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, stops)]


# --------------------------------------------------------------------------- drift of eq. (3)
def discrete_drift(X0, Y0, *, alpha, beta, eta, t_max) -> tuple[np.ndarray, np.ndarray]:
    """``g`` along eq. (3) from ``(X0, Y0)`` up to ODE time ``eta t <= t_max``.

    Returns ``(eta * t, g(x_t, y_t) - g(X0, Y0))``: the discrete map's drift
    from exact conservation (Lemma 3 holds for the ODE, not for eq. (3)).
    """
    eta, t_max = _positive("eta", eta), _positive("t_max", t_max)
    steps = int(math.ceil(t_max / eta))
    x, y = simplified_dynamics(X0, Y0, alpha=alpha, beta=beta, eta=eta, steps=steps)
    g = np.asarray(conserved_quantity(x, y, alpha=alpha, beta=beta))
    return eta * np.arange(steps + 1), g - g[0]
