"""App. H.1's identities (:mod:`.identities`) against autodiff, as the chapter's table rows.

At an arbitrary point ``theta`` (Lemmas 7 and 8, and Corollary 2 where it need not hold) and at
a critical point of ``f`` scaled to the edge of stability ``S = 2/eta`` (Corollaries 2-3,
Lemmas 10-11), the reference side is computed *at theta* by dense autodiff (``jax.grad``,
``jax.hessian``, Lemma 2's ``D^3 L(u, u)``, central finite differences of the sharpness), the
lemma side from quantities at ``theta_bar`` only. Each row reports the relative error of the
identity as implemented (``corrected``) and of App. H's printed formula (``as printed``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eos.theory.scale_invariant.dense import DenseCurvature, dense_curvature
from eos.theory.scale_invariant.geometry import normalize
from eos.theory.scale_invariant.identities import (
    corollary2_hessian,
    corollary3_cosine,
    lemma7_gradient,
    lemma7_hessian,
    lemma8_sharpness_gradient,
    lemma10_alpha,
    lemma11_ratio,
)
from eos.theory.scale_invariant.lemma9 import radius_for_sharpness
from eos.theory.scale_invariant.problem import ScaleInvariantProblem
from eos.validate import positive_number

Array = jax.Array
Row = dict[str, object]

__all__ = ["identity_checks"]

_RANDOM = "random"
_CRITICAL = "critical, S = 2/eta"


def _rel(a: Array, b: Array) -> float:
    """``||a - b|| / ||b||`` over all entries."""
    return float(jnp.linalg.norm(jnp.ravel(a - b)) / jnp.linalg.norm(jnp.ravel(b)))


def _row(claim: str, quantity: str, point: str, corrected, printed=None) -> Row:
    """One table row; ``as printed`` equals ``corrected`` where App. H's formula agrees."""
    return {
        "claim": claim,
        "quantity": quantity,
        "point": point,
        "corrected": float(corrected),
        "as printed": float(corrected if printed is None else printed),
    }


def _lemma7_rows(theta: Array, bar: DenseCurvature, grad_f: Array, hess_f: Array) -> list[Row]:
    """Lemma 7 (gradient and Hessian of ``f``) at a random point, and Corollary 2 there (where
    the ``P g`` terms it drops are not zero, so it must fail)."""
    return [
        _row("Lemma 7", "grad f(theta)", _RANDOM, _rel(lemma7_gradient(theta, bar.grad), grad_f)),
        _row(
            "Lemma 7",
            "hess f(theta)",
            _RANDOM,
            _rel(lemma7_hessian(theta, bar.grad, bar.hess), hess_f),
        ),
        _row(
            "Corollary 2 (needs a critical point)",
            "hess f(theta)",
            _RANDOM,
            _rel(corollary2_hessian(theta, bar.hess), hess_f),
        ),
    ]


def _fd_sharpness(loss, theta: Array, v: Array, fd_eps: float) -> Array:
    """``(S(theta + eps v) - S(theta - eps v)) / (2 eps)`` (dense sharpness)."""
    s_plus = dense_curvature(loss, theta + fd_eps * v).sharpness
    s_minus = dense_curvature(loss, theta - fd_eps * v).sharpness
    return (s_plus - s_minus) / (2 * fd_eps)


def _lemma8_rows(
    problem: ScaleInvariantProblem,
    theta: Array,
    at: DenseCurvature,
    bar: DenseCurvature,
    fd_eps: float,
    seed: int,
) -> list[Row]:
    """Lemma 8 at a random point: against Lemma 2's ``D^3 L(u, u)`` and against a central
    finite difference of the sharpness along a random direction."""
    pred = lemma8_sharpness_gradient(theta, bar.grad_s, bar.sharpness)
    pred_paper = lemma8_sharpness_gradient(theta, bar.grad_s, bar.sharpness, form="paper")
    lemma2 = _row(
        "Lemma 8",
        "grad S(theta) vs Lemma 2",
        _RANDOM,
        _rel(pred, at.grad_s),
        _rel(pred_paper, at.grad_s),
    )
    v = jax.random.normal(jax.random.PRNGKey(seed), theta.shape, dtype=theta.dtype)
    fd = _fd_sharpness(problem.loss, theta, v, fd_eps)
    finite_differences = _row(
        "Lemma 8",
        "grad S(theta) . v vs finite differences",
        _RANDOM,
        abs(float(pred @ v - fd) / float(fd)),
        abs(float(pred_paper @ v - fd) / float(fd)),
    )
    return [lemma2, finite_differences]


def _random_point_rows(
    problem: ScaleInvariantProblem, theta: Array, fd_eps: float, seed: int
) -> list[Row]:
    """Lemmas 7 and 8 at an arbitrary ``theta`` (``grad f = grad L - lam theta``,
    ``hess f = hess L - lam I``)."""
    lam = problem.lam
    tb, _ = normalize(theta)
    at, bar = dense_curvature(problem.loss, theta), dense_curvature(problem.f, tb)
    grad_f = at.grad - lam * theta
    hess_f = at.hess - lam * jnp.eye(theta.shape[0], dtype=theta.dtype)
    return [
        *_lemma7_rows(theta, bar, grad_f, hess_f),
        *_lemma8_rows(problem, theta, at, bar, fd_eps, seed),
    ]


def _corollary_rows(tc: Array, cbar: DenseCurvature, atc: DenseCurvature, lam: float) -> list[Row]:
    """Corollary 2 (``hess f = P H P / r^2``) and Corollary 3 (``u . grad L = 0``) at ``tc``."""
    hess_fc = atc.hess - lam * jnp.eye(tc.shape[0], dtype=tc.dtype)
    return [
        _row(
            "Corollary 2",
            "hess f(theta)",
            _CRITICAL,
            _rel(corollary2_hessian(tc, cbar.hess), hess_fc),
        ),
        _row("Corollary 3", "|cos(u, grad L)|", _CRITICAL, corollary3_cosine(atc.u, atc.grad)),
    ]


def _lemma10_row(tc: Array, cbar: DenseCurvature, lam: float, alpha: Array) -> Row:
    """Lemma 10: ``alpha = -grad L . grad S`` against ``2 lambda S_f(tb) / r^2``."""
    return _row(
        "Lemma 10",
        "alpha = -grad L . grad S",
        _CRITICAL,
        abs(float(lemma10_alpha(tc, cbar.sharpness, lam) - alpha) / float(alpha)),
        abs(float(lemma10_alpha(tc, cbar.sharpness, lam, form="paper") - alpha) / float(alpha)),
    )


def _lemma11_row(tc: Array, cbar: DenseCurvature, atc: DenseCurvature, alpha: Array) -> Row:
    """Lemma 11: ``alpha / (||grad L|| ||grad S||)`` against its closed form on the sphere."""
    ratio = alpha / (jnp.linalg.norm(atc.grad) * jnp.linalg.norm(atc.grad_s))
    return _row(
        "Lemma 11",
        "alpha / (|grad L| |grad S|)",
        _CRITICAL,
        abs(float(lemma11_ratio(tc, cbar.grad_s, cbar.sharpness) - ratio) / float(ratio)),
        abs(
            float(lemma11_ratio(tc, cbar.grad_s, cbar.sharpness, form="paper") - ratio)
            / float(ratio)
        ),
    )


def _critical_point_rows(
    problem: ScaleInvariantProblem, critical_theta_bar: Array, lr: float
) -> list[Row]:
    """Corollaries 2-3 and Lemmas 10-11 at the critical direction scaled to ``S = 2/lr``."""
    lam = problem.lam
    cb = normalize(jnp.asarray(critical_theta_bar))[0]
    cbar = dense_curvature(problem.f, cb)
    rc = radius_for_sharpness(float(cbar.sharpness), lr, lam)
    tc = rc * cb
    atc = dense_curvature(problem.loss, tc)
    rows = _corollary_rows(tc, cbar, atc, lam)
    alpha = -jnp.vdot(atc.grad, atc.grad_s)
    rows.append(_lemma10_row(tc, cbar, lam, alpha))
    rows.append(_lemma11_row(tc, cbar, atc, alpha))
    return rows


def identity_checks(
    problem: ScaleInvariantProblem,
    theta: Array,
    critical_theta_bar: Array,
    lr: float,
    *,
    fd_eps: float = 1e-5,
    seed: int = 0,
) -> list[dict[str, object]]:
    """App. H.1's identities against autodiff, as table rows (float64, dense, tiny models).

    ``theta``: an arbitrary point (Lemmas 7, 8); ``critical_theta_bar``: a unit critical point
    of ``f`` (e.g. :func:`~eos.theory.scale_invariant.reduced.critical_point_on_sphere`), scaled
    to ``S = 2/lr`` (:func:`~eos.theory.scale_invariant.lemma9.radius_for_sharpness`) for
    Corollaries 2-3 and Lemmas 10-11. The reference side is
    always computed *at theta* (``jax.grad``, ``jax.hessian``, Lemma 2's ``D^3 L(u, u)`` with
    ``u`` from ``eigh``, central finite differences of the dense sharpness with step ``fd_eps``);
    the lemma side from quantities at ``theta_bar`` only. Each row holds ``claim``,
    ``quantity``, ``point``, ``corrected`` (relative error of the identity as implemented
    here) and ``as printed`` (relative error of App. H's printed formula; equal to
    ``corrected`` where the two agree).
    """
    lr = positive_number(lr, "lr")
    theta = jnp.asarray(theta)
    return [
        *_random_point_rows(problem, theta, fd_eps, seed),
        *_critical_point_rows(problem, critical_theta_bar, lr),
    ]
