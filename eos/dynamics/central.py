r"""The central flow of gradient descent (Cohen, Damian, Talwalkar, Kolter, Lee 2025): the
differential equation that the *time-averaged* GD trajectory follows at the edge of stability.

Beyond the paper. Self-stabilization (Sec. 4, eq. (2)) follows GD with the constrained
trajectory :math:`\theta^\dagger_t`, projected gradient descent on
:math:`\{S \le 2/\eta,\ \nabla L\cdot u = 0\}`. The central flow is its continuous-time
counterpart, and handles several eigenvalues at the edge (where the paper stops, Fig. 5). In
flow time :math:`\tau = \eta t` (GD step ``t``), with the ``k`` top Hessian eigenpairs
:math:`(S_i, u_i)` of :math:`w` and :math:`\nabla S_i = \nabla^3 L(w)(u_i, u_i)` (Lemma 2),

.. math::

    \frac{dw}{d\tau} = -\Big[\nabla L(w) + \tfrac12 \sum_i \sigma_i^2\,\nabla S_i(w)\Big],

where :math:`\sigma^2 \ge 0` solves the *linear complementarity problem* (LCP) that keeps every
:math:`S_i \le 2/\eta`: with :math:`J` the ``(k, d)`` matrix of rows :math:`\nabla S_i`,

.. math::

    \sigma^2 \ge 0, \qquad
    r := \tfrac12 J J^\top \sigma^2 + J\nabla L - \kappa\,(S - 2/\eta) \ge 0, \qquad
    \sigma^2 \cdot r = 0,

i.e. :math:`\dot S_i = \nabla S_i\cdot\dot w \le -\kappa (S_i - 2/\eta)`, with equality where
:math:`\sigma_i^2 > 0`. For :math:`\kappa = 0` and one eigenvalue on the boundary this is
:math:`\sigma^2 = \max(0, -2\,\nabla S\cdot\nabla L/\|\nabla S\|^2) = 2\alpha/\beta = \delta^2`
(Definitions 2 and 4): gradient flow projected onto the tangent space of
:math:`\{S \le 2/\eta\}`, the flow that :math:`\theta^\dagger` discretises. The *restoring rate*
:math:`\kappa = \text{restoring}/\eta` (Baumgarte stabilisation of the constraint) pulls a
numerical drift of :math:`S_i` back to :math:`2/\eta` within about ``1/restoring`` steps and
lets eigenvalues below the threshold join the constraint as they reach it, with no active-set
logic: far below, :math:`r_i > 0` at :math:`\sigma_i^2 = 0`. On the exact boundary it changes
nothing. With ``restoring = 0`` only the eigenvalues on the boundary (to a relative ``1e-9``)
enter the LCP. The flow also predicts GD's time-averaged loss and sharpness:
:math:`\bar L = L(w) + \tfrac12\sum_i \sigma_i^2 S_i(w)` (:math:`= L + \sigma^2/\eta` for one
eigenvalue at the edge) and :math:`\sigma_i^2 \approx \overline{(u_i\cdot(\theta_t - w))^2}`,
the cycle-averaged squared oscillation along :math:`u_i`, the analogue of Sec. 4.2's
:math:`\delta_t^2`.

**Diagonal restriction.** The central-flows paper takes :math:`\Sigma`, a positive
semidefinite matrix on the span of the unstable eigenvectors, with the velocity term
:math:`\tfrac12\sum_{ij}\Sigma_{ij}\nabla^3L(u_i, u_j)` and a semidefinite complementarity
problem. Here :math:`\Sigma = \mathrm{diag}(\sigma^2)` in the eigenbasis of :math:`w`: the LCP
above, solved *exactly* as the non-negative least-squares problem
:math:`\min_{s\ge0}\|C^\top s + C^{-1}q\|` with :math:`M = \tfrac12JJ^\top = CC^\top`
(Cholesky) and :math:`q = J\nabla L - \kappa(S - 2/\eta)` (:func:`complementarity`,
``scipy.optimize.nnls``). The two agree when the off-diagonal couplings
:math:`\nabla^3L(u_i, u_j)` are negligible; when two eigenvalues sit on :math:`2/\eta`
together the eigenbasis is ill-defined and the diagonal restriction is an approximation (no
semidefinite solver among the dependencies). It is also expensive there: the eigenvectors
rotate within the near-degenerate eigenspace from one evaluation to the next, the
right-hand side is not smooth, and the adaptive integrator's steps fall from about
:math:`\eta` to :math:`\eta/6` with two eigenvalues at the edge and :math:`\eta/20` with
three (measured on ``central-fig5``); the semidefinite :math:`\Sigma`, invariant under
rotations of that eigenspace, would remove both.

**Integration.** Each GD interval :math:`[\eta t, \eta(t+1)]` is integrated by one of
``scipy.integrate.solve_ivp``'s adaptive explicit Runge-Kutta pairs (:class:`CentralSettings`:
Bogacki-Shampine ``"RK23"`` by default, Dormand-Prince ``"RK45"``; error control ``rtol``,
``atol``), the right-hand side evaluated by one compiled kernel (loss, gradient, a
warm-started block-Lanczos solve for the ``k`` top eigenpairs from the previous vectors, and
the ``k`` third-derivative contractions), then :math:`\sigma^2` by NNLS in float64. (diffrax
does not fit: the NNLS and the warm starts live outside the traced program.) The flow is stiff
only along eigenvalues :math:`\le 2/\eta` (the constraint caps the rest), so the explicit
pair's stability region allows steps of about :math:`\eta` (RK23: :math:`h S \lesssim 2.5`),
one step, i.e. three evaluations, per GD interval once the flow is steady; the evaluation at
the end of an interval (first-same-as-last) is the recorded point, not recomputed. The eigen
tolerance only needs to sit below the integrator's: the velocity's error is of order
``eig_tol`` times the eigenvector's sensitivity (a residual ``r`` moves the eigenvector by
``r S / gap``). ``tests/test_central.py`` measures what the default settings cost against a
tight reference (RK45 at ``rtol = 1e-10``, eigen residual ``1e-12``). :func:`central_flow`
records every GD time, shows a progress bar and resumes bit for bit from its checkpoints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate
import scipy.optimize

from eos.curvature.eigen import eigenpairs
from eos.dynamics import _ops
from eos.records import Record
from eos.validate import positive_int, positive_number

__all__ = [
    "CentralFlow",
    "CentralIntegrator",
    "CentralPoint",
    "CentralSettings",
    "TIGHT",
    "Companion",
    "central_flow",
    "central_point",
    "complementarity",
]


_METHODS = ("RK23", "RK45")


@dataclass(frozen=True)
class CentralSettings:
    r"""How the central flow is computed (module docstring), validated on construction.

    Attributes:
        restoring: the restoring rate :math:`\kappa` in units of ``1/lr`` (0: none).
        method: ``"RK23"`` (default) or ``"RK45"``, the explicit pair of ``solve_ivp``.
        rtol, atol: its error control.
        eig_tol: relative residual of the warm-started eigen-solves; ``eig_max_iters``: their
            block steps.
    """

    restoring: float = 1.0
    method: str = "RK23"
    rtol: float = 1e-6
    atol: float = 1e-9
    eig_tol: float = 1e-7
    eig_max_iters: int = 200

    def __post_init__(self) -> None:
        checked = {
            "restoring": positive_number(self.restoring, "restoring", allow_zero=True),
            "rtol": positive_number(self.rtol, "rtol"),
            "atol": positive_number(self.atol, "atol"),
            "eig_tol": positive_number(self.eig_tol, "eig_tol"),
            "eig_max_iters": positive_int(self.eig_max_iters, "eig_max_iters"),
        }
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Tight settings: the reference the defaults are measured against (tests/test_central.py).
TIGHT = CentralSettings(method="RK45", rtol=1e-10, atol=1e-13, eig_tol=1e-12, eig_max_iters=400)


# ============================================================================ the LCP
def complementarity(M: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""The solution :math:`s` of the LCP :math:`s \ge 0,\ Ms + q \ge 0,\ s\cdot(Ms+q) = 0`
    for symmetric positive (semi)definite ``M`` (``(k, k)``), by NNLS.

    The LCP is the optimality condition of :math:`\min_{s\ge0} \tfrac12 s^\top M s + q^\top s`;
    with :math:`M = CC^\top` (Cholesky, a relative jitter of ``1e-13`` for a singular ``M``) that
    is :math:`\min_{s\ge0}\|C^\top s + C^{-1}q\|^2` up to a constant, which
    ``scipy.optimize.nnls`` solves exactly (active-set method, finitely many steps).
    """
    M = np.asarray(M, np.float64)
    q = np.asarray(q, np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or q.shape != (M.shape[0],):
        raise ValueError(f"M must be (k, k) and q (k,), got {M.shape} and {q.shape}")
    M = (M + M.T) / 2
    scale = max(float(np.trace(M)), np.finfo(np.float64).tiny)
    C = np.linalg.cholesky(M + 1e-13 * scale * np.eye(M.shape[0]))
    b = -np.linalg.solve(C, q)
    s, _ = scipy.optimize.nnls(C.T, b, maxiter=50 * M.shape[0] + 50)
    return s


# ============================================================================ one point
class CentralPoint(NamedTuple):
    r"""The central flow's right-hand side at one point (module docstring).

    Attributes:
        w: the point.
        loss, grad: :math:`L(w)`, :math:`\nabla L(w)`.
        eigvals, U: the ``k`` top Hessian eigenpairs (descending; ``U`` is ``(d, k)``).
        eig_residuals: their relative residuals.
        grad_sharpness: ``(k, d)``, rows :math:`\nabla S_i = \nabla^3L(u_i, u_i)`.
        sigma2: :math:`\sigma^2` (``(k,)``), the LCP's solution.
        velocity: :math:`dw/d\tau`.
        predicted_loss: :math:`L(w) + \tfrac12\sum_i\sigma_i^2 S_i` (GD's time-averaged loss).
    """

    w: np.ndarray
    loss: float
    grad: np.ndarray
    eigvals: np.ndarray
    U: np.ndarray
    eig_residuals: np.ndarray
    grad_sharpness: np.ndarray
    sigma2: np.ndarray
    velocity: np.ndarray
    predicted_loss: float


def _kernel(objective: Any, eig_tol: float, eig_max_iters: int) -> Callable:
    """Compiled ``(w, U0) -> (L, grad L, eigvals, U, residuals, grad S rows)``."""

    def body(obj, w, U0):
        loss, g = obj.value_and_grad(w)
        vals, U, info = eigenpairs(
            lambda v: obj.hvp(w, v), U0, tol=eig_tol, max_iters=eig_max_iters
        )
        G = jax.lax.map(lambda u: _ops.d3(obj, w, u), U.T)
        return loss, g, vals, U, info.residuals, G

    return _ops.jit(objective)(body)


def _assemble(w, loss, g, vals, U, res, G, lr: float, restoring: float) -> CentralPoint:
    """:math:`\\sigma^2` from the LCP and the velocity, in float64 numpy."""
    g, vals, G = (np.asarray(a, np.float64) for a in (g, vals, G))
    kappa = restoring / lr
    # without restoring only eigenvalues on the boundary (to rounding) are constrained
    on = np.ones(len(vals), bool) if kappa > 0 else vals >= (2.0 / lr) * (1 - 1e-9)
    s = np.zeros(len(vals))
    if on.any():
        Gon = G[on]
        s[on] = complementarity(0.5 * Gon @ Gon.T, Gon @ g - kappa * (vals[on] - 2.0 / lr))
    velocity = -(g + 0.5 * G.T @ s)
    predicted = float(loss) + 0.5 * float(np.dot(s, vals))
    return CentralPoint(
        np.asarray(w, np.float64), float(loss), g, vals, np.asarray(U, np.float64),
        np.asarray(res, np.float64), G, s, velocity, predicted,
    )  # fmt: skip


def central_point(
    objective: Any, w: Any, lr: float, U0: Any, settings: CentralSettings = CentralSettings()
) -> CentralPoint:
    r"""The central flow's right-hand side at ``w`` with the ``k = U0.shape[1]`` top eigenpairs
    (warm-started from the columns of ``U0``); ``settings``: restoring rate and eigen
    tolerance (:class:`CentralSettings`)."""
    lr = positive_number(lr, "lr")
    w = jnp.asarray(w, jnp.float64)
    U0 = jnp.asarray(U0, jnp.float64).reshape(w.shape[0], -1)
    out = _kernel(objective, settings.eig_tol, settings.eig_max_iters)(w, U0)
    return _assemble(w, *out, lr=lr, restoring=settings.restoring)


# ============================================================================ integration
class CentralIntegrator:
    """The central flow advanced one GD interval :math:`[\\eta t, \\eta(t+1)]` at a time.

    :attr:`point` is the :class:`CentralPoint` at the current time ``t`` (GD steps);
    :meth:`advance` integrates one interval with RK45 (module docstring) and counts the
    right-hand-side evaluations in :attr:`evaluations`; :meth:`state` / :meth:`restore` are the
    numpy state a checkpoint needs (point, eigenvectors, step size, counters).
    """

    def __init__(
        self, objective: Any, w0: Any, lr: float, U0: Any,
        settings: CentralSettings = CentralSettings(),
    ) -> None:  # fmt: skip
        self.lr = positive_number(lr, "lr")
        self.settings = settings
        self._kernel = _kernel(objective, settings.eig_tol, settings.eig_max_iters)
        self.t, self.evaluations, self.h = 0, 0, float("nan")
        w0 = np.asarray(w0, np.float64)
        self._U = np.asarray(U0, np.float64).reshape(w0.shape[0], -1)
        self._last: CentralPoint | None = None
        self.point = self._evaluate(w0)

    def _evaluate(self, w: np.ndarray) -> CentralPoint:
        out = self._kernel(jnp.asarray(w), jnp.asarray(self._U))
        self.evaluations += 1
        p = _assemble(w, *out, lr=self.lr, restoring=self.settings.restoring)
        self._U = p.U  # warm start of the next solve
        self._last = p
        return p

    def _rhs(self, _tau: float, w: np.ndarray) -> np.ndarray:
        if np.array_equal(w, self.point.w):  # solve_ivp's first evaluation: known
            return self.point.velocity
        return self._evaluate(np.array(w)).velocity

    def advance(self) -> CentralPoint:
        """Integrate to the next GD time; returns (and stores) the new :attr:`point`."""
        # the next interval starts with the largest step of the last one, 20% larger (capped
        # at the interval): steady flows settle at about one RK45 step per interval
        first = None if not np.isfinite(self.h) else min(1.2 * self.h, self.lr)
        st = self.settings
        sol = scipy.integrate.solve_ivp(
            self._rhs, (0.0, self.lr), self.point.w, method=st.method, rtol=st.rtol,
            atol=st.atol, first_step=first,
        )  # fmt: skip
        if not sol.success:
            raise RuntimeError(f"central flow: {st.method} failed at step {self.t}: {sol.message}")
        self.h = float(np.diff(sol.t).max())
        end = sol.y[:, -1]
        # the pair's last (first-same-as-last) evaluation is at the end point: reuse it
        last = self._last
        self.point = (
            last if last is not None and np.array_equal(last.w, end) else self._evaluate(end)
        )
        self.t += 1
        return self.point

    def state(self) -> dict[str, np.ndarray]:
        out = {f"central/point/{k}": np.asarray(v) for k, v in self.point._asdict().items()}
        out.update({"central/U": self._U, "central/t": np.asarray(self.t),
                    "central/h": np.asarray(self.h),
                    "central/evaluations": np.asarray(self.evaluations)})  # fmt: skip
        return out

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        """Continue from :meth:`state` (no re-evaluation: the resumed run is bit-identical)."""
        fields = {k: state[f"central/point/{k}"] for k in CentralPoint._fields}
        for k in ("loss", "predicted_loss"):
            fields[k] = float(fields[k])
        self.point = CentralPoint(**fields)
        self._last = self.point
        self._U = np.asarray(state["central/U"], np.float64)
        self.t, self.h = int(state["central/t"]), float(state["central/h"])
        self.evaluations = int(state["central/evaluations"])


class Companion(Protocol):
    """Trajectories advanced beside the flow (e.g. GD, :math:`\\theta^\\dagger`, gradient flow):
    ``record(t, point)`` returns the numbers to record at GD time ``t`` (and moves to ``t + 1``),
    ``state()`` / ``restore(state)`` their checkpoint (keys not starting with ``central/``)."""

    def record(self, t: int, point: CentralPoint) -> Mapping[str, Any]: ...

    def state(self) -> dict[str, np.ndarray]: ...

    def restore(self, state: Mapping[str, np.ndarray]) -> None: ...


@dataclass
class CentralFlow(Record):
    """Per-GD-time arrays of :func:`central_flow` and its metadata.

    Keys: ``step``; ``central/loss``, ``central/predicted_loss`` (:math:`L + \\tfrac12
    \\sum\\sigma_i^2 S_i`), ``central/eigvals`` and ``central/sigma2`` (``(T+1, k)``),
    ``central/eig_residual`` (worst), ``central/evaluations`` (cumulative right-hand sides);
    ``distance/<name>`` to given reference trajectories; whatever a companion records.
    """

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


def _central_record(p: CentralPoint, evaluations: int) -> dict[str, Any]:
    return {
        "central/loss": p.loss,
        "central/predicted_loss": p.predicted_loss,
        "central/eigvals": p.eigvals,
        "central/sigma2": p.sigma2,
        "central/eig_residual": float(np.max(p.eig_residuals)),
        "central/evaluations": evaluations,
    }


def _stack(rows: list[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]} if rows else {}


def _unstack(state: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    keys = [k[len("records/") :] for k in state if k.startswith("records/")]
    n = len(state["records/step"]) if keys else 0
    return [{k: state[f"records/{k}"][i] for k in keys} for i in range(n)]


def central_flow(
    objective: Any,
    w0: Any,
    *,
    lr: float,
    steps: int,
    U0: Any,
    settings: CentralSettings = CentralSettings(),
    references: Mapping[str, Any] | None = None,
    keep_points: bool = False,
    companion: Companion | None = None,
    progress: bool = False,
    resume_from: Mapping[str, np.ndarray] | None = None,
    on_checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
    checkpoint_every: int = 100,
) -> CentralFlow:
    r"""Integrate the central flow from ``w0`` over ``steps`` GD intervals (flow time
    ``lr * steps``), recording at every GD time ``t = 0..steps`` (module docstring).

    Args:
        objective: an :class:`eos.objective.ObjectiveLike` (float64 points).
        w0: the start; ``U0``: ``(d, k)`` start vectors of the ``k`` tracked eigenpairs.
        settings: restoring rate, integrator and tolerances (:class:`CentralSettings`).
        references: ``name -> (steps + 1, d)`` array; records ``distance/<name>``
            :math:`= \|w(\eta t) - \text{ref}_t\|`; ``keep_points``: also record the points,
            ``central/w`` (``(steps + 1, d)``: small problems only).
        companion: a :class:`Companion` advanced and checkpointed with the flow.
        progress: a progress bar; ``resume_from`` / ``on_checkpoint`` / ``checkpoint_every``:
            checkpoints (a state dict of numpy arrays) every that many steps.
    """
    steps = positive_int(steps, "steps", minimum=0)
    checkpoint_every = positive_int(checkpoint_every, "checkpoint_every")
    refs = {k: np.asarray(v) for k, v in (references or {}).items()}
    integ = CentralIntegrator(objective, w0, lr, U0, settings)
    rows: list[dict[str, Any]] = []
    if resume_from is not None:
        integ.restore(resume_from)
        rows = _unstack(resume_from)
        if companion is not None:
            companion.restore(resume_from)
    from eos.progress import progress_bar

    bar = progress_bar(total=steps, initial=integ.t, desc="central flow", disable=not progress)
    try:
        while True:
            t, p = integ.t, integ.point
            row = {"step": t, **_central_record(p, integ.evaluations)}
            if keep_points:
                row["central/w"] = p.w
            row.update(
                {f"distance/{k}": float(np.linalg.norm(p.w - v[t])) for k, v in refs.items()}
            )
            if companion is not None:
                row.update(companion.record(t, p))
            rows.append(row)
            if t == steps:
                break
            integ.advance()
            bar.update(1)
            if on_checkpoint is not None and integ.t % checkpoint_every == 0 and integ.t < steps:
                state = {f"records/{k}": v for k, v in _stack(rows).items()}
                state.update(integ.state())
                if companion is not None:
                    state.update(companion.state())
                on_checkpoint(state)
    finally:
        bar.close()
    meta = {"lr": lr, "steps_done": steps, "stop_reason": "completed", "k": integ._U.shape[1],
            "evaluations": integ.evaluations, **settings.as_dict()}  # fmt: skip
    return CentralFlow(_stack(rows), meta)
