"""Lemma 9: the derivative norms ``rho_3 = Theta(eta^{-3/2})``, ``rho_4 = O(eta^{-2})``.

On the level set ``S(theta) = target/eta`` of ``L = f + (lambda/2) ||theta||^2`` the norm is
fixed by the direction: ``S = S_f(tb) / r^2 + lambda`` gives
``r^2 = S_f(tb) / (target/eta - lambda)`` (:func:`radius_for_sharpness`), so
``r = Theta(eta^{1/2})`` and, ``D^k f`` being homogeneous of degree ``-k`` (and ``D^k L = D^k f``
for ``k >= 3``), ``||D^k L(theta)||_op = ||D^k f(tb)||_op / r^k`` (:func:`lemma9_closed_form`).
Hence ``rho_3 = Theta(eta^{-3/2})``, ``rho_4 = O(eta^{-2})`` and ``rho_4 = O(eta rho_3^2)``
(Lemma 6). :func:`lemma9_scaling` measures both over learning rates and fits the exponents.
Lemma 9's sup runs over ``S <= 4/eta`` (``target=4``); ``target=2`` is the edge of stability.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from eos.theory.scale_invariant.dense import dense_curvature, derivative_tensor
from eos.theory.scale_invariant.geometry import normalize
from eos.theory.scale_invariant.identities import lemma8_sharpness_gradient
from eos.theory.scale_invariant.problem import ScaleInvariantProblem
from eos.theory.scale_invariant.tensor_norm import symmetric_tensor_norm
from eos.validate import positive_number

Array = jax.Array
NormFn = Callable[[Callable[[Array], Array], Array], float]

__all__ = ["Lemma9Result", "lemma9_closed_form", "lemma9_scaling", "radius_for_sharpness"]


def radius_for_sharpness(sf_bar: float, lr: float, lam: float, *, target: float = 2.0) -> float:
    """The norm ``r`` at which ``S(r theta_bar) = target/eta``: ``r^2 = S_f(tb)/(target/eta - lambda)``.

    ``target=2`` is the edge of stability; Lemma 9's sup runs over ``S <= 4/eta`` (``target=4``).
    """
    lr = positive_number(lr, "lr")
    lam = positive_number(lam, "lam", allow_zero=True)
    sf_bar = float(sf_bar)
    if not sf_bar > 0.0:
        raise ValueError(
            f"sf_bar (the normalised sharpness S_f(theta_bar)) must be > 0, got {sf_bar}"
        )
    if target / lr <= lam:
        raise ValueError(
            f"target/lr = {target / lr} must exceed lam = {lam} (no radius reaches S = target/lr)"
        )
    return math.sqrt(sf_bar / (target / lr - lam))


def lemma9_closed_form(
    norm3_bar: float, norm4_bar: float, sf_bar: float, lr: float, lam: float, *, target: float = 2.0
) -> tuple[float, float]:
    """``(||D^3 L||_op, ||D^4 L||_op)`` at ``r theta_bar`` with ``S = target/eta``: ``||D^k f(tb)|| / r^k``."""
    r = radius_for_sharpness(sf_bar, lr, lam, target=target)
    return norm3_bar / r**3, norm4_bar / r**4


@dataclass(frozen=True)
class Lemma9Result:
    """Lemma 9 measured: operator norms of ``D^3 L``, ``D^4 L`` at ``S(theta) = target/eta``.

    ``rho3[i], rho4[i]`` are the maxima over the given directions at learning rate ``lrs[i]``;
    ``exponent3, exponent4`` the least-squares slopes of ``log rho`` against ``log eta``
    (Lemma 9: ``-3/2`` and ``<= -2``, i.e. ``-2`` here); ``grad_s_norm[i]`` the largest
    ``||grad S||`` at those points (Lemma 9's lower bound ``||grad S|| <= rho_3``);
    ``ratio[i] = rho4 / (eta rho3^2)`` (Lemma 6: ``O(1)``).
    """

    lrs: np.ndarray
    rho3: np.ndarray
    rho4: np.ndarray
    grad_s_norm: np.ndarray
    exponent3: float
    exponent4: float
    ratio: np.ndarray
    norms_bar: np.ndarray  # (k, 2): ||D^3 f(tb_k)||, ||D^4 f(tb_k)|| per direction
    sf_bar: np.ndarray  # (k,)


def _default_norm(order: int) -> NormFn:
    """``(f, x) -> ||D^order f(x)||_op`` from the dense tensor (:func:`symmetric_tensor_norm`)."""

    def norm(f: Callable[[Array], Array], x: Array) -> float:
        return symmetric_tensor_norm(derivative_tensor(f, x, order))

    return norm


def _rho_over_lrs(
    problem: ScaleInvariantProblem,
    tbs: list[Array],
    sfs: list[float],
    gbars: list[Array],
    lrs: np.ndarray,
    target: float,
    rho3_fn: NormFn,
    rho4_fn: NormFn,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rho3, rho4, max ||grad S||)`` per learning rate: maxima over the directions ``tbs``
    scaled to ``S = target/eta``; ``grad S`` from Lemma 8 at quantities on the sphere."""
    rho3 = np.zeros(lrs.size)
    rho4 = np.zeros(lrs.size)
    gsn = np.zeros(lrs.size)
    for i, lr in enumerate(lrs):
        for tb, s, gb in zip(tbs, sfs, gbars):
            theta = radius_for_sharpness(s, lr, problem.lam, target=target) * tb
            rho3[i] = max(rho3[i], float(rho3_fn(problem.loss, theta)))
            rho4[i] = max(rho4[i], float(rho4_fn(problem.loss, theta)))
            gs = lemma8_sharpness_gradient(theta, gb, jnp.asarray(s, theta.dtype))
            gsn[i] = max(gsn[i], float(jnp.linalg.norm(gs)))
    return rho3, rho4, gsn


def lemma9_scaling(
    problem: ScaleInvariantProblem,
    directions: Sequence[Array],
    lrs: Sequence[float],
    *,
    target: float = 2.0,
    rho3_fn: NormFn | None = None,
    rho4_fn: NormFn | None = None,
) -> Lemma9Result:
    """Measure ``rho_3, rho_4`` over learning rates at points ``theta = r(eta) theta_bar_k``.

    For each ``eta`` in ``lrs`` and each direction, scale to ``S(theta) = target/eta``
    (:func:`radius_for_sharpness`), evaluate ``||D^3 L(theta)||_op`` and ``||D^4 L(theta)||_op``
    *at theta* with ``rho3_fn(f, theta)`` / ``rho4_fn(f, theta)`` (default: dense
    :func:`symmetric_tensor_norm`; pass eos.curvature's estimators for larger models), take the
    maximum over directions (a proxy for Lemma 9's sup) and fit exponents on a log-log scale.
    """
    lrs_arr = np.asarray([positive_number(v, "lrs[i]") for v in lrs], dtype=float)
    if lrs_arr.size < 2:
        raise ValueError("lrs must hold at least two learning rates to fit an exponent")
    if len(directions) < 1:
        raise ValueError("directions must hold at least one parameter vector")
    rho3_fn = rho3_fn or _default_norm(3)
    rho4_fn = rho4_fn or _default_norm(4)
    tbs = [normalize(jnp.asarray(v))[0] for v in directions]
    sfs, gbars = [], []
    for tb in tbs:
        cb = dense_curvature(problem.f, tb)
        sfs.append(float(cb.sharpness))
        gbars.append(cb.grad_s)
    rho3, rho4, gsn = _rho_over_lrs(problem, tbs, sfs, gbars, lrs_arr, target, rho3_fn, rho4_fn)
    e3 = float(np.polyfit(np.log(lrs_arr), np.log(rho3), 1)[0])
    e4 = float(np.polyfit(np.log(lrs_arr), np.log(rho4), 1)[0])
    # D^k L = D^k f for k >= 3 (the weight-decay term is quadratic): evaluate on L throughout
    norms_bar = np.array(
        [[float(rho3_fn(problem.loss, tb)), float(rho4_fn(problem.loss, tb))] for tb in tbs]
    )
    return Lemma9Result(
        lrs=lrs_arr,
        rho3=rho3,
        rho4=rho4,
        grad_s_norm=gsn,
        exponent3=e3,
        exponent4=e4,
        ratio=rho4 / (lrs_arr * rho3**2),
        norms_bar=norms_bar,
        sf_bar=np.asarray(sfs),
    )
