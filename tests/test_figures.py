"""Smoke and consistency tests of eos.figures (the chapters' figures, one module per kind).

Synthetic runs with known answers (tests/synthetic_runs.py) stand in for cached experiments, so
these tests take seconds and do not depend on the dynamics engine.
"""

from __future__ import annotations

import json

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

import eos  # noqa: E402
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
from eos.results import git_info  # noqa: E402


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


# --------------------------------------------------------------------------------------------
# citable figure files (eos.figures.provenance): metadata round trip, one folder per profile
# --------------------------------------------------------------------------------------------
def _smoke_figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [0, 1, 4])
    return fig


def test_figure_metadata_round_trips(tmp_path, monkeypatch):
    from PIL import Image

    from eos.figures import provenance, style

    monkeypatch.setenv("EOS_FIGURE_DIR", str(tmp_path))
    monkeypatch.setenv("EOS_PROFILE", "smoke")
    fig = _smoke_figure()
    # an unregistered name with an explicit paper figure, and text that needs PDF escapes
    pdf, png = style.savefig(
        fig, "test-round-trip", paper="Fig. 9 (a) \\ü", experiments=["fig1-mlp"], chapter="x"
    )
    plt.close(fig)
    assert (pdf.parent, png.parent) == (tmp_path / "smoke", tmp_path / "smoke")
    written = style.WRITTEN[-1]
    # PNG: the text chunks, read by Pillow directly
    with Image.open(png) as im:
        chunks = dict(im.text)
    assert json.loads(chunks["eos:provenance"]) == provenance.read_provenance(png)
    assert chunks["Title"] == "test-round-trip"
    # PDF: the info dictionary (the record as JSON, and the non-ASCII Subject as UTF-16)
    raw = pdf.read_bytes()
    assert b"/EosProvenance (" in raw and b"/Title (test-round-trip)" in raw
    info = provenance.read_pdf_info(pdf)
    assert info["Subject"].startswith("test-round-trip (reproduces Fig. 9 (a) \\ü of Damian")
    for path in (pdf, png):
        rec = provenance.read_provenance(path)
        assert rec == {k: v for k, v in written.items() if k not in ("pdf", "png")}
        assert rec["figure"] == "test-round-trip" and rec["paper_figure"] == "Fig. 9 (a) \\ü"
        assert rec["profile"] == "smoke" and rec["experiments"] == ["fig1-mlp"]
        assert rec["version"] == eos.__version__
        assert rec["git_commit"] == git_info()["commit"]
        assert rec["command"] == "EOS_PROFILE=smoke jupyter execute book/x.ipynb"
        assert rec["date"][:4].isdigit()


def test_figures_of_two_profiles_never_collide(tmp_path, monkeypatch):
    from eos.figures import provenance, style

    monkeypatch.setenv("EOS_FIGURE_DIR", str(tmp_path))
    paths = {}
    for profile in ("smoke", "quick"):
        monkeypatch.setenv("EOS_PROFILE", profile)
        fig = _smoke_figure()
        paths[profile] = style.savefig(fig, "fig2-four-stages")
        plt.close(fig)
    assert paths["smoke"][0] != paths["quick"][0]
    for profile, (pdf, png) in paths.items():
        assert pdf.is_file() and png.is_file() and pdf.parent == tmp_path / profile
        assert provenance.read_provenance(pdf)["profile"] == profile
        assert provenance.read_provenance(png)["paper_figure"] == "Fig. 2"
    # a figure of the published bundle goes to the paper folder whatever the profile
    monkeypatch.setenv("EOS_PROFILE", "smoke")
    fig = _smoke_figure()
    pdf, _ = style.savefig(fig, "fig1-progressive-sharpening-paper")
    plt.close(fig)
    assert pdf.parent == tmp_path / "paper"
    rec = provenance.read_provenance(pdf)
    assert rec["profile"] == "paper" and rec["experiments"] == ["fig1-mlp"]
    assert set(rec["runs_commit"]) == {"fig1-mlp"}
    # the listing of one profile shows its own figures and the published one, not the other's
    listed = provenance.list_figures("quick")
    assert [(r["figure"], r["profile"]) for r in listed] == [
        ("fig1-progressive-sharpening-paper", "paper"),
        ("fig2-four-stages", "quick"),
    ]
    assert "version = {" + eos.__version__ + "}" in provenance.bibtex(listed[1])


def test_registry_names_the_setting_of_each_figure():
    from eos.figures.provenance import _experiments, spec_for

    assert spec_for("fig4-resnet18-mse").paper == "App. G"  # not in the paper's Fig. 4
    assert spec_for("fig4-cnn-mse").paper == "Fig. 4"
    assert spec_for("appG-generalized-mlp-mse-cifar10").chapter == "generalized_dynamics"
    assert spec_for("appG-cnn-mse").chapter == "architectures"
    assert spec_for("no-such-figure") is None
    for name, setting in (
        ("appE-cnn-logistic", "cnn-logistic-cifar10cd"),
        ("fig4-resnet18-mse", "resnet18-mse-cifar10cd"),
        ("appG-generalized-transformer-logistic-sst2", "transformer-logistic-sst2"),
    ):
        got = _experiments(name, spec_for(name), "quick")
        assert got == experiments.selected(setting, "quick") and got


def test_cli_lists_the_figures(tmp_path, monkeypatch, capsys):
    from eos import cli
    from eos.figures import style

    monkeypatch.setenv("EOS_FIGURE_DIR", str(tmp_path))
    monkeypatch.setenv("EOS_PROFILE", "quick")
    fig = _smoke_figure()
    style.savefig(fig, "fig3-orbits")
    plt.close(fig)
    assert cli.main(["figures", "--profile", "quick", "--bibtex"]) == 0
    out = capsys.readouterr().out
    assert "1 figure(s) of profile quick" in out and "fig3-orbits  [Fig. 3]" in out
    assert "EOS_PROFILE=quick jupyter execute book/conserved_quantity.ipynb" in out
    assert "@software{eos_fig3_orbits_quick," in out
