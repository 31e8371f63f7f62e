"""Smoke and consistency tests of eos.figures (the chapters' figures, one module per kind).

Synthetic runs with known answers (tests/synthetic_runs.py) stand in for cached experiments, so
these tests take seconds and do not depend on the dynamics engine.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from synthetic_runs import (  # noqa: E402
    LR,
    FakeResult,
    gd_result,
    line_profile_case,
    profile_arrays,
    tracked_arrays,
)

from eos import experiments  # noqa: E402
from eos.analysis.limiting import profile_series  # noqa: E402
from eos.figures import (  # noqa: E402
    assumptions,
    captions,
    limiting_sharpness,
    line_profiles,
    predictions,
    sharpening,
    theorem1,
    tracking,
)
from eos.figures.style import COLORS  # noqa: E402


def test_plots_have_the_documented_panels():
    runs = [FakeResult("track", lr, tracked_arrays(lr=lr)) for lr in (0.02, 0.01)]
    checks = [
        (tracking.plot_tracking(runs[0]), 6),
        (tracking.plot_tracking(runs[0], two_step=False, generalized=True), 6),
        (tracking.plot_tracking_overview(runs), 6),
        (theorem1.plot_theorem1(runs[0]), 6),
        (assumptions.plot_assumptions(runs), 16),
        (sharpening.plot_progressive_sharpening([gd_result(0.02), gd_result(0.01)]), 4),
    ]
    for fig, n_axes in checks:
        assert len(fig.axes) == n_axes
        plt.close(fig)
    # the zoom row of Fig. 4 is restricted to the window
    fig = tracking.plot_tracking(runs[0], window=(10, 20))
    assert fig.axes[0].get_xlim() == (10, 20)
    plt.close(fig)
    with pytest.raises(ValueError, match="results is empty"):
        assumptions.plot_assumptions([])


def test_describe_config_states_the_reduced_resnet():
    quick = experiments.get_config("resnet18-mse-cifar10cd-lr0.002", profile="quick")
    paper = experiments.get_config("resnet18-mse-cifar10cd-lr0.002", profile="paper")
    q = captions.describe_config(quick, profile="quick")
    p = captions.describe_config(paper)
    widths = "-".join(str(w) for w in quick.model_kw["widths"])
    assert widths in q and f"{quick.n:,} examples" in q and q.endswith("profile quick")
    assert "16-32-64-128" in p and "5,000 examples" in p and "eta = 0.002" in p


def test_masked_trace_after_prediction_breakdown():
    steps = np.arange(10)
    gd = np.full(10, 0.5)
    pred = gd.copy()
    pred[6] = 40.0  # above 10 x GD's largest loss (5.0): off scale from step 6
    pred[8] = np.inf
    a = {"step": steps, "gd/loss": gd, "predicted/loss": pred}
    t, y = tracking._trace(a, "predicted", "loss", two_step=False)
    assert np.all(np.isnan(y[6:])) and np.array_equal(y[:6], pred[:6])


def test_plots_draw_the_data():
    arrays = profile_arrays([(-0.5, 0.0, 0.3), (0.7, 0.1, 0.2), (0.2, 0.0, 0.25)])
    fig, ax = plt.subplots()
    idx = line_profiles.plot_line_profiles(ax, arrays, LR, n_curves=2)
    assert idx == [0, 2]
    x, f, _, _ = line_profile_case(0.2, 0.0, 0.25)
    ydata = ax.lines[2].get_ydata()  # even part of the last curve, in units of delta^2/eta
    assert np.allclose(ydata, f / (0.25**2 / LR))
    plt.close(fig)

    t = np.arange(6)
    traj = {
        "gd/loss": 1.0 - 0.01 * t, "predicted/loss": 1.0 - 0.02 * t, "generalized/loss": 1.0 - 0.011 * t,
        "constrained/loss": 0.99 - 0.01 * t, "gd/sharpness": 40 + (-1.0) ** t,
        "predicted/sharpness": 40 + 1e6 * t, "generalized/sharpness": 40 + 0.5 * (-1.0) ** t,
        "gd/x": 0.1 * (-1.0) ** t, "predicted/x": 1e3 * (-1.0) ** t, "generalized/x": 0.1 * (-1.0) ** t,
        "constrained/delta": np.full(6, 0.2),
    }  # fmt: skip
    fig, axes = plt.subplots(1, 3)
    predictions.plot_predictions(axes, traj, LR)
    # the sharpness panel follows GD's two-step average (40) and 2/eta, not the diverging prediction
    lo, hi = axes[1].get_ylim()
    assert lo < 40 < hi and hi < 1e3
    assert np.allclose(axes[1].lines[0].get_ydata(), 40.0)
    plt.close(fig)
    fig, ax = plt.subplots()
    series = {"step": np.array([0, 2, 4]), "limiting_sharpness": np.array([39.0, 40.5, 41.0])}
    limiting_sharpness.plot_limiting_sharpness(ax, traj, LR, series)
    assert np.allclose(ax.lines[1].get_ydata(), np.cumsum(np.full(5, 40.0)) / np.arange(1, 6))
    assert np.allclose(ax.lines[2].get_ydata(), [39.0, 40.5, 41.0])
    plt.close(fig)


def test_robust_limits():
    lo, hi = predictions.robust_limits([0.0, 1.0, np.inf], [0.5], pad=0.1)
    assert (lo, hi) == pytest.approx((-0.1, 1.1))


def test_plot_classification_marks_each_class():
    s = profile_series(profile_arrays([(-0.5, 0.0, 0.3), (0.7, 0.0, 0.2), (0.0, 0.0, 0.4)]), LR)
    fig, ax = plt.subplots()
    line_profiles.plot_classification(ax, s, color="k", label="run", quantity="even_at_delta")
    assert np.allclose(ax.lines[0].get_ydata(), s["even_at_delta"])
    assert len(ax.collections) == 3  # sub, super and quadratic points, one scatter each
    with pytest.raises(ValueError, match="quantity"):
        line_profiles.plot_classification(ax, s, color="k", label="run", quantity="kappa")
    plt.close(fig)


def test_one_palette_for_the_four_trajectories():
    # gradient descent, the predicted dynamics, the constrained trajectory and gradient flow
    # keep their colours in every figure: the tracking panels draw them from the one palette
    run = FakeResult("track", 0.01, tracked_arrays())
    fig = tracking.plot_tracking(run, two_step=False)
    drawn = {line.get_label(): line.get_color() for line in fig.axes[3].get_lines()}
    for key, label in (("gd", "gradient descent"), ("predicted", "predicted dynamics"),
                       ("constrained", r"constrained trajectory $\theta^\dagger$"),
                       ("flow", "gradient flow")):  # fmt: skip
        assert drawn[label] == COLORS[key]
    plt.close(fig)
