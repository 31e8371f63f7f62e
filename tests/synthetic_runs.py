"""Synthetic runs with known answers, standing in for cached experiments in the tests of
eos.analysis and eos.figures (seconds, independent of the dynamics engine).

- :class:`FakeResult`, :func:`tracked_arrays`, :func:`gd_result` -- tracked and plain
  gradient-descent runs shaped like edge-of-stability runs (keys of eos.dynamics.track);
- :func:`line_profile_case`, :func:`profile_arrays` -- App. F line profiles
  F = c4 x^4 + c3 x^3 with exact derivatives.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class FakeResult:
    """The parts of eos.experiments.Result that eos.analysis and eos.figures use."""

    def __init__(self, kind, lr, trajectory, history=None, instability_step=0, steps_done=None):
        self.config = SimpleNamespace(kind=kind, lr=lr, key=lambda: f"{kind}-{lr}")
        self.lr = lr
        self.threshold = 2.0 / lr
        self.trajectory = trajectory
        self.history = history or {}
        self.instability_step = instability_step
        self.name = f"fake-{kind}-{lr}"
        self.steps_done = steps_done if steps_done is not None else len(trajectory["step"]) - 1
        self.reached_instability = instability_step is not None

    def __getitem__(self, key):
        return self.trajectory[key]


def tracked_arrays(n=40, lr=0.01, seed=0):
    """Arrays with the keys of eos.dynamics.track, shaped like an edge-of-stability run."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    thr = 2.0 / lr
    delta = np.full(n, 0.05)
    x = 0.05 * (1 + 0.8 * np.sin(2 * np.pi * t / 20)) * (-1.0) ** t
    y = 3.0 * np.cos(2 * np.pi * t / 20)
    dist = np.abs(x) * 1.01
    loss_dagger = 1.0 - 0.001 * t
    a = {
        "step": t,
        "gd/loss": loss_dagger + x**2 / lr,
        "gd/sharpness": thr + y + 2.0 * x,
        "gd/x": x,
        "gd/y": y,
        "gd/distance": dist,
        "constrained/loss": loss_dagger,
        "constrained/sharpness": np.full(n, thr),
        "constrained/delta": delta,
        "constrained/alpha": np.full(n, 4.0),
        "constrained/epsilon": np.full(n, lr * 2.0),
        "constrained/residual_sharpness": np.zeros(n),
        "flow/loss": loss_dagger - 0.01,
        "flow/sharpness": thr + 0.5 * t,
        "flow/distance": 0.01 * t,
    }
    for p, noise in (("predicted", 1e-3), ("theorem1", 2e-3)):
        a[f"{p}/loss"] = a["gd/loss"] * (1 + noise * rng.standard_normal(n))
        a[f"{p}/sharpness"] = a["gd/sharpness"] + noise * rng.standard_normal(n)
    a["predicted/x"], a["predicted/y"] = x, y
    a["predicted/distance"] = np.abs(x)
    a["theorem1/deviation"] = 0.001 * np.abs(x)
    steps = np.arange(0, n, 5)
    m = steps.size
    a["assumptions/step"] = steps
    a["assumptions/alpha"] = np.full(m, 4.0)
    a["assumptions/epsilon"] = np.full(m, lr * 2.0)
    a["assumptions/a4_alignment"] = np.full(m, 0.5)
    a["assumptions/a4_grad_sharpness_over_rho3"] = np.full(m, 0.7)
    a["assumptions/rho3"] = np.full(m, 100.0)
    a["assumptions/rho4"] = np.full(m, 50.0)
    a["assumptions/a3_ratio"] = a["assumptions/rho4"] / (lr * a["assumptions/rho3"] ** 2)
    for k in ("a5_third_perp", "a5_hessian_displacement", "a5_lambda_min"):
        a[f"assumptions/{k}"] = np.full(m, 0.01)
    return a


def gd_result(lr=0.02, t0=30, after=20):
    hist = {
        "step": np.array([0, 10, 20, 28, 30]),
        "loss": np.array([2.0, 1.5, 1.2, 1.1, 1.05]),
        "sharpness": np.array([20.0, 40.0, 80.0, 98.0, 101.0]),
        "accuracy": np.zeros(5),
    }
    steps = np.arange(after + 1)
    loss = 1.05 * 0.99**steps * (1 + 0.01 * (-1.0) ** steps)
    traj = {
        "step": steps,
        "gd/loss": loss,
        "gd/sharpness_step": np.arange(0, after + 1, 2),
        "gd/sharpness": 2.0 / lr * (1 + 0.02 * np.cos(np.arange(0, after + 1, 2))),
    }
    return FakeResult("gd", lr, traj, hist, instability_step=t0)


MULTIPLES = np.linspace(-2.0, 2.0, 17)
LR = 0.5


def line_profile_case(c4: float, c3: float, delta: float):
    """F = c4 x^4 + c3 x^3 on the grid multiples * delta, with exact derivatives."""
    x = MULTIPLES * delta
    return x, c4 * x**4 + c3 * x**3, 4 * c4 * x**3 + 3 * c3 * x**2, 12 * c4 * x**2 + 6 * c3 * x


def profile_arrays(cases):
    X, F, dF, d2F, deltas = [], [], [], [], []
    for c4, c3, delta in cases:
        x, f, g, k = line_profile_case(c4, c3, delta)
        X.append(x), F.append(f), dF.append(g), d2F.append(k), deltas.append(delta)
    return {
        "quadratic/step": np.arange(len(cases)) * 10,
        "quadratic/x": np.array(X),
        "quadratic/F": np.array(F),
        "quadratic/dF": np.array(dF),
        "quadratic/d2F": np.array(d2F),
        "quadratic/delta": np.array(deltas),
    }
