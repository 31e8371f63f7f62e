"""Smoke and consistency tests of eos.figures (the experiment chapters' figures and tables).

Synthetic runs with known answers stand in for cached experiments, so these tests take
seconds and do not depend on the dynamics engine.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from eos import experiments, figures  # noqa: E402
from eos.analysis import agreement  # noqa: E402


class FakeResult:
    """The parts of eos.experiments.Result that eos.figures uses."""

    def __init__(self, kind, lr, trajectory, history=None, instability_step=0, steps_done=None):
        self.config = SimpleNamespace(kind=kind, lr=lr, key=lambda: f"{kind}-{lr}")
        self.lr = lr
        self.threshold = 2.0 / lr
        self.trajectory = trajectory
        self.history = history or {}
        self.instability_step = instability_step
        self.name = f"fake-{kind}-{lr}"
        self.steps_done = steps_done if steps_done is not None else len(trajectory["step"]) - 1

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


def test_theorem1_residuals_match_hand_computation():
    lr = 0.01
    a = tracked_arrays(lr=lr)
    res = figures.theorem1_residuals(a, lr)
    eps, delta = a["constrained/epsilon"], a["constrained/delta"]
    np.testing.assert_allclose(res["loss"], np.abs(a["gd/loss"] - a["theorem1/loss"]))
    np.testing.assert_allclose(res["loss_scale"], eps * delta**2 / lr)
    np.testing.assert_allclose(res["sharpness_scale"], eps**2 / lr)
    np.testing.assert_allclose(res["deviation_scale"], eps * delta)
    np.testing.assert_allclose(res["deviation_ratio"], a["theorem1/deviation"] / (eps * delta))
    with pytest.raises(ValueError, match="lr is required"):
        figures.theorem1_residuals(a)
    bad = dict(a)
    del bad["theorem1/loss"]
    with pytest.raises(ValueError, match="theorem1/loss"):
        figures.theorem1_residuals(bad, lr)


def test_cycle_window_finds_the_largest_late_excursion():
    n = 100
    delta = np.full(n, 1.0)
    x = np.full(n, 0.5) * (-1.0) ** np.arange(n)
    x[10:20] *= 10.0  # early transient: ignored (first half)
    x[60:66] *= 4.0
    x[80:84] *= 6.0  # the largest excursion of |x| above delta in the second half
    a = {"gd/x": x, "gd/distance": np.ones(n), "constrained/delta": delta}
    t0, t1 = figures.cycle_window(a)
    assert (t0, t1) == (80 - 2 * 4, 83 + 4)
    # only an early excursion: that one
    y = np.full(n, 0.5)
    y[10:20] = 3.0
    assert figures.cycle_window({"gd/x": y, "constrained/delta": delta}) == (0, 29)
    # no gd/x: the distance is used
    a = {"gd/distance": np.abs(x), "constrained/delta": delta}
    assert figures.cycle_window(a) == (72, 87)
    # no excursion at all: the last quarter
    a = {"gd/x": np.full(n, 0.5), "constrained/delta": delta}
    assert figures.cycle_window(a) == (n - 1 - n // 4, n - 1)
    # shorter than the minimum width: the whole run
    a = {"gd/x": np.ones(5), "constrained/delta": np.ones(5)}
    assert figures.cycle_window(a) == (0, 4)


def test_gd_curves_and_summary():
    r = gd_result()
    c = figures.gd_curves(r)
    assert c["loss_step"][0] == 0 and c["loss_step"][-1] == 30 + 20
    assert np.all(np.diff(c["loss_step"]) > 0) and np.all(np.diff(c["sharpness_step"]) > 0)
    # the history's entry at the instability step is replaced by the run's step 0
    assert np.sum(c["loss_step"] == 30) == 1
    s = figures.edge_of_stability_summary(r)
    loss = r["gd/loss"]
    assert s["loss_increase_fraction"] == pytest.approx(np.mean(np.diff(loss) > 0))
    ratio = r["gd/sharpness"] / (2 / r.lr)
    assert s["sharpness_ratio_mean"] == pytest.approx(ratio.mean())
    assert s["sharpness_start_ratio"] == pytest.approx(20.0 / 100.0)
    assert s["loss_ratio"] == pytest.approx(loss[-1] / loss[0])
    tracked = FakeResult("track", 0.01, tracked_arrays())
    with pytest.raises(ValueError, match="gd_curves needs 'gd'"):
        figures.gd_curves(tracked)


def test_agreement_frame_matches_agreement_table():
    runs = {"a": FakeResult("track", 0.01, tracked_arrays(seed=1)),
            "b": FakeResult("track", 0.02, tracked_arrays(lr=0.02, seed=2))}  # fmt: skip
    frame, rows = figures.agreement_frame(runs)
    assert list(frame.index) == ["a", "b"]
    assert [c for c, _ in figures.AGREEMENT_COLUMNS] == list(frame.columns)[4:-1]
    assert frame.loc["a", "tracked steps"] == 39 and rows["a"]["dagger_residual"] == 0.0
    for name, r in runs.items():
        ref = agreement.agreement_table(r.trajectory, r.lr)
        assert frame.loc[name, "loss err (median)"] == pytest.approx(ref["predicted_loss_median"])
        assert rows[name]["cycles"] == ref["cycles"]
        gd_end, flow_end = r["gd/loss"][-1], r["flow/loss"][-1]
        assert rows[name]["flow_gd_loss_gap_final"] == pytest.approx((flow_end - gd_end) / gd_end)


def test_assumption_table_flags_a_violation():
    good = tracked_arrays()
    bad = tracked_arrays()
    bad["assumptions/alpha"] = bad["assumptions/alpha"].copy()
    bad["assumptions/alpha"][2] = -1.0  # Assumption 1 fails at one diagnostic step
    frame, verdicts = figures.assumption_table(
        {"good": FakeResult("track", 0.01, good), "bad": FakeResult("track", 0.01, bad)}
    )
    assert verdicts["good"]["alpha"][0] is True
    assert verdicts["bad"]["alpha"] == (False, -1.0)
    assert frame.loc["bad", "A1 alpha>0"].startswith("NO")
    assert frame.loc["good", "A1 alpha>0"].startswith("yes")
    no_diag = {k: v for k, v in good.items() if not k.startswith("assumptions/")}
    with pytest.raises(ValueError, match="no App. E diagnostics"):
        figures.assumption_table({"x": FakeResult("track", 0.01, no_diag)})


def test_plots_have_the_documented_panels():
    runs = [FakeResult("track", lr, tracked_arrays(lr=lr)) for lr in (0.02, 0.01)]
    checks = [
        (figures.plot_tracking(runs[0]), 6),
        (figures.plot_tracking(runs[0], two_step=False, generalized=True), 6),
        (figures.plot_tracking_overview(runs), 6),
        (figures.plot_theorem1(runs[0]), 6),
        (figures.plot_assumptions(runs), 16),
        (figures.plot_progressive_sharpening([gd_result(0.02), gd_result(0.01)]), 4),
    ]
    for fig, n_axes in checks:
        assert len(fig.axes) == n_axes
        plt.close(fig)
    # the zoom row of Fig. 4 is restricted to the window
    fig = figures.plot_tracking(runs[0], window=(10, 20))
    assert fig.axes[0].get_xlim() == (10, 20)
    plt.close(fig)
    with pytest.raises(ValueError, match="results is empty"):
        figures.plot_assumptions([])


def test_describe_config_states_the_reduced_resnet():
    quick = experiments.get_config("resnet18-mse-cifar10cd-lr0.002", profile="quick")
    paper = experiments.get_config("resnet18-mse-cifar10cd-lr0.002", profile="paper")
    q = figures.describe_config(quick, profile="quick")
    p = figures.describe_config(paper)
    widths = "-".join(str(w) for w in quick.model_kw["widths"])
    assert widths in q and f"{quick.n:,} examples" in q and q.endswith("profile quick")
    assert "16-32-64-128" in p and "5,000 examples" in p and "eta = 0.002" in p


def test_prediction_breakdown_and_masked_trace():
    steps = np.arange(10)
    gd = np.full(10, 0.5)
    pred = gd.copy()
    pred[6] = 40.0  # above 10 x GD's largest loss (5.0): off scale from step 6
    pred[8] = np.inf
    a = {"step": steps, "gd/loss": gd, "predicted/loss": pred}
    assert figures.prediction_breakdown(a) == 6
    assert figures.prediction_breakdown(a, factor=100.0) == 8  # only the infinity is off scale
    assert (
        figures.prediction_breakdown({"step": steps, "gd/loss": gd, "predicted/loss": gd}) is None
    )
    assert figures.prediction_breakdown(a, "generalized") is None  # no such trace
    t, y = figures._series(a, "predicted", "loss", two_step=False)
    assert np.all(np.isnan(y[6:])) and np.array_equal(y[:6], pred[:6])
