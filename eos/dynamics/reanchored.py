r"""The predicted dynamics re-anchored inside Theorem 1's hypothesis (a variant, beyond the paper).

Definition 7 starts the predicted dynamics at :math:`\hat v_0 = v_0 = \theta_0 - \theta^\dagger_0`
and advances them by eq. (6) (:func:`eos.dynamics.predicted.predicted_step`):

.. math::  \hat v_{t+1} = P^\perp_{u_{t+1}}\Big[(I - \eta\nabla^2L_t)P^\perp_{u_t}\hat v_t
           + \eta\nabla S_t^\perp\,\tfrac{\delta_t^2 - \hat x_t^2}{2}\Big]
           + \hat x_{t+1}\,u_{t+1},\qquad \hat x_{t+1} = -(1 + \eta\hat y_t)\hat x_t .

Theorem 1 assumes :math:`\min_{t\le\mathcal T}|\hat x_t| \ge c_1\delta`; at the first unstable
iterate :math:`|x_0|` is far below it (about :math:`10^{-6}\delta` on the paper's MLP), so the
predicted blow-up, an exponential growth from that tiny seed, can come a step or more apart
from GD's. The **re-anchored** prediction restarts eq. (6) from GD itself,

.. math::  \hat v_{t_k} := v_{t_k} = \theta_{t_k} - \theta^\dagger_{t_k},

at the first step :math:`t_k` of each cycle :math:`k` at which GD's displacement reaches the
hypothesis, :math:`|x_{t}| \ge c_1\delta_t` with :math:`x_t = u_t\cdot v_t` (Definition 5): a
cycle is an excursion of :math:`|x_t|/\delta_t` above :math:`c_1` (:func:`cycle_starts`). Between
anchors it is eq. (6) unchanged; before the first anchor it is the paper's prediction. From
:math:`t_k` on, Theorem 1 applies as stated (its hypothesis holds at the start and for as long
as :math:`|\hat x_t| \ge c_1\delta_t`), with the errors

.. math::  L(\theta_t) - L(\theta^\dagger_t) - \hat x_t^2/\eta,\qquad
           S(\theta_t) - 2/\eta - \hat y_t - (\nabla S_t\cdot u_t)\hat x_t,\qquad
           \|\theta_t - \theta^\dagger_t - \hat v_t\|.

:func:`reanchored` advances, in the dtype of ``theta0`` (float64 for App. D.3's runs), gradient
descent :math:`\theta_{t+1} = \theta_t - \eta\nabla L(\theta_t)`, the constrained trajectory
(eq. (2): :func:`eos.dynamics.project` at :math:`t = 0`, then
:func:`eos.dynamics.constrained_step`) and :math:`\hat v_t` (one Hessian-vector product at
:math:`\theta^\dagger_t` per step), and records per step ``t = 0..steps``:

========================================= ============================================================
``step``                                  ``t``
``gd/x``, ``gd/y``, ``gd/loss``           :math:`x_t, y_t` (Definition 5) and :math:`L(\theta_t)`
``constrained/loss``, ``/delta``,         :math:`L(\theta^\dagger_t)`, :math:`\delta_t`, :math:`\epsilon_t`
``/epsilon``                              (Definitions 4, 6)
``predicted/x``, ``predicted/y``          :math:`\hat x_t, \hat y_t` of the re-anchored prediction
``theorem1/loss``, ``/sharpness``         :math:`L(\theta^\dagger_t) + \hat x_t^2/\eta`, :math:`2/\eta + \hat y_t + (\nabla S_t\cdot u_t)\hat x_t`
``theorem1/deviation``                    :math:`\|\theta_t - \theta^\dagger_t - \hat v_t\|`
``anchor``                                1 at the anchor steps :math:`t_k`, else 0
========================================= ============================================================

With ``anchor=False`` no anchor is set: the paper's prediction, computed independently of
:func:`eos.dynamics.track` (a cross-check of the tracker). ``record_vectors=True`` adds
``vectors/theta``, ``vectors/dagger``, ``vectors/u``, ``vectors/v_hat`` (2-D; tiny problems).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from eos.dynamics import _ops
from eos.dynamics.constrained import constrained_step, project
from eos.dynamics.predicted import frame, perp, predicted_step, theorem1, xy
from eos.objective import check_objective
from eos.validate import flat_vector, positive_int, positive_number

__all__ = ["cycle_starts", "reanchored"]


def cycle_starts(x: Any, delta: Any, c1: float) -> np.ndarray:
    """Steps at which ``|x_t| >= c1 delta_t`` while ``|x_{t-1}| < c1 delta_{t-1}`` (or ``t = 0``):
    the first step of each excursion of :math:`|x_t|/\\delta_t` above ``c1`` (module docstring).
    A NaN ratio counts as below."""
    x, delta = np.abs(np.asarray(x, np.float64)), np.asarray(delta, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        above = np.nan_to_num(x / delta, nan=-1.0) >= c1
    prev = np.concatenate([[False], above[:-1]])
    return np.flatnonzero(above & ~prev)


def _kernels(objective: Any, lr: float):
    jit = _ops.jit(objective)

    def observe(o, theta, P, v):
        f = frame(P.u, P.grad, P.grad_sharpness, lr)
        loss, grad = o.value_and_grad(theta)
        x, y = xy(f, theta - P.theta)
        xh, yh = xy(f, v)
        thm_loss, thm_sharp = theorem1(P.loss, f, xh, yh, lr)
        dev = jnp.linalg.norm(theta - P.theta - v)
        hv = o.hvp(P.theta, perp(v, P.u))
        return dict(x=x, y=y, loss=loss, xh=xh, yh=yh, thm_loss=thm_loss, thm_sharp=thm_sharp,
                    dev=dev, delta=f.delta, eps=f.epsilon), (hv, grad)  # fmt: skip

    def advance(o, theta, P, v, hv_grad):
        hv, grad = hv_grad
        f = frame(P.u, P.grad, P.grad_sharpness, lr)
        P1 = constrained_step(o, P, lr)
        v1 = predicted_step(v, f, hvp_perp=hv, u_next=P1.u, lr=lr)
        return theta - lr * grad, P1, v1

    def start(o, theta, u0):
        return project(o, theta, lr, u0, substeps=6, tol=1e-9, eig_tol=1e-10, eig_max_iters=32)

    return jit(observe), jit(advance), jit(start)


_KEYS = {"gd/x": "x", "gd/y": "y", "gd/loss": "loss", "predicted/x": "xh", "predicted/y": "yh",
         "theorem1/loss": "thm_loss", "theorem1/sharpness": "thm_sharp",
         "theorem1/deviation": "dev", "constrained/delta": "delta",
         "constrained/epsilon": "eps"}  # fmt: skip


def reanchored(
    objective: Any,
    theta0: Any,
    u0: Any,
    *,
    lr: float,
    steps: int,
    c1: float,
    anchor: bool = True,
    record_vectors: bool = False,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """GD, :math:`\\theta^\\dagger_t` and the re-anchored prediction from ``theta0`` (the first
    unstable iterate; ``u0`` starts its first eigen-solve) for ``steps`` steps (module docstring);
    ``c1``: Theorem 1's constant of the hypothesis :math:`|\\hat x_t| \\ge c_1\\delta_t`."""
    from eos.progress import progress_bar

    objective = check_objective(objective)
    lr = positive_number(lr, "lr", what="the step size eta")
    steps = positive_int(steps, "steps", minimum=0)
    c1 = positive_number(c1, "c1")
    theta = flat_vector(theta0, "theta0")
    observe, advance, start = _kernels(objective, lr)
    P = start(theta, jnp.asarray(u0, theta.dtype))
    v = theta - P.theta
    rec: dict[str, list] = {k: [] for k in (*_KEYS, "step", "anchor", "constrained/loss")}
    vecs: dict[str, list] = {}
    above_before = False
    bar = progress_bar(total=steps, desc="re-anchored", disable=not progress)
    for t in range(steps + 1):
        out, hv = observe(theta, P, v)
        ratio = abs(float(out["x"])) / float(out["delta"]) if float(out["delta"]) > 0 else -1.0
        above = ratio >= c1
        is_anchor = anchor and above and not above_before
        if is_anchor:  # v_hat := v at the first step of the cycle inside the hypothesis
            v = theta - P.theta
            out, hv = observe(theta, P, v)
        above_before = above
        for k, name in _KEYS.items():
            rec[k].append(float(out[name]))
        rec["constrained/loss"].append(float(P.loss))
        rec["step"].append(t)
        rec["anchor"].append(int(is_anchor))
        if record_vectors:
            for k, val in (("theta", theta), ("dagger", P.theta), ("u", P.u), ("v_hat", v)):
                vecs.setdefault(f"vectors/{k}", []).append(np.asarray(val))
        if t == steps:
            break
        theta, P, v = advance(theta, P, v, hv)
        bar.update(1)
    bar.close()
    arrays = {k: np.asarray(vals, np.float64) for k, vals in rec.items()}
    arrays["step"] = arrays["step"].astype(np.int64)
    arrays["anchor"] = arrays["anchor"].astype(np.int64)
    arrays.update({k: np.stack(vals) for k, vals in vecs.items()})
    return arrays
