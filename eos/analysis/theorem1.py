r"""Theorem 1 (the coupling theorem, Sec. 5) measured along a tracked run.

Theorem 1 predicts, for :math:`t \le \mathcal T = O(\epsilon^{-1})`,

.. math::

    L(\theta_t) &= L(\theta^\dagger_t) + \hat x_t^2/\eta + O(\epsilon\delta^2/\eta),\\
    S(\theta_t) &= 2/\eta + \hat y_t + (\nabla S_t\cdot u_t)\hat x_t + O(\epsilon^2/\eta),\\
    \theta_t &= \theta^\dagger_t + \hat v_t + O(\epsilon\delta),

with the constrained trajectory :math:`\theta^\dagger_t` (eq. (2)), the predicted dynamics
:math:`\hat v_t` (Definition 7, eq. (6)), :math:`\epsilon_t = \eta\sqrt{\alpha_t}` (Definition 6)
and :math:`\delta_t = \sqrt{2\alpha_t/\beta_t}` (Definition 4). :mod:`eos.dynamics.tracking`
records the three right-hand sides (``theorem1/loss``, ``theorem1/sharpness``) and the deviation
:math:`\|\theta_t - \theta^\dagger_t - \hat v_t\|` (``theorem1/deviation``);
:func:`theorem1_residuals` sets each residual against its error scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eos.analysis.run_arrays import arrays_of, lr_of, series

__all__ = ["theorem1_residuals"]


def theorem1_residuals(run: Any, lr: float | None = None) -> dict[str, np.ndarray]:
    """Theorem 1's three residuals per tracked step and the error scales they are bounded by.

    With :math:`\\epsilon_t = \\eta\\sqrt{\\alpha_t}` and :math:`\\delta_t = \\sqrt{2\\alpha_t/\\beta_t}`
    (Definitions 4, 6) along the constrained trajectory:

    - ``loss``: :math:`|L(\\theta_t) - L(\\theta^\\dagger_t) - \\hat x_t^2/\\eta|`, scale
      ``loss_scale`` :math:`= \\epsilon_t\\delta_t^2/\\eta`;
    - ``sharpness``: :math:`|S(\\theta_t) - 2/\\eta - \\hat y_t - (\\nabla S_t\\cdot u_t)\\hat x_t|`,
      scale ``sharpness_scale`` :math:`= \\epsilon_t^2/\\eta`;
    - ``deviation``: :math:`\\|\\theta_t - \\theta^\\dagger_t - \\hat v_t\\|`, scale
      ``deviation_scale`` :math:`= \\epsilon_t\\delta_t`;

    and ``<name>_ratio`` = residual / scale (Theorem 1: O(1)). ``step`` is the tracked step.
    ``run``: a Result, a Trajectory or a dict of arrays (then ``lr`` is required).
    """
    a = arrays_of(run)
    eta = lr_of(run, lr)
    eps = series(a, "constrained/epsilon")
    delta = series(a, "constrained/delta")
    out = {
        "step": np.asarray(a["step"]),
        "loss": np.abs(series(a, "gd/loss") - series(a, "theorem1/loss")),
        "loss_scale": eps * delta**2 / eta,
        "sharpness": np.abs(series(a, "gd/sharpness") - series(a, "theorem1/sharpness")),
        "sharpness_scale": eps**2 / eta,
        "deviation": series(a, "theorem1/deviation"),
        "deviation_scale": eps * delta,
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in ("loss", "sharpness", "deviation"):
            out[f"{k}_ratio"] = out[k] / out[f"{k}_scale"]
    return out
