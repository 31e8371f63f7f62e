"""The quantities of App. E that check the assumptions of Sec. 5 along the constrained trajectory.

App. E plots eight quantities per run, evaluated at :math:`\\theta^\\dagger_t` with
:math:`u_t`, :math:`\\nabla L_t`, :math:`\\nabla S_t = \\nabla^3 L_t(u_t, u_t)` (Lemma 2),
:math:`\\nabla S_t^\\perp = P_{u_t}^\\perp \\nabla S_t` and the predicted displacement
:math:`\\hat v_t` (Definitions 3-6). :func:`assumption_quantities` returns them (keys below), and
:func:`summarize` turns their history into the verdicts of the coupling chapter's table.

=============================== ======================================================= ====================
key                             quantity                                                checks
=============================== ======================================================= ====================
``alpha``                       :math:`\\alpha_t = -\\nabla L_t\\cdot\\nabla S_t`            Assumption 1: > 0
``epsilon``                     :math:`\\epsilon_t = \\eta\\sqrt{\\alpha_t}`                  Definition 6: small
``a4_alignment``                :math:`\\alpha_t / (\\|\\nabla L_t\\|\\|\\nabla S_t^\\perp\\|)`   Assumption 4: Θ(1)
``a4_grad_sharpness_over_rho3`` :math:`\\|\\nabla S_t^\\perp\\| / \\rho_3`                   Assumption 4: Θ(1)
``rho3``, ``rho4``              :math:`\\|\\nabla^3 L\\|_{op}`, :math:`\\|\\nabla^4 L\\|_{op}`     (Assumption 3)
``a3_ratio``                    :math:`\\rho_4 / (\\eta\\rho_3^2)`                           Assumption 3: O(1)
``a5_third_perp``               :math:`\\sup_{v,w\\perp u}\\|\\nabla^3L_t(v,w)\\|/(\\rho_3\\|v\\|\\|w\\|)` Assumption 5: O(ε)
``a5_hessian_displacement``     :math:`|\\hat v^{\\perp\\top}\\nabla^2L_t\\hat v^\\perp| / (\\|\\nabla^2L_t\\|\\|\\hat v^\\perp\\|^2)` Assumption 5: O(ε)
``a5_lambda_min``               :math:`|\\lambda_{\\min}(\\nabla^2L_t)|/\\|\\nabla^2L_t\\|_2`         Assumption 5: O(ε)
=============================== ======================================================= ====================

Assumption 2 (eigengap) is enforced by the runs themselves (stop when :math:`\\lambda_2 = 1.9/\\eta`,
App. D.3) and is not recomputed here.

Local proxies. The paper's :math:`\\rho_3` and :math:`\\rho_4` (Assumption 3) are suprema over all
:math:`\\theta` (in fact over a neighbourhood of :math:`\\theta^\\dagger`, footnote 5) of
:math:`\\|\\nabla^3 L(\\theta)\\|_{op}` and of the Lipschitz constant of :math:`\\nabla^3 L`. Here
they are the *local* operator norms :math:`\\|\\nabla^3 L(\\theta)\\|_{op}` and
:math:`\\|\\nabla^4 L(\\theta)\\|_{op}` at the point of evaluation, estimated by power iteration
(App. E plots these local values as well). For a symmetric tensor :math:`T` of order :math:`k`,
:math:`\\|T\\|_{op} = \\sup_{\\|v\\|=1} \\|T(v,\\dots,v)\\|` (Banach), so every iterate's
:math:`\\|T(v,\\dots,v)\\|` is a lower bound and the estimate is the largest one met.
Likewise :math:`\\lambda_{\\min}` comes from a short fixed-length Lanczos run (Ritz values lie inside
the spectrum, so :math:`|\\lambda_{\\min}|` is, if anything, underestimated when :math:`\\lambda_{\\min}<0`).
Warm starts (``warm``) make repeated calls along a trajectory converge over successive calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eos import curvature
from eos.objective import ObjectiveLike

__all__ = [
    "ASSUMPTION_KEYS",
    "assumption_quantities",
    "derivative_ops",
    "format_summary",
    "initial_warm",
    "summarize",
]

#: Keys of :func:`assumption_quantities` in the order of App. E's eight plots (rho3/rho4 added).
ASSUMPTION_KEYS: tuple[str, ...] = (
    "alpha",
    "epsilon",
    "a4_alignment",
    "a4_grad_sharpness_over_rho3",
    "rho3",
    "rho4",
    "a3_ratio",
    "a5_third_perp",
    "a5_hessian_displacement",
    "a5_lambda_min",
)


# --------------------------------------------------------------------------------------------
# Derivative access: an eos.objective.Objective (value, D, hvp) or a plain scalar function.
# --------------------------------------------------------------------------------------------
def derivative_ops(objective: Any) -> tuple[Callable, Callable, Callable]:
    """(value, D, hvp) for an Objective-like object or a scalar JAX function of a flat vector.

    ``D(p, order, *vs)`` contracts the order-th derivative with ``vs``; with ``order - 1``
    vectors the result has one free index (a vector), with ``order`` vectors it is a scalar.
    For a function they are :func:`eos.curvature.D` and :func:`eos.curvature.hvp`.
    """
    if isinstance(objective, ObjectiveLike):
        return objective.value, objective.D, objective.hvp
    if callable(objective):
        return objective, partial(curvature.D, objective), partial(curvature.hvp, objective)
    raise ValueError(
        "objective must be an eos.objective.Objective (with value, D and hvp) or a scalar JAX "
        f"function of a flat parameter vector, got {type(objective).__name__}"
    )


def _normalize(v: jax.Array, fallback: jax.Array) -> jax.Array:
    n = jnp.linalg.norm(v)
    ok = n > jnp.finfo(v.dtype).tiny * 1e8
    safe = jnp.where(ok, n, 1.0)
    return jnp.where(ok, v / safe, fallback)


def _fallback_vector(d: int, dtype: Any, seed: int) -> jax.Array:
    v = jax.random.normal(jax.random.PRNGKey(seed), (d,), dtype=dtype)
    return v / jnp.linalg.norm(v)


_SHIFT = 0.1


# --------------------------------------------------------------------------------------------
# Power iterations for tensor operator norms, a short Lanczos run for lambda_min.
# --------------------------------------------------------------------------------------------
def _tensor_norm(
    apply: Callable[[jax.Array], jax.Array],
    order: int,
    v0: jax.Array,
    iters: int,
    fallback: jax.Array,
):
    """Power iteration for ||T||_op of a symmetric tensor T of order ``order``.

    v <- normalize(T(v,...,v,.) + c (order-2) lam v) with lam = T(v,...,v) and a mild shift
    c = ``_SHIFT`` (a shifted symmetric higher-order power method, Kolda & Mayo 2011). The
    unshifted iteration can circle around a maximiser forever (e.g. App. B's toy model, where
    the linearisation has eigenvalue -1); a full shift c = 1 makes maximisers attractive but
    more often stalls in a poorer local maximum. Every ||T(v,...,v,.)|| is a lower bound of
    ||T||_op (Banach: ||T||_op = sup_v ||T(v,...,v,.)|| for symmetric T); returns the largest
    one seen and the last iterate (the next call's warm start; the best vector instead would
    restart a non-monotone iteration from the same point every call). Like any power method this finds a local maximiser
    from the (warm) start: the result is a lower bound of the true operator norm.
    """

    def body(_, carry):
        v, best = carry
        w = apply(v)
        best = jnp.maximum(best, jnp.linalg.norm(w))
        lam = jnp.vdot(v, w)
        return _normalize(w + _SHIFT * (order - 2) * lam * v, fallback), best

    return jax.lax.fori_loop(0, iters, body, (v0, jnp.zeros((), v0.dtype)))[::-1]


def _restricted_third_norm(D, theta, u, v0, iters, fallback):
    """sup over unit v, w in u-perp of ||D3L(v, w)|| (= sup_v ||D3L(v, v)|| by polarisation).

    Shifted power iteration (as :func:`_tensor_norm`) on the quartic form phi(v) = ||D3L(v,v)||^2 on the unit sphere of u-perp, whose
    gradient is 4 P_perp D3L(v, D3L(v, v)): v <- normalize(P D3L(v, z) + 2 c phi v), z = D3L(v,v).
    Every ||D3L(v, v)|| is a lower bound of the supremum; returns the largest one seen and the
    last iterate.
    """

    def proj(w):
        return w - jnp.vdot(u, w) * u

    def body(_, carry):
        v, best = carry
        z = D(theta, 3, v, v)
        n = jnp.linalg.norm(z)
        g = proj(D(theta, 3, v, z))
        return _normalize(g + _SHIFT * 2.0 * n * n * v, fallback), jnp.maximum(best, n)

    fallback = _normalize(proj(fallback), fallback)
    v0 = _normalize(proj(v0), fallback)
    return jax.lax.fori_loop(0, iters, body, (v0, jnp.zeros((), v0.dtype)))[::-1]


def _lanczos_extremes(matvec, v0: jax.Array, steps: int, seed: int = 1):
    """Lanczos with full reorthogonalisation, ``steps`` (static) HVPs from ``v0``:
    (smallest Ritz value, its unit Ritz vector, largest Ritz value).

    A breakdown (invariant subspace) continues from a pseudo-random vector orthogonal to the
    basis with a zero off-diagonal, which keeps T = Q^T H Q exact, so the Ritz values stay inside
    the spectrum. A fixed-size loop keeps the cost (and the compiled program) small and
    predictable; the warm start carries the convergence across calls.
    """
    d = v0.shape[0]
    k = min(steps, d)
    dtype = v0.dtype
    keys = jax.random.split(jax.random.PRNGKey(seed), k)
    tiny = jnp.finfo(dtype).tiny

    def orth(w, Q):
        w = w - Q.T @ (Q @ w)
        return w - Q.T @ (Q @ w)

    def body(j, carry):
        Q, a, b, q = carry
        Q = Q.at[j].set(q)
        w = matvec(q)
        scale = jnp.linalg.norm(w)
        a = a.at[j].set(jnp.vdot(q, w))
        w = orth(w, Q)
        bj = jnp.linalg.norm(w)
        broke = bj <= 1e-10 * jnp.maximum(scale, tiny)
        r = orth(jax.random.normal(keys[j], (d,), dtype), Q)
        q_next = jnp.where(
            broke, r / jnp.maximum(jnp.linalg.norm(r), tiny), w / jnp.where(broke, 1.0, bj)
        )
        return Q, a, b.at[j].set(jnp.where(broke, 0.0, bj)), q_next

    init = (
        jnp.zeros((k, d), dtype),
        jnp.zeros((k,), dtype),
        jnp.zeros((k,), dtype),
        _normalize(v0, _fallback_vector(d, dtype, seed)),
    )
    Q, a, b, _ = jax.lax.fori_loop(0, k, body, init)
    T = jnp.diag(a) + jnp.diag(b[:-1], 1) + jnp.diag(b[:-1], -1)
    evals, evecs = jnp.linalg.eigh(T)
    v_min = Q.T @ evecs[:, 0]
    return evals[0], v_min / jnp.linalg.norm(v_min), evals[-1]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def initial_warm(
    theta: jax.Array, *, u: jax.Array, grad_sharpness: jax.Array
) -> dict[str, jax.Array]:
    """The ``warm`` pytree that ``warm=None`` stands for (same structure as later warm states).

    ``rho3`` starts at :math:`(u + \\nabla S/\\|\\nabla S\\|)/\\|\\cdot\\|` (from :math:`u` alone the
    first step goes to :math:`\\nabla S = \\nabla^3L(u,u)`, where :math:`\\nabla^3L(\\cdot,\\cdot)` may
    vanish, as in App. B's toy model), ``rho4`` at :math:`u`,
    ``third_perp`` at :math:`\\nabla S^\\perp/\\|\\nabla S^\\perp\\|`, ``lambda_min`` at a fixed
    pseudo-random unit vector. Useful to build a fixed-structure carry for a jitted loop.
    """
    theta = jnp.asarray(theta)
    dtype = theta.dtype
    d = theta.shape[0]
    u = jnp.asarray(u, dtype)
    gs = jnp.asarray(grad_sharpness, dtype)
    fb = _fallback_vector(d, dtype, 2)
    return {
        "rho3": _normalize(u + _normalize(gs, fb), fb),
        "rho4": u,
        "third_perp": _normalize(gs - jnp.vdot(u, gs) * u, fb),
        "lambda_min": _fallback_vector(d, dtype, 3),
    }


_WARM_KEYS = ("rho3", "rho4", "third_perp", "lambda_min")


def _check_settings(lr: Any, power_iters: int, lanczos_steps: int) -> None:
    """``lr > 0`` (when a Python number; a traced ``lr`` is not checked), ``power_iters >= 1``
    and ``lanczos_steps >= 2``."""
    if isinstance(lr, (int, float)) and lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if power_iters < 1 or lanczos_steps < 2:
        raise ValueError(
            f"power_iters must be >= 1 and lanczos_steps >= 2, got {power_iters} and {lanczos_steps}"
        )


def _point_vectors(
    theta: Any, u: Any, grad_loss: Any, grad_sharpness: Any, displacement: Any
) -> tuple[jax.Array, ...]:
    """``(theta, u, grad_loss, grad_sharpness, displacement)`` as arrays in the dtype of the flat
    ``theta``, each of its shape."""
    theta = jnp.asarray(theta)
    dtype = theta.dtype
    if theta.ndim != 1:
        raise ValueError(f"theta must be a flat parameter vector, got shape {theta.shape}")
    u, gL, gS, disp = (jnp.asarray(a, dtype) for a in (u, grad_loss, grad_sharpness, displacement))
    for name, a in (("u", u), ("grad_loss", gL), ("grad_sharpness", gS), ("displacement", disp)):
        if a.shape != theta.shape:
            raise ValueError(f"{name} must have the shape of theta {theta.shape}, got {a.shape}")
    return theta, u, gL, gS, disp


def _warm_state(
    warm: Mapping[str, jax.Array] | None, theta: jax.Array, u: jax.Array, gS: jax.Array
) -> dict[str, jax.Array]:
    """``warm`` (or :func:`initial_warm` when ``None``) with its four vectors in ``theta``'s dtype."""
    if warm is None:
        warm = initial_warm(theta, u=u, grad_sharpness=gS)
    missing = set(_WARM_KEYS) - set(warm)
    if missing:
        raise ValueError(f"warm is missing {sorted(missing)}; pass None or a previous warm state")
    return {k: jnp.asarray(warm[k], theta.dtype) for k in _WARM_KEYS}


def assumption_quantities(
    objective: Any,
    theta: jax.Array,
    *,
    u: jax.Array,
    grad_loss: jax.Array,
    grad_sharpness: jax.Array,
    displacement: jax.Array,
    lr: float,
    warm: Mapping[str, jax.Array] | None = None,
    power_iters: int = 8,
    lanczos_steps: int = 20,
) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """App. E's assumption quantities at :math:`\\theta = \\theta^\\dagger_t` (see the module table).

    Arguments: ``u`` = :math:`u_t` (unit top eigenvector), ``grad_loss`` = :math:`\\nabla L_t`,
    ``grad_sharpness`` = :math:`\\nabla S_t = \\nabla^3 L_t(u_t,u_t)` (Lemma 2),
    ``displacement`` = the predicted displacement :math:`\\hat v_t` (Definition 7), ``lr`` =
    :math:`\\eta`. ``objective`` is an :class:`eos.objective.Objective` (its ``D`` and ``hvp`` are
    used, so ghost batching applies) or a plain scalar JAX function of the flat vector.

    Returned scalars (dtype of ``theta``):

    - ``alpha`` :math:`= -\\nabla L_t\\cdot\\nabla S_t` -- Assumption 1 asks :math:`\\alpha_t > 0`.
    - ``epsilon`` :math:`= \\eta\\sqrt{\\alpha_t}` -- Definition 6, the small parameter of
      Theorem 1; NaN where :math:`\\alpha_t \\le 0` (Assumption 1 fails, :math:`\\epsilon` undefined).
    - ``a4_alignment`` :math:`= -\\nabla L_t\\cdot\\nabla S_t/(\\|\\nabla L_t\\|\\|\\nabla S_t^\\perp\\|)`
      -- Assumption 4, first part, :math:`\\Theta(1)`.
    - ``a4_grad_sharpness_over_rho3`` :math:`= \\|\\nabla S_t^\\perp\\|/\\rho_3` -- Assumption 4,
      second part, :math:`\\Theta(1)`.
    - ``rho3``, ``rho4``: local :math:`\\|\\nabla^3L(\\theta)\\|_{op}`, :math:`\\|\\nabla^4L(\\theta)\\|_{op}`
      (power iteration; proxies for the paper's global constants, see the module docstring).
      ``rho3`` is the largest of the lower bounds :math:`\\|\\nabla^3L(v,v)\\|` met, including
      :math:`\\|\\nabla S_t\\|` and the restricted estimate below, so the ratios stay :math:`\\le 1`.
    - ``a3_ratio`` :math:`= \\rho_4/(\\eta\\rho_3^2)` -- Assumption 3, :math:`O(1)`.
    - ``a5_third_perp`` :math:`= \\sup_{v,w\\perp u_t}\\|\\nabla^3L_t(v,w)\\|/(\\rho_3\\|v\\|\\|w\\|)`
      -- Assumption 5, first ratio, :math:`O(\\epsilon)` (power iteration in :math:`u_t^\\perp`).
    - ``a5_hessian_displacement`` :math:`= |\\hat v^{\\perp\\top}\\nabla^2L_t\\hat v^\\perp|/(\\|\\nabla^2L_t\\|_2\\|\\hat v^\\perp\\|^2)`
      with :math:`\\hat v^\\perp = P_{u_t}^\\perp\\hat v_t` -- Assumption 5, second ratio,
      :math:`O(\\epsilon)` (NaN if :math:`\\hat v^\\perp = 0`).
    - ``a5_lambda_min`` :math:`= |\\lambda_{\\min}(\\nabla^2L_t)|/\\|\\nabla^2L_t\\|_2` with
      :math:`\\|\\nabla^2L_t\\|_2 = \\max(|\\lambda_{\\max}|, |\\lambda_{\\min}|)` -- Assumption 5,
      third ratio, :math:`O(\\epsilon)`.

    ``warm`` (``None`` on the first call, then the returned pytree; see :func:`initial_warm`)
    carries the power-iteration and Lanczos vectors between calls. Cost per call:
    ``power_iters`` third-derivative contractions for :math:`\\rho_3`, as many fourth-derivative
    ones for :math:`\\rho_4`, ``2 * power_iters`` third-derivative ones for ``a5_third_perp``,
    ``lanczos_steps + 2`` HVPs. Jit-compatible (no Python branching on values; ``power_iters``
    and ``lanczos_steps`` are static).
    """
    _check_settings(lr, power_iters, lanczos_steps)
    derivative_ops(objective)  # validates the type
    theta, u, gL, gS, disp = _point_vectors(theta, u, grad_loss, grad_sharpness, displacement)
    dtype = theta.dtype
    warm = _warm_state(warm, theta, u, gS)
    return _quantities(
        objective,
        int(power_iters),
        int(lanczos_steps),
        theta,
        u,
        gL,
        gS,
        disp,
        jnp.asarray(lr, dtype),
        warm,
    )


@partial(jax.jit, static_argnums=(0, 1, 2))
def _quantities(objective, power_iters, lanczos_steps, theta, u, gL, gS, disp, lr, warm):
    """The computation of :func:`assumption_quantities`, jitted once per objective and sizes."""
    _, D, hvp = derivative_ops(objective)
    dtype = theta.dtype
    d = theta.shape[0]
    fb = _fallback_vector(d, dtype, 2)

    def perp(v):
        return v - jnp.vdot(u, v) * u

    gS_perp = perp(gS)
    norm_gS_perp = jnp.linalg.norm(gS_perp)

    # Assumption 1 and Definition 6.
    alpha = -jnp.vdot(gL, gS)
    epsilon = jnp.where(alpha > 0, lr * jnp.sqrt(jnp.where(alpha > 0, alpha, 0.0)), jnp.nan)

    # Assumption 3: local operator norms of the third and fourth derivatives.
    rho3_pi, v3 = _tensor_norm(lambda v: D(theta, 3, v, v), 3, warm["rho3"], power_iters, fb)
    rho4, v4 = _tensor_norm(lambda v: D(theta, 4, v, v, v), 4, warm["rho4"], power_iters, fb)
    third_perp, vp = _restricted_third_norm(D, theta, u, warm["third_perp"], power_iters, fb)
    rho3 = jnp.maximum(jnp.maximum(rho3_pi, jnp.linalg.norm(gS)), third_perp)

    # Hessian spectrum ends: lambda_max from u^T H u (u is the top eigenvector) and the Lanczos
    # run's largest Ritz value, lambda_min from its smallest.
    lam_u = jnp.vdot(u, hvp(theta, u))
    lam_min, v_min, lam_top = _lanczos_extremes(
        lambda v: hvp(theta, v), warm["lambda_min"], lanczos_steps
    )
    lam_max = jnp.maximum(lam_u, lam_top)
    h_norm = jnp.maximum(jnp.abs(lam_max), jnp.abs(lam_min))

    v_perp = perp(disp)
    vHv = jnp.vdot(v_perp, hvp(theta, v_perp))

    out = {
        "alpha": alpha,
        "epsilon": epsilon,
        "a4_alignment": alpha / (jnp.linalg.norm(gL) * norm_gS_perp),
        "a4_grad_sharpness_over_rho3": norm_gS_perp / rho3,
        "rho3": rho3,
        "rho4": rho4,
        "a3_ratio": rho4 / (lr * rho3**2),
        "a5_third_perp": third_perp / rho3,
        "a5_hessian_displacement": jnp.abs(vHv) / (h_norm * jnp.vdot(v_perp, v_perp)),
        "a5_lambda_min": jnp.abs(lam_min) / h_norm,
    }
    new_warm = {"rho3": v3, "rho4": v4, "third_perp": vp, "lambda_min": v_min}
    return out, new_warm


# --------------------------------------------------------------------------------------------
# Summary table (numpy, after the run)
# --------------------------------------------------------------------------------------------
_PREFIXES = ("assumptions/", "diag/", "constrained/")


def _get(history: Mapping[str, np.ndarray], key: str) -> np.ndarray | None:
    for k in (key, *(p + key for p in _PREFIXES)):
        if k in history:
            return np.asarray(history[k], dtype=np.float64).ravel()
    return None


def _stats(a: np.ndarray) -> tuple[np.ndarray, float, float, int]:
    """``(finite entries, their min, their max, number of non-finite entries)`` (NaN bounds when
    nothing is finite)."""
    fin = a[np.isfinite(a)]
    lo = float(fin.min()) if fin.size else float("nan")
    hi = float(fin.max()) if fin.size else float("nan")
    return fin, lo, hi, int(a.size - fin.size)


def _row(
    key: str, assumption: str, criterion: str, statistic: float, holds: bool | None, a: np.ndarray
) -> dict[str, Any]:
    """One row of :func:`summarize` (``min``, ``max`` and ``n_nonfinite`` of the readings ``a``)."""
    _, lo, hi, bad = _stats(a)
    return {
        "quantity": key,
        "assumption": assumption,
        "criterion": criterion,
        "min": lo,
        "max": hi,
        "statistic": statistic,
        "holds": holds,
        "n_nonfinite": bad,
    }


def _assumption1_rows(history: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Assumption 1: ``alpha_t > 0`` at every time (and no non-finite reading)."""
    a = _get(history, "alpha")
    if a is None:
        return []
    fin, lo, _, bad = _stats(a)
    return [
        _row(
            "alpha", "Assumption 1", "min alpha > 0", lo, bool(fin.size and lo > 0 and bad == 0), a
        )
    ]


def _definition6_rows(eps: np.ndarray | None, epsilon_small: float) -> list[dict[str, Any]]:
    """Definition 6: ``epsilon_t = eta sqrt(alpha_t)`` stays below ``epsilon_small``."""
    if eps is None:
        return []
    fin, _, hi, _ = _stats(eps)
    holds = bool(fin.size and hi < epsilon_small)
    return [_row("epsilon", "Definition 6", f"max epsilon < {epsilon_small:g}", hi, holds, eps)]


def _assumption4_rows(
    history: Mapping[str, np.ndarray], theta1_range: tuple[float, float]
) -> list[dict[str, Any]]:
    """Assumption 4 (Θ(1)): both ratios inside ``theta1_range`` throughout (statistic: the
    max/min spread)."""
    rows = []
    lo_ok, hi_ok = theta1_range
    criterion = f"Theta(1): within [{lo_ok:g}, {hi_ok:g}]"
    for key in ("a4_alignment", "a4_grad_sharpness_over_rho3"):
        a = _get(history, key)
        if a is None:
            continue
        fin, lo, hi, _ = _stats(a)
        spread = hi / lo if fin.size and lo > 0 else float("inf")
        holds = bool(fin.size and lo >= lo_ok and hi <= hi_ok)
        rows.append(_row(key, "Assumption 4", criterion, spread, holds, a))
    return rows


def _assumption3_rows(
    history: Mapping[str, np.ndarray], big_o_constant: float
) -> list[dict[str, Any]]:
    """Assumption 3: readings of ``rho3``, ``rho4`` and the test ``rho4 / (eta rho3^2) = O(1)``."""
    rows = []
    for key in ("rho3", "rho4"):
        a = _get(history, key)
        if a is not None:
            _, _, hi, _ = _stats(a)
            rows.append(_row(key, "Assumption 3", "reading (local operator norm)", hi, None, a))
    a = _get(history, "a3_ratio")
    if a is not None:
        fin, _, hi, _ = _stats(a)
        holds = bool(fin.size and hi <= big_o_constant)
        criterion = f"O(1): max <= {big_o_constant:g}"
        rows.append(_row("a3_ratio", "Assumption 3", criterion, hi, holds, a))
    return rows


def _assumption5_rows(
    history: Mapping[str, np.ndarray], eps: np.ndarray | None, big_o_constant: float
) -> list[dict[str, Any]]:
    """Assumption 5 (O(ε)): each ratio divided by that step's ``epsilon_t`` stays below
    ``big_o_constant`` (no verdict without an ``epsilon`` of the same length)."""
    rows = []
    for key in ("a5_third_perp", "a5_hessian_displacement", "a5_lambda_min"):
        a = _get(history, key)
        if a is None:
            continue
        if eps is None or eps.shape != a.shape:
            criterion = "O(epsilon): needs epsilon of the same length"
            statistic, holds = float("nan"), None
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = a / eps
            fin, _, statistic, _ = _stats(rel)
            criterion = f"O(epsilon): max ratio/epsilon <= {big_o_constant:g}"
            holds = bool(fin.size and statistic <= big_o_constant)
        rows.append(_row(key, "Assumption 5", criterion, statistic, holds, a))
    return rows


def summarize(
    history: Mapping[str, np.ndarray],
    *,
    epsilon_small: float = 0.25,
    theta1_range: tuple[float, float] = (0.05, 20.0),
    big_o_constant: float = 10.0,
) -> list[dict[str, Any]]:
    """Per assumption: did it hold along the run, and by what margin (App. E, coupling chapter).

    ``history`` maps the keys of :func:`assumption_quantities` (optionally prefixed with
    ``assumptions/``, ``diag/`` or ``constrained/``) to arrays over the diagnostic times.
    Non-finite entries are dropped (and counted in ``n_nonfinite``). Rows (dicts) have
    ``quantity``, ``assumption``, ``criterion``, ``min``, ``max``, ``statistic`` (the number the
    criterion is applied to), ``holds`` (bool, or None for plain readings) and ``n_nonfinite``.
    Criteria, all explicit thresholds being the keyword arguments:

    - Assumption 1: ``min alpha > 0`` (statistic: min alpha).
    - Definition 6: ``max epsilon < epsilon_small`` (statistic: max epsilon).
    - Assumption 4 (Θ(1)): both ratios inside ``theta1_range`` over the whole run
      (statistic: max/min spread).
    - Assumption 3 (O(1)): ``max a3_ratio <= big_o_constant``.
    - Assumption 5 (O(ε)): ``max_t ratio_t / epsilon_t <= big_o_constant`` (statistic), i.e. each
      ratio is compared with that step's :math:`\\epsilon_t`.
    """
    present = [k for k in ASSUMPTION_KEYS if _get(history, k) is not None]
    if not present:
        raise ValueError(
            f"history has none of the assumption keys {ASSUMPTION_KEYS}; got {sorted(history)[:10]}"
        )
    eps = _get(history, "epsilon")
    return [
        *_assumption1_rows(history),
        *_definition6_rows(eps, epsilon_small),
        *_assumption4_rows(history, theta1_range),
        *_assumption3_rows(history, big_o_constant),
        *_assumption5_rows(history, eps, big_o_constant),
    ]


def format_summary(rows: list[dict[str, Any]], digits: int = 3) -> str:
    """A Markdown table of :func:`summarize`'s rows (:func:`eos.analysis.tables.markdown_table`;
    a failed check reads **no**)."""
    from eos.analysis.tables import markdown_table

    def holds(h: Any) -> str | None:
        return None if h is None else ("yes" if h else "**no**")

    cols = ("assumption", "criterion", "min", "max", "statistic")
    table = {r["quantity"]: {**{c: r[c] for c in cols}, "holds": holds(r["holds"])} for r in rows}
    return markdown_table(table, digits, index_name="quantity")
