"""Tests of eos.figures_generalized against analytic line profiles (App. F)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from eos import figures_generalized as fg  # noqa: E402

MULTIPLES = np.linspace(-2.0, 2.0, 17)
LR = 0.5


def _profile(c4: float, c3: float, delta: float):
    """F = c4 x^4 + c3 x^3 on the grid multiples * delta, with exact derivatives."""
    x = MULTIPLES * delta
    return x, c4 * x**4 + c3 * x**3, 4 * c4 * x**3 + 3 * c3 * x**2, 12 * c4 * x**2 + 6 * c3 * x


def _arrays(cases):
    X, F, dF, d2F, deltas = [], [], [], [], []
    for c4, c3, delta in cases:
        x, f, g, k = _profile(c4, c3, delta)
        X.append(x), F.append(f), dF.append(g), d2F.append(k), deltas.append(delta)
    return {
        "quadratic/step": np.arange(len(cases)) * 10,
        "quadratic/x": np.array(X),
        "quadratic/F": np.array(F),
        "quadratic/dF": np.array(dF),
        "quadratic/d2F": np.array(d2F),
        "quadratic/delta": np.array(deltas),
    }


def test_profile_series_against_closed_form():
    # F = c4 x^4 + c3 x^3. The odd cubic must not matter for the class nor for the even-part
    # kappa = F_e''(d) - F_e'(d)/d = 12 c4 d^2 - 4 c4 d^2 = 8 c4 d^2; at +d, F itself gives
    # 12 c4 d^2 + 6 c3 d - 4 c4 d^2 - 3 c3 d = 8 c4 d^2 + 3 c3 d.
    cases = [(-0.5, 0.0, 0.3), (0.7, 0.0, 0.2), (-0.5, 0.4, 0.5), (0.0, 0.0, 0.4)]
    s = fg.profile_series(_arrays(cases), LR)
    for i, (c4, c3, d) in enumerate(cases):
        kappa = 8 * c4 * d**2
        assert s["kappa"][i] == pytest.approx(kappa, rel=1e-12, abs=1e-14)
        assert s["kappa_raw"][i] == pytest.approx(kappa + 3 * c3 * d, rel=1e-12, abs=1e-14)
        assert s["limiting_sharpness"][i] == pytest.approx(2 / LR + kappa, rel=1e-14)
        assert s["relative_offset"][i] == pytest.approx(kappa * LR / 2, rel=1e-12, abs=1e-14)
        assert s["even_at_delta"][i] == pytest.approx(c4 * d**4 * LR / d**2, rel=1e-12, abs=1e-15)
    assert s["classes"] == ["sub-quadratic", "super-quadratic", "sub-quadratic", "quadratic"]
    assert list(s["step"]) == [0, 10, 20, 30]


def test_profile_series_rejects_missing_keys_and_bad_grid():
    arrays = _arrays([(-0.5, 0.0, 0.3)])
    with pytest.raises(ValueError, match="quadratic/delta"):
        fg.profile_series({k: v for k, v in arrays.items() if k != "quadratic/delta"}, LR)
    bad = dict(arrays, **{"quadratic/delta": np.array([0.31])})
    with pytest.raises(ValueError, match="does not contain x = delta"):
        fg.profile_series(bad, LR)
    with pytest.raises(ValueError, match="lr"):
        fg.profile_series(arrays, 0.0)


def test_hermite_mismatch_exact_for_quartic_and_detects_inconsistency():
    x = np.linspace(-1.0, 1.0, 9)
    f = 0.3 * x**4 - x**3 + 0.2 * x**2
    g = 1.2 * x**3 - 3 * x**2 + 0.4 * x
    k = 3.6 * x**2 - 6 * x + 0.4
    assert fg.hermite_mismatch(x, f, g, k) < 1e-13
    # a quintic term gives the O(h^5) quadrature error, shrinking like h^4 relative to F
    e = [fg.hermite_mismatch(xx, xx**5, 5 * xx**4, 20 * xx**3)
         for xx in (np.linspace(0, 1, 5), np.linspace(0, 1, 9))]  # fmt: skip
    assert 0 < e[1] < e[0] / 8
    # a derivative that does not belong to F is caught
    assert fg.hermite_mismatch(x, f, 1.1 * g, k) > 0.05


def test_window_mean_and_limits():
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    assert fg.window_mean(a) == pytest.approx(3.0)
    assert fg.window_mean(a, 0.6) == pytest.approx(4.5)
    with pytest.raises(ValueError):
        fg.window_mean(a, 1.0)
    lo, hi = fg.robust_limits([0.0, 1.0, np.inf], [0.5], pad=0.1)
    assert (lo, hi) == pytest.approx((-0.1, 1.1))


def test_plots_draw_the_data():
    arrays = _arrays([(-0.5, 0.0, 0.3), (0.7, 0.1, 0.2), (0.2, 0.0, 0.25)])
    fig, ax = plt.subplots()
    idx = fg.plot_line_profiles(ax, arrays, LR, n_curves=2)
    assert idx == [0, 2]
    x, f, _, _ = _profile(0.2, 0.0, 0.25)
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
    fg.plot_predictions(axes, traj, LR)
    # the sharpness panel follows GD's two-step average (40) and 2/eta, not the diverging prediction
    lo, hi = axes[1].get_ylim()
    assert lo < 40 < hi and hi < 1e3
    assert np.allclose(axes[1].lines[0].get_ydata(), 40.0)
    plt.close(fig)
    fig, ax = plt.subplots()
    series = {"step": np.array([0, 2, 4]), "limiting_sharpness": np.array([39.0, 40.5, 41.0])}
    fg.plot_limiting_sharpness(ax, traj, LR, series)
    assert np.allclose(ax.lines[1].get_ydata(), np.cumsum(np.full(5, 40.0)) / np.arange(1, 6))
    assert np.allclose(ax.lines[2].get_ydata(), [39.0, 40.5, 41.0])
    plt.close(fig)


def test_agreement_rows_known_errors():
    t = np.arange(8, dtype=np.float64)
    alt = (-1.0) ** t
    gd = {"loss": 1.0 + 0.1 * alt, "sharpness": 2 / LR + 0.3 * alt, "x": 0.2 * alt}
    arrays = {f"gd/{k}": v for k, v in gd.items()}
    arrays["constrained/delta"] = np.full(t.size, 0.1)
    # standard: loss 10% high, sharpness offset by 1% of 2/eta, x off by delta/2; generalized exact
    arrays.update({"predicted/loss": 1.1 * gd["loss"], "predicted/sharpness": gd["sharpness"] + 0.02 / LR,
                   "predicted/x": gd["x"] + 0.05})  # fmt: skip
    arrays.update({f"generalized/{k}": v.copy() for k, v in gd.items()})
    rows = fg.agreement_rows(arrays, LR)
    std, gen = rows["standard"], rows["generalized"]
    assert std["steps"] == gen["steps"] == t.size
    assert std["loss median"] == pytest.approx(0.1) and std["loss worst"] == pytest.approx(0.1)
    assert std["sharpness median"] == pytest.approx(0.01)
    assert std["x/delta median"] == pytest.approx(0.5) and std["x/delta worst"] == pytest.approx(
        0.5
    )
    assert all(gen[k] == 0.0 for k in gen if k != "steps")
    with pytest.raises(ValueError, match="at least 2"):
        fg.agreement_rows({k: v[:1] for k, v in arrays.items()}, LR)


def test_cycle_means_on_a_periodic_orbit():
    n, period, delta, ystar = 400, 40, 2.0, 0.3
    t = np.arange(n)
    w = 2 * np.pi * (t + 0.5) / period
    ax = delta * (1 - 0.5 * np.sin(w))  # |x| < delta where y - y* rises through 0
    y = ystar - 0.1 * np.sin(w + np.pi / 2)
    vals = 5.0 + np.cos(w) + 0.01 * t
    means = fg.cycle_means(ax, y, vals, delta=delta, y_star=ystar)
    assert means.size == n // period - 1
    # over whole periods the cosine averages out: 5 + 0.01 * (centre of the window)
    starts = np.flatnonzero(np.diff(np.sign(y - ystar)) > 0) + 1
    centres = 0.5 * (starts[:-1] + starts[1:] - 1)
    assert np.allclose(means, 5.0 + 0.01 * centres, atol=1e-12)
    assert fg.cycle_means(ax[:30], y[:30], vals[:30], delta=delta, y_star=ystar).size == 0


def test_markdown_table():
    md = fg.markdown_table({"a": {"class": "sub-quadratic", "n": 3, "x": 0.123456, "ok": True},
                            "b": {"n": 2, "y": float("nan")}})  # fmt: skip
    lines = md.splitlines()
    assert lines[0] == "| | class | n | x | ok | y |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert lines[2] == "| a | sub-quadratic | 3 | 0.123 | yes | — |"
    assert lines[3] == "| b | — | 2 | — | — | nan |"
    with pytest.raises(ValueError):
        fg.markdown_table({})


def test_plot_classification_marks_each_class():
    s = fg.profile_series(_arrays([(-0.5, 0.0, 0.3), (0.7, 0.0, 0.2), (0.0, 0.0, 0.4)]), LR)
    fig, ax = plt.subplots()
    fg.plot_classification(ax, s, color="k", label="run", quantity="even_at_delta")
    assert np.allclose(ax.lines[0].get_ydata(), s["even_at_delta"])
    assert len(ax.collections) == 3  # sub, super and quadratic points, one scatter each
    with pytest.raises(ValueError, match="quantity"):
        fg.plot_classification(ax, s, color="k", label="run", quantity="kappa")
    plt.close(fig)


def test_profile_series_step_without_fixed_point():
    # alpha_t <= 0 at the second step: delta and the grid in its units are NaN there
    arrays = _arrays([(-0.5, 0.0, 0.3), (0.7, 0.0, 0.2)])
    arrays["quadratic/delta"][1] = np.nan
    arrays["quadratic/x"][1] = np.nan
    s = fg.profile_series(arrays, LR)
    assert s["classes"] == ["sub-quadratic", fg.NO_FIXED_POINT]
    assert s["kappa"][0] == pytest.approx(8 * -0.5 * 0.3**2, rel=1e-12)
    assert all(np.isnan(s[k][1]) for k in ("kappa", "kappa_raw", "even_at_delta", "d2F_even"))
