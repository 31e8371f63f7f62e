"""Scale-invariant losses with weight decay (App. H, Sec. 7.3).

A loss ``f`` is *scale invariant* when ``f(c theta) = f(theta)`` for every ``c > 0``. With weight
decay the training loss is ``L(theta) = f(theta) + (lambda/2) ||theta||^2``. Write
``r = ||theta||``, ``theta_bar = theta / r``, ``P = I - theta_bar theta_bar^T`` (the projector
onto the tangent space of the sphere at ``theta_bar``), ``S`` the sharpness of ``L``
(Definition 1) and ``S_f`` the sharpness of ``f``. Homogeneity of degree ``-k`` of the ``k``-th
derivative of ``f`` gives the identities of App. H.1, which this module implements as explicit
right-hand sides (functions of the quantities at ``theta_bar``):

* Lemma 7: ``grad f(theta) = P grad f(theta_bar) / r`` and
  ``hess f(theta) = [P H P - P g theta_bar^T - theta_bar (P g)^T] / r^2`` with
  ``g, H`` the gradient and Hessian of ``f`` at ``theta_bar``.
* Corollary 2: at a critical point of ``f``, ``hess f(theta) = P H P / r^2``.
* Corollary 3: at a critical point of ``f``, ``u(theta) . grad L(theta) = 0``.
* Lemma 8 (**corrected**): ``grad S(theta) = [P grad S_f(theta_bar) - 2 S_f(theta_bar) theta_bar] / r^3``.
  The paper prints the coefficient of ``S_f(theta_bar) theta_bar`` as 1 (written
  ``S(theta_bar) - lambda = S_f(theta_bar)``); differentiating ``S_f(theta_bar)/r^2`` gives
  ``-2 S_f(theta_bar) theta_bar / r^3`` (Euler: ``theta . grad S_f(theta) = -2 S_f(theta)``).
* Lemma 9: at a point with ``S(theta) = 2/eta``, ``r^2 = S_f(theta_bar)/(2/eta - lambda)``, so
  ``||D^k L(theta)||_op = ||D^k f(theta_bar)||_op / r^k``, i.e. ``rho_3 = Theta(eta^{-3/2})`` and
  ``rho_4 = O(eta^{-2})``.
* Lemma 10 (**corrected**): at a critical point of ``f``,
  ``alpha(theta) = -grad L . grad S = 2 lambda S_f(theta_bar) / r^2 = 2 lambda S_f(theta)``
  (the paper's value ``lambda S_f(theta_bar)/r^2`` inherits the factor 2 of Lemma 8).
* Lemma 11 (**corrected**): at a critical point of ``f``,
  ``alpha / (||grad L|| ||grad S||) = 1 / sqrt(1 + ||P grad S_f(theta_bar)||^2 / (2 S_f(theta_bar))^2)``,
  independent of ``r`` and ``lambda``.
* App. H's equivalence of minimisation problems: minimising ``L`` subject to ``S <= 2/eta``
  is, for each direction ``theta_bar``, solved by ``r^2 = eta S_f(theta_bar) / (2 - eta lambda)``,
  leaving the *reduced problem* on the unit sphere
  ``min f(theta_bar) + c S_f(theta_bar)`` with ``c = eta lambda / (2 (2 - eta lambda))``
  (**corrected**: the paper prints ``c = eta lambda / (2 - eta lambda)``, dropping the 1/2 of
  ``(lambda/2) r^2``).

Every function taking ``form=`` offers ``"corrected"`` (the default, the identity that holds) and
``"paper"`` (App. H as printed), so the chapter can show both against autodiff.

:class:`ScaleInvariantProblem` is an exactly scale-invariant model: a two-layer tanh network on
a small synthetic teacher-student regression set, evaluated at the parameter vector normalised
to a fixed radius, ``f(theta) = g(R theta / ||theta||)``. Its ``f`` and ``loss`` are plain
scalar functions of a flat vector (usable with :mod:`eos.curvature` and
``eos.objective.Objective.from_function``). The dense helpers here (``jax.hessian`` +
``eigh``) are meant for such tiny models (a few hundred parameters at most).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from eos.curvature import D

Array = jax.Array
Form = Literal["corrected", "paper"]
FORMS: tuple[str, ...] = ("corrected", "paper")
#: Largest parameter count the dense (materialised Hessian/tensor) helpers accept.
MAX_DENSE_PARAMS = 2000

__all__ = [
    "FORMS",
    "GDWeightDecayResult",
    "Lemma9Result",
    "ReducedSolution",
    "DenseCurvature",
    "ScaleInvariantProblem",
    "corollary2_hessian",
    "corollary3_cosine",
    "critical_point_on_sphere",
    "dense_curvature",
    "dense_sharpness",
    "derivative_tensor",
    "lemma7_gradient",
    "lemma7_hessian",
    "lemma8_sharpness_gradient",
    "identity_checks",
    "lemma9_closed_form",
    "lemma9_scaling",
    "lemma10_alpha",
    "lemma11_ratio",
    "make_problem",
    "minimize_reduced",
    "normalize",
    "radius_for_sharpness",
    "reduced_coefficient",
    "reduced_objective",
    "run_gd_weight_decay",
    "sharpness_gradient_dense",
    "symmetric_tensor_norm",
    "tangent_projector",
]


# ----------------------------------------------------------------------------- validation


def _check_form(form: str) -> Form:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    return form  # type: ignore[return-value]


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real number, got {value!r}") from err
    if not math.isfinite(value) or value < 0.0 or (value == 0.0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {kind} number, got {value!r}")
    return value


def _check_dense(x: Array, what: str) -> None:
    if x.ndim != 1:
        raise ValueError(f"{what}: expected a flat parameter vector, got shape {x.shape}")
    if x.shape[0] > MAX_DENSE_PARAMS:
        raise ValueError(
            f"{what}: {x.shape[0]} parameters is too many for the dense helpers "
            f"(limit {MAX_DENSE_PARAMS}); use eos.curvature's matrix-free routines instead"
        )


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True, eq=False)
class ScaleInvariantProblem:
    """An exactly scale-invariant loss and its weight-decayed training loss.

    ``g(w)`` is the mean squared error ``(1/2n) sum_i (a . tanh(W x_i) - y_i)^2`` of a two-layer
    tanh network with parameters ``w = (vec W, a)`` (``W`` is ``hidden x input_dim``, no biases),
    and ``f(theta) = g(radius * theta / ||theta||)``, so ``f(c theta) = f(theta)`` for all
    ``c > 0`` exactly (the network lives on the sphere of radius ``radius``). The training loss is
    ``loss(theta) = f(theta) + (lam/2) ||theta||^2`` (App. H's ``L``).

    Instances are immutable; ``f``, ``g`` and ``loss`` are pure functions of a flat parameter
    vector, computed in the dtype of that vector.
    """

    inputs: Array
    targets: Array
    hidden: int
    lam: float
    radius: float = 2.0
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.inputs.ndim != 2:
            raise ValueError(f"inputs must have shape (n, input_dim), got {self.inputs.shape}")
        if self.targets.shape != (self.inputs.shape[0],):
            raise ValueError(
                f"targets must have shape ({self.inputs.shape[0]},), got {self.targets.shape}"
            )
        if int(self.hidden) < 1:
            raise ValueError(f"hidden must be a positive integer, got {self.hidden!r}")
        _check_positive("lam", self.lam, allow_zero=True)
        _check_positive("radius", self.radius)

    @property
    def input_dim(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def num_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def num_params(self) -> int:
        return self.hidden * self.input_dim + self.hidden

    def with_lam(self, lam: float) -> ScaleInvariantProblem:
        """The same ``f`` with another weight-decay strength."""
        return replace(self, lam=lam)

    def predict(self, w: Array) -> Array:
        """Network outputs at (unnormalised) parameters ``w``."""
        k = self.hidden * self.input_dim
        W = w[:k].reshape(self.hidden, self.input_dim)
        a = w[k:]
        return jnp.tanh(self.inputs.astype(w.dtype) @ W.T) @ a

    def g(self, w: Array) -> Array:
        """The (not scale-invariant) network loss at parameters ``w``."""
        resid = self.predict(w) - self.targets.astype(w.dtype)
        return 0.5 * jnp.mean(resid**2)

    def f(self, theta: Array) -> Array:
        """The scale-invariant loss ``f(theta) = g(R theta / ||theta||)``."""
        return self.g(self.radius * theta / jnp.linalg.norm(theta))

    def loss(self, theta: Array) -> Array:
        """``L(theta) = f(theta) + (lam/2) ||theta||^2``."""
        return self.f(theta) + 0.5 * jnp.asarray(self.lam, theta.dtype) * jnp.vdot(theta, theta)

    def align(self, theta: Array, reference: Array) -> np.ndarray:
        """The copy of ``theta`` under the network's symmetries that is closest to ``reference``.

        ``tanh`` is odd, so flipping the sign of a hidden unit's incoming and outgoing weights,
        ``(W_j, a_j) -> (-W_j, -a_j)``, and permuting hidden units leave ``f`` unchanged (and, being
        orthogonal maps, commute with normalisation). The best sign per pair of units and the best
        permutation (an assignment problem, solved exactly by ``scipy.optimize.linear_sum_assignment``)
        minimise ``||aligned - reference||``. Compare minimisers found from different starts with
        ``np.linalg.norm(problem.align(x, y) - y)``.
        """
        from scipy.optimize import linear_sum_assignment

        k = self.hidden * self.input_dim

        def units(v: np.ndarray) -> np.ndarray:  # (hidden, input_dim + 1): row j = (W_j, a_j)
            return np.concatenate([v[:k].reshape(self.hidden, self.input_dim), v[k:, None]], axis=1)

        x = units(np.asarray(theta, dtype=np.float64))
        y = units(np.asarray(reference, dtype=np.float64))
        plus = ((y[:, None, :] - x[None, :, :]) ** 2).sum(-1)  # cost[j, i]: ref unit j <- unit i
        minus = ((y[:, None, :] + x[None, :, :]) ** 2).sum(-1)
        rows, cols = linear_sum_assignment(np.minimum(plus, minus))
        signs = np.where(minus[rows, cols] < plus[rows, cols], -1.0, 1.0)
        out = x[cols] * signs[:, None]
        return np.concatenate([out[:, :-1].ravel(), out[:, -1]])

    def init(self, key: Array, *, norm: float = 1.0, dtype=jnp.float64) -> Array:
        """A random parameter vector of Euclidean norm ``norm`` (direction uniform on the sphere)."""
        _check_positive("norm", norm)
        x = jax.random.normal(key, (self.num_params,), dtype=dtype)
        return x * (norm / jnp.linalg.norm(x))


def make_problem(
    *,
    n: int = 40,
    input_dim: int = 3,
    hidden: int = 4,
    teacher_hidden: int = 3,
    noise: float = 0.1,
    lam: float = 0.01,
    radius: float = 2.0,
    seed: int = 0,
    dtype=jnp.float64,
) -> ScaleInvariantProblem:
    """A synthetic teacher-student regression set and its :class:`ScaleInvariantProblem`.

    Inputs ``x_i ~ N(0, I_input_dim)``; targets ``y_i = a* . tanh(W* x_i) + noise * xi_i`` from a
    random teacher with ``teacher_hidden`` units (``W*`` entries ``N(0, 1/input_dim)``, ``a*``
    entries ``N(0, 1)``) and Gaussian label noise. With ``n`` larger than the number of
    parameters and ``noise > 0`` the minimisers of ``f`` on the sphere are isolated.
    """
    for name, value in (("n", n), ("input_dim", input_dim), ("hidden", hidden)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if int(teacher_hidden) < 1:
        raise ValueError(f"teacher_hidden must be a positive integer, got {teacher_hidden!r}")
    _check_positive("noise", noise, allow_zero=True)
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(seed), 4)
    X = jax.random.normal(k1, (n, input_dim), dtype=dtype)
    Wt = jax.random.normal(k2, (teacher_hidden, input_dim), dtype=dtype) / math.sqrt(input_dim)
    at = jax.random.normal(k3, (teacher_hidden,), dtype=dtype)
    y = jnp.tanh(X @ Wt.T) @ at + noise * jax.random.normal(k4, (n,), dtype=dtype)
    desc = (
        f"synthetic teacher-student regression: n={n}, input_dim={input_dim}, "
        f"teacher_hidden={teacher_hidden}, noise={noise}; student hidden={hidden}, "
        f"radius={radius}, seed={seed}"
    )
    return ScaleInvariantProblem(X, y, int(hidden), float(lam), float(radius), desc)


# ----------------------------------------------------------------------------- geometry


def normalize(theta: Array) -> tuple[Array, Array]:
    """``(theta_bar, r)`` with ``r = ||theta||`` and ``theta_bar = theta / r``."""
    r = jnp.linalg.norm(theta)
    return theta / r, r


def tangent_projector(theta: Array) -> Array:
    """``P = I - theta_bar theta_bar^T``, the projector orthogonal to ``theta`` (dense)."""
    tb, _ = normalize(theta)
    return jnp.eye(tb.shape[0], dtype=tb.dtype) - jnp.outer(tb, tb)


def _project(theta_bar: Array, v: Array) -> Array:
    return v - jnp.vdot(theta_bar, v) * theta_bar


# ----------------------------------------------------------------------------- dense curvature


class DenseCurvature(NamedTuple):
    """Dense derivatives of a scalar ``f`` at ``x`` (tiny models): the independent reference.

    ``eigvals`` ascending eigenvalues of ``hess``; ``u`` the top eigenvector; ``grad_s`` the
    sharpness gradient ``D^3 f(x)(u, u)`` (Lemma 2).
    """

    value: Array
    grad: Array
    hess: Array
    eigvals: Array
    u: Array
    grad_s: Array

    @property
    def sharpness(self) -> Array:
        return self.eigvals[-1]

    @property
    def gap(self) -> Array:
        return self.eigvals[-1] - self.eigvals[-2]


def sharpness_gradient_dense(f: Callable[[Array], Array], x: Array, u: Array) -> Array:
    """Lemma 2: ``grad S(x) = D^3 f(x)(u, u)`` (forward-over-reverse, no tensor materialised)."""

    def uhu(z: Array) -> Array:
        return jnp.vdot(u, jax.jvp(jax.grad(f), (z,), (u,))[1])

    return jax.grad(uhu)(x)


@partial(jax.jit, static_argnums=0)
def _curvature(f: Callable[[Array], Array], x: Array) -> DenseCurvature:
    H = jax.hessian(f)(x)
    H = 0.5 * (H + H.T)
    w, V = jnp.linalg.eigh(H)
    u = V[:, -1]
    return DenseCurvature(f(x), jax.grad(f)(x), H, w, u, sharpness_gradient_dense(f, x, u))


def dense_curvature(f: Callable[[Array], Array], x: Array) -> DenseCurvature:
    """Value, gradient, Hessian, its spectrum, ``u`` and ``grad S`` (Lemma 2) of ``f`` at ``x``.

    One jitted call (compiled once per ``f`` and shape; pass a stable callable such as
    ``problem.f``); dense ``jax.hessian`` + ``eigh``, so for tiny models only.
    """
    x = jnp.asarray(x)
    _check_dense(x, "dense_curvature")
    return _curvature(f, x)


def dense_sharpness(f: Callable[[Array], Array], x: Array) -> tuple[Array, Array, Array]:
    """``(S, u, gap)``: top Hessian eigenvalue, its eigenvector and ``lambda_1 - lambda_2``."""
    c = dense_curvature(f, x)
    return c.sharpness, c.u, c.gap


def derivative_tensor(f: Callable[[Array], Array], x: Array, order: int) -> Array:
    """The dense ``order``-th derivative tensor of ``f`` at ``x`` (orders 1-4, tiny models):
    :func:`eos.curvature.D` with no direction (``jax.grad`` then ``order - 1`` ``jax.jacfwd``),
    compiled once per ``f`` and ``order``."""
    x = jnp.asarray(x)
    _check_dense(x, "derivative_tensor")
    if order not in (1, 2, 3, 4):
        raise ValueError(f"order must be 1, 2, 3 or 4, got {order!r}")
    return D(f, x, int(order))


@partial(jax.jit, static_argnums=(2,))
def _sshopm(T: Array, starts: Array, iters: int) -> Array:
    k = T.ndim
    shift = (k - 1) * jnp.linalg.norm(T)

    def contract(v: Array) -> Array:
        out = T
        for _ in range(k - 1):
            out = out @ v
        return out

    def ascend(v0: Array, sign: Array) -> Array:
        def body(v, _):
            w = sign * contract(v) + shift * v
            return w / jnp.linalg.norm(w), None

        v, _ = jax.lax.scan(body, v0 / jnp.linalg.norm(v0), None, length=iters)
        return jnp.abs(jnp.vdot(v, contract(v)))

    signs = jnp.array([1.0, -1.0], T.dtype)
    vals = jax.vmap(lambda v0: jax.vmap(lambda s: ascend(v0, s))(signs))(starts)
    return jnp.max(vals)


def symmetric_tensor_norm(
    T: Array, *, restarts: int = 16, iters: int = 300, seed: int = 0
) -> float:
    """``||T||_op = max_{||v||=1} |T(v, ..., v)|`` for a symmetric tensor of order 3 or 4.

    For symmetric tensors the multilinear operator norm is attained on the diagonal (Banach), so
    it suffices to maximise ``|T(v,...,v)|`` over the sphere: shifted symmetric higher-order power
    iteration (Kolda-Mayo SS-HOPM; the shift ``(k-1) ||T||_F`` exceeds their convexity bound
    ``(k-1) max_v rho(T v^{k-2})``, so every step is an ascent step) for both
    signs, from the extreme eigenvectors of the contraction ``T(., ., 1/sqrt(d), ...)`` and
    ``restarts`` random starts. Returns the best value found: a lower bound on the norm that is
    tight in practice on tiny models (the tests compare with a dense multi-start optimiser).
    """
    T = jnp.asarray(T)
    k = T.ndim
    if k not in (3, 4) or any(s != T.shape[0] for s in T.shape):
        raise ValueError(f"T must be a square tensor of order 3 or 4, got shape {T.shape}")
    d = T.shape[0]
    M = T
    for _ in range(k - 2):
        M = M @ (jnp.ones(d, T.dtype) / math.sqrt(d))
    _, V = jnp.linalg.eigh(0.5 * (M + M.T))
    rand = jax.random.normal(jax.random.PRNGKey(seed), (int(restarts), d), dtype=T.dtype)
    starts = jnp.concatenate([V[:, -1:].T, V[:, :1].T, rand], axis=0)
    return float(_sshopm(T, starts, int(iters)))


# ----------------------------------------------------------------------------- Lemma 7, Cor. 2-3


def lemma7_gradient(theta: Array, grad_f_bar: Array) -> Array:
    """Lemma 7: ``grad f(theta) = P grad f(theta_bar) / ||theta||``."""
    tb, r = normalize(theta)
    return _project(tb, grad_f_bar) / r


def lemma7_hessian(theta: Array, grad_f_bar: Array, hess_f_bar: Array) -> Array:
    """Lemma 7: ``hess f(theta) = [P H P - P g tb^T - tb (P g)^T] / ||theta||^2``.

    ``g, H`` are the gradient and Hessian of ``f`` at ``tb = theta/||theta||`` (dense).
    """
    tb, r = normalize(theta)
    P = tangent_projector(theta)
    Pg = P @ grad_f_bar
    return (P @ hess_f_bar @ P - jnp.outer(Pg, tb) - jnp.outer(tb, Pg)) / r**2


def corollary2_hessian(theta: Array, hess_f_bar: Array) -> Array:
    """Corollary 2: at a critical point of ``f``, ``hess f(theta) = P H(theta_bar) P / ||theta||^2``."""
    _, r = normalize(theta)
    P = tangent_projector(theta)
    return P @ hess_f_bar @ P / r**2


def corollary3_cosine(u: Array, grad_L: Array) -> Array:
    """Corollary 3's quantity ``|u . grad L| / (||u|| ||grad L||)`` (zero at critical points of ``f``)."""
    return jnp.abs(jnp.vdot(u, grad_L)) / (jnp.linalg.norm(u) * jnp.linalg.norm(grad_L))


# ----------------------------------------------------------------------------- Lemmas 8, 10, 11


def _radial_coefficient(form: str) -> float:
    return 2.0 if _check_form(form) == "corrected" else 1.0


def lemma8_sharpness_gradient(
    theta: Array, grad_sf_bar: Array, sf_bar: Array, *, form: Form = "corrected"
) -> Array:
    """Lemma 8: ``grad S(theta)`` from ``grad S_f(theta_bar)`` and ``S_f(theta_bar)``.

    ``corrected``: ``[P grad S_f(tb) - 2 S_f(tb) tb] / r^3`` (differentiate
    ``S_f(theta) = S_f(tb) / r^2``: ``grad (r^{-2}) = -2 tb / r^3``). ``paper``: App. H's
    ``[P grad S(tb) - (S(tb) - lambda) tb] / r^3`` with ``S(tb) - lambda = S_f(tb)``.
    Note ``grad S = grad S_f`` everywhere (``S = S_f + lambda``).
    """
    tb, r = normalize(theta)
    return (_project(tb, grad_sf_bar) - _radial_coefficient(form) * sf_bar * tb) / r**3


def lemma10_alpha(theta: Array, sf_bar: Array, lam: float, *, form: Form = "corrected") -> Array:
    """Lemma 10: ``alpha(theta) = -grad L . grad S`` at a critical point of ``f``.

    ``corrected``: ``2 lambda S_f(tb) / r^2``; ``paper``: ``lambda (S(tb) - lambda) / r^2 =
    lambda S_f(tb) / r^2``.
    """
    _, r = normalize(theta)
    return _radial_coefficient(form) * lam * sf_bar / r**2


def lemma11_ratio(
    theta: Array, grad_sf_bar: Array, sf_bar: Array, *, form: Form = "corrected"
) -> Array:
    """Lemma 11: ``alpha / (||grad L|| ||grad S||)`` at a critical point of ``f``.

    ``corrected``: ``1 / sqrt(1 + ||P grad S_f(tb)||^2 / (2 S_f(tb))^2)``; ``paper``:
    ``1 / sqrt(1 + ||P grad S_f(tb)||^2 / S_f(tb)^2)``. Equivalently the cosine between
    ``theta`` and ``-grad S(theta)``; independent of ``r`` and ``lambda``.
    """
    tb, _ = normalize(theta)
    c = _radial_coefficient(form)
    q = jnp.linalg.norm(_project(tb, grad_sf_bar)) / (c * sf_bar)
    return 1.0 / jnp.sqrt(1.0 + q**2)


# ----------------------------------------------------------------------------- checks


def _rel(a: Array, b: Array) -> float:
    return float(jnp.linalg.norm(jnp.ravel(a - b)) / jnp.linalg.norm(jnp.ravel(b)))


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
    of ``f`` (e.g. :func:`critical_point_on_sphere`), scaled to ``S = 2/lr``
    (:func:`radius_for_sharpness`) for Corollaries 2-3 and Lemmas 10-11. The reference side is
    always computed *at theta* (``jax.grad``, ``jax.hessian``, Lemma 2's ``D^3 L(u, u)`` with
    ``u`` from ``eigh``, central finite differences of the dense sharpness with step ``fd_eps``);
    the lemma side from quantities at ``theta_bar`` only. Each row holds ``claim``,
    ``quantity``, ``point``, ``corrected`` (relative error of the identity as implemented
    here) and ``as printed`` (relative error of App. H's printed formula; equal to
    ``corrected`` where the two agree).
    """
    lr = _check_positive("lr", lr)
    lam = problem.lam
    theta = jnp.asarray(theta)
    rows: list[dict[str, object]] = []

    def row(claim, quantity, point, corrected, printed=None):
        rows.append(
            {
                "claim": claim,
                "quantity": quantity,
                "point": point,
                "corrected": float(corrected),
                "as printed": float(corrected if printed is None else printed),
            }
        )

    # arbitrary point: Lemma 7 and Lemma 8
    tb, r = normalize(theta)
    at, bar = dense_curvature(problem.loss, theta), dense_curvature(problem.f, tb)
    grad_f = at.grad - lam * theta  # grad f = grad L - lam theta
    hess_f = at.hess - lam * jnp.eye(theta.shape[0], dtype=theta.dtype)
    row("Lemma 7", "grad f(theta)", "random", _rel(lemma7_gradient(theta, bar.grad), grad_f))
    row(
        "Lemma 7",
        "hess f(theta)",
        "random",
        _rel(lemma7_hessian(theta, bar.grad, bar.hess), hess_f),
    )
    row(
        "Corollary 2 (needs a critical point)",
        "hess f(theta)",
        "random",
        _rel(corollary2_hessian(theta, bar.hess), hess_f),
    )
    pred = lemma8_sharpness_gradient(theta, bar.grad_s, bar.sharpness)
    pred_paper = lemma8_sharpness_gradient(theta, bar.grad_s, bar.sharpness, form="paper")
    row(
        "Lemma 8",
        "grad S(theta) vs Lemma 2",
        "random",
        _rel(pred, at.grad_s),
        _rel(pred_paper, at.grad_s),
    )
    v = jax.random.normal(jax.random.PRNGKey(seed), theta.shape, dtype=theta.dtype)
    s_plus = dense_curvature(problem.loss, theta + fd_eps * v).sharpness
    s_minus = dense_curvature(problem.loss, theta - fd_eps * v).sharpness
    fd = (s_plus - s_minus) / (2 * fd_eps)
    row(
        "Lemma 8",
        "grad S(theta) . v vs finite differences",
        "random",
        abs(float(pred @ v - fd) / float(fd)),
        abs(float(pred_paper @ v - fd) / float(fd)),
    )

    # critical point scaled to the edge of stability: Cor. 2-3, Lemmas 10-11
    cb = normalize(jnp.asarray(critical_theta_bar))[0]
    cbar = dense_curvature(problem.f, cb)
    rc = radius_for_sharpness(float(cbar.sharpness), lr, lam)
    tc = rc * cb
    atc = dense_curvature(problem.loss, tc)
    hess_fc = atc.hess - lam * jnp.eye(tc.shape[0], dtype=tc.dtype)
    row(
        "Corollary 2",
        "hess f(theta)",
        "critical, S = 2/eta",
        _rel(corollary2_hessian(tc, cbar.hess), hess_fc),
    )
    row(
        "Corollary 3",
        "|cos(u, grad L)|",
        "critical, S = 2/eta",
        corollary3_cosine(atc.u, atc.grad),
    )
    alpha = -jnp.vdot(atc.grad, atc.grad_s)
    row(
        "Lemma 10",
        "alpha = -grad L . grad S",
        "critical, S = 2/eta",
        abs(float(lemma10_alpha(tc, cbar.sharpness, lam) - alpha) / float(alpha)),
        abs(float(lemma10_alpha(tc, cbar.sharpness, lam, form="paper") - alpha) / float(alpha)),
    )
    ratio = alpha / (jnp.linalg.norm(atc.grad) * jnp.linalg.norm(atc.grad_s))
    row(
        "Lemma 11",
        "alpha / (|grad L| |grad S|)",
        "critical, S = 2/eta",
        abs(float(lemma11_ratio(tc, cbar.grad_s, cbar.sharpness) - ratio) / float(ratio)),
        abs(
            float(lemma11_ratio(tc, cbar.grad_s, cbar.sharpness, form="paper") - ratio)
            / float(ratio)
        ),
    )
    return rows


# ----------------------------------------------------------------------------- Lemma 9


def radius_for_sharpness(sf_bar: float, lr: float, lam: float, *, target: float = 2.0) -> float:
    """The norm ``r`` at which ``S(r theta_bar) = target/eta``: ``r^2 = S_f(tb)/(target/eta - lambda)``.

    ``target=2`` is the edge of stability; Lemma 9's sup runs over ``S <= 4/eta`` (``target=4``).
    """
    lr = _check_positive("lr", lr)
    lam = _check_positive("lam", lam, allow_zero=True)
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


def _default_norm(order: int) -> Callable[[Callable[[Array], Array], Array], float]:
    def norm(f: Callable[[Array], Array], x: Array) -> float:
        return symmetric_tensor_norm(derivative_tensor(f, x, order))

    return norm


def lemma9_scaling(
    problem: ScaleInvariantProblem,
    directions: Sequence[Array],
    lrs: Sequence[float],
    *,
    target: float = 2.0,
    rho3_fn: Callable[[Callable[[Array], Array], Array], float] | None = None,
    rho4_fn: Callable[[Callable[[Array], Array], Array], float] | None = None,
) -> Lemma9Result:
    """Measure ``rho_3, rho_4`` over learning rates at points ``theta = r(eta) theta_bar_k``.

    For each ``eta`` in ``lrs`` and each direction, scale to ``S(theta) = target/eta``
    (:func:`radius_for_sharpness`), evaluate ``||D^3 L(theta)||_op`` and ``||D^4 L(theta)||_op``
    *at theta* with ``rho3_fn(f, theta)`` / ``rho4_fn(f, theta)`` (default: dense
    :func:`symmetric_tensor_norm`; pass eos.curvature's estimators for larger models), take the
    maximum over directions (a proxy for Lemma 9's sup) and fit exponents on a log-log scale.
    """
    lrs_arr = np.asarray([_check_positive("lrs[i]", v) for v in lrs], dtype=float)
    if lrs_arr.size < 2:
        raise ValueError("lrs must hold at least two learning rates to fit an exponent")
    if len(directions) < 1:
        raise ValueError("directions must hold at least one parameter vector")
    rho3_fn = rho3_fn or _default_norm(3)
    rho4_fn = rho4_fn or _default_norm(4)
    lam = problem.lam
    tbs = [normalize(jnp.asarray(v))[0] for v in directions]
    sfs, gbars = [], []
    for tb in tbs:
        cb = dense_curvature(problem.f, tb)
        sfs.append(float(cb.sharpness))
        gbars.append(cb.grad_s)
    rho3 = np.zeros(lrs_arr.size)
    rho4 = np.zeros(lrs_arr.size)
    gsn = np.zeros(lrs_arr.size)
    for i, lr in enumerate(lrs_arr):
        for tb, s, gb in zip(tbs, sfs, gbars):
            theta = radius_for_sharpness(s, lr, lam, target=target) * tb
            rho3[i] = max(rho3[i], float(rho3_fn(problem.loss, theta)))
            rho4[i] = max(rho4[i], float(rho4_fn(problem.loss, theta)))
            gs = lemma8_sharpness_gradient(theta, gb, jnp.asarray(s, theta.dtype))
            gsn[i] = max(gsn[i], float(jnp.linalg.norm(gs)))
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


# ----------------------------------------------------------------------------- reduced problem


def reduced_coefficient(lr: float, lam: float, *, form: Form = "corrected") -> float:
    """The weight ``c`` of ``S_f`` in App. H's reduced problem ``min f(tb) + c S_f(tb)``.

    ``corrected``: ``eta lambda / (2 (2 - eta lambda))`` (from ``(lambda/2) r^2`` with
    ``r^2 = eta S_f(tb) / (2 - eta lambda)``); ``paper``: ``eta lambda / (2 - eta lambda)``.
    """
    lr = _check_positive("lr", lr)
    lam = _check_positive("lam", lam, allow_zero=True)
    if lr * lam >= 2.0:
        raise ValueError(f"lr * lam must be < 2, got {lr * lam}")
    c = lr * lam / (2.0 - lr * lam)
    return 0.5 * c if _check_form(form) == "corrected" else c


def reduced_objective(problem: ScaleInvariantProblem, theta: Array, coefficient: float) -> Array:
    """``F(tb) = f(tb) + c S_f(tb)`` at ``tb = theta / ||theta||`` (dense sharpness)."""
    tb, _ = normalize(jnp.asarray(theta))
    cb = dense_curvature(problem.f, tb)
    return cb.value + coefficient * cb.sharpness


@dataclass(frozen=True)
class ReducedSolution:
    """A (local) minimiser ``theta_bar`` of ``f + c S_f`` on the unit sphere, with diagnostics.

    ``grad_norm`` is the norm of the Riemannian gradient ``P (grad f + c grad S_f)`` at the
    solution (``grad S_f`` by Lemma 2); ``gap`` the eigengap ``lambda_1 - lambda_2`` of
    ``hess f(theta_bar)`` (Lemma 2 needs it > 0); ``min_tangent_eig`` the smallest eigenvalue of
    ``P hess f P`` on the tangent space (>= 0 at a second-order stationary point of ``f``).
    """

    theta_bar: np.ndarray
    coefficient: float
    value: float
    f: float
    sharpness: float
    gap: float
    grad_norm: float
    min_tangent_eig: float
    iterations: int
    message: str


@partial(jax.jit, static_argnums=0)
def _reduced_value_and_grad(f: Callable[[Array], Array], w: Array, c: Array) -> tuple[Array, Array]:
    r = jnp.linalg.norm(w)
    tb = w / r
    cb = _curvature(f, tb)
    return cb.value + c * cb.sharpness, _project(tb, cb.grad + c * cb.grad_s) / r


def _sphere_diagnostics(
    problem: ScaleInvariantProblem, tb: Array, c: float, n_iter: int, msg: str
) -> ReducedSolution:
    cb = dense_curvature(problem.f, tb)
    P = tangent_projector(tb)
    Ht = np.asarray(P @ cb.hess @ P)
    ev = np.linalg.eigvalsh(0.5 * (Ht + Ht.T))
    # drop the zero eigenvalue that belongs to the radial direction tb
    ev = np.delete(ev, np.argmin(np.abs(ev)))
    fv = float(cb.value)
    return ReducedSolution(
        theta_bar=np.asarray(tb),
        coefficient=float(c),
        value=fv + c * float(cb.sharpness),
        f=fv,
        sharpness=float(cb.sharpness),
        gap=float(cb.gap),
        grad_norm=float(jnp.linalg.norm(_project(tb, cb.grad + c * cb.grad_s))),
        min_tangent_eig=float(ev.min()),
        iterations=int(n_iter),
        message=msg,
    )


def minimize_reduced(
    problem: ScaleInvariantProblem,
    theta0: Array,
    coefficient: float,
    *,
    gtol: float = 1e-11,
    maxiter: int = 20000,
) -> ReducedSolution:
    """Minimise ``F(tb) = f(tb) + c S_f(tb)`` over the unit sphere, independently of GD.

    scipy BFGS on the scale-invariant extension ``w -> F(w / ||w||)``, whose gradient is
    ``P [grad f(tb) + c grad S_f(tb)] / ||w||`` with ``grad S_f = D^3 f(u, u)`` (Lemma 2) and
    ``S_f, u`` from a dense ``eigh``; float64 throughout. ``coefficient=0`` minimises ``f`` itself
    (see also :func:`critical_point_on_sphere`). Returns a local minimiser near ``theta0``;
    check ``grad_norm`` and ``gap`` of the result (BFGS may stop on "precision loss" once the
    gradient is at round-off level).
    """
    import scipy.optimize as so

    c = _check_positive("coefficient", coefficient, allow_zero=True)
    w0 = np.asarray(theta0, dtype=np.float64)
    _check_dense(jnp.asarray(w0), "minimize_reduced")
    f = problem.f
    c_arr = jnp.asarray(c, jnp.float64)

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = _reduced_value_and_grad(f, jnp.asarray(w), c_arr)
        return float(v), np.asarray(g)

    res = so.minimize(
        fun,
        w0 / np.linalg.norm(w0),
        jac=True,
        method="BFGS",
        options={"gtol": gtol, "maxiter": int(maxiter)},
    )
    tb = jnp.asarray(res.x / np.linalg.norm(res.x))
    return _sphere_diagnostics(problem, tb, c, res.nit, str(res.message))


@partial(jax.jit, static_argnums=0)
def _newton_on_sphere(f: Callable[[Array], Array], tb: Array) -> Array:
    cb = _curvature(f, tb)
    P = jnp.eye(tb.shape[0], dtype=tb.dtype) - jnp.outer(tb, tb)
    A = P @ cb.hess @ P + jnp.outer(tb, tb)
    new = tb - jnp.linalg.solve(A, _project(tb, cb.grad))
    return new / jnp.linalg.norm(new)


def critical_point_on_sphere(
    problem: ScaleInvariantProblem, theta0: Array, *, newton_steps: int = 6
) -> ReducedSolution:
    """A local minimiser of ``f`` on the sphere (a second-order stationary point of ``f``).

    BFGS (:func:`minimize_reduced` with ``c = 0``), then Riemannian Newton steps
    ``tb <- normalize(tb - (P H P + tb tb^T)^{-1} grad f(tb))`` to machine precision
    (``grad f(tb)`` is tangent by Euler's identity; at a critical point the Riemannian Hessian is
    ``P H P``). Check ``min_tangent_eig >= 0`` of the result for second-order stationarity.
    """
    sol = minimize_reduced(problem, theta0, 0.0)
    tb = jnp.asarray(sol.theta_bar)
    for _ in range(int(newton_steps)):
        tb = _newton_on_sphere(problem.f, tb)
    msg = f"{sol.message} + {int(newton_steps)} Newton steps"
    return _sphere_diagnostics(problem, tb, 0.0, sol.iterations, msg)


# ----------------------------------------------------------------------------- GD with weight decay


@dataclass(frozen=True)
class GDWeightDecayResult:
    """Gradient descent on ``L = f + (lambda/2)||theta||^2`` recorded every ``record_every`` steps.

    Arrays (one entry per record): ``step``; ``loss`` (``L(theta_t)``); ``f``; ``norm``
    (``||theta_t||``); ``sharpness`` (``S(theta_t)``); and, at the two-step average
    ``theta_tilde = (theta_{t-1} + theta_t)/2`` (which removes the period-2 oscillation along
    ``u`` to first order): ``avg_norm``, ``avg_f``, ``avg_sharpness`` (``S(theta_tilde)``),
    ``normalized_sharpness`` (``S_f(theta_tilde / ||theta_tilde||)``). ``theta_prev, theta_last``:
    the final two iterates.
    """

    lr: float
    lam: float
    arrays: dict[str, np.ndarray]
    theta_prev: np.ndarray
    theta_last: np.ndarray

    @property
    def endpoint(self) -> np.ndarray:
        """The two-step average of the last two iterates."""
        return 0.5 * (self.theta_prev + self.theta_last)


def run_gd_weight_decay(
    problem: ScaleInvariantProblem,
    theta0: Array,
    *,
    lr: float,
    steps: int,
    record_every: int = 10,
) -> GDWeightDecayResult:
    """``theta_{t+1} = theta_t - eta grad L(theta_t)`` (App. H's setting; Sec. 7.3), jitted.

    Runs in the dtype of ``theta0`` (use float64). Sharpness values are dense ``eigh`` of
    ``jax.hessian`` (tiny models).
    """
    lr = _check_positive("lr", lr)
    if int(steps) < 2 or int(record_every) < 1:
        raise ValueError(f"steps must be >= 2 and record_every >= 1, got {steps}, {record_every}")
    theta0 = jnp.asarray(theta0)
    _check_dense(theta0, "run_gd_weight_decay")
    n_rec = int(steps) // int(record_every)
    if n_rec < 1:
        raise ValueError(f"steps={steps} must be >= record_every={record_every}")
    grad_L = jax.grad(problem.loss)
    lam = problem.lam
    eta = jnp.asarray(lr, theta0.dtype)

    def top_eig(f, x):
        H = jax.hessian(f)(x)
        return jnp.linalg.eigvalsh(0.5 * (H + H.T))[-1]

    def inner(theta, _):
        new = theta - eta * grad_L(theta)
        return new, None

    def outer(carry, _):
        theta = carry
        theta_prev, _ = jax.lax.scan(inner, theta, None, length=record_every - 1)
        theta_new = theta_prev - eta * grad_L(theta_prev)
        avg = 0.5 * (theta_prev + theta_new)
        tb, r_avg = normalize(avg)
        sf_bar = top_eig(problem.f, tb)
        rec = {
            "loss": problem.loss(theta_new),
            "f": problem.f(theta_new),
            "norm": jnp.linalg.norm(theta_new),
            "sharpness": top_eig(problem.f, theta_new) + lam,
            "avg_norm": r_avg,
            "avg_f": problem.f(avg),
            "avg_sharpness": sf_bar / r_avg**2 + lam,
            "normalized_sharpness": sf_bar,
            "prev": theta_prev,
        }
        return theta_new, rec

    @jax.jit
    def run(theta):
        return jax.lax.scan(outer, theta, None, length=n_rec)

    theta_last, rec = run(theta0)
    prev = np.asarray(rec.pop("prev")[-1])
    arrays = {k: np.asarray(v) for k, v in rec.items()}
    arrays["step"] = np.arange(1, n_rec + 1) * int(record_every)
    return GDWeightDecayResult(float(lr), float(lam), arrays, prev, np.asarray(theta_last))
