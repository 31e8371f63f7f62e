"""Agreement metrics on synthetic arrays with known answers (Sec. 6, Fig. 4, App. G, Sec. 8.2)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from eos.analysis.agreement import (
    agreement_table,
    approaches_fixed_point,
    count_cycles,
    period_two_regularity,
    quarter_turns,
    relative_error_summary,
    two_step_average,
)
from eos.analysis.quadratic import generalized_xy_map
from eos.analysis.tables import markdown_table


def test_two_step_average_removes_period_two_exactly():
    t = np.arange(50.0)
    a = 3 + 0.5 * t + 2 * (-1) ** t
    np.testing.assert_allclose(two_step_average(a), 3 + 0.5 * (t[:-1] + 0.5), rtol=1e-14)
    with pytest.raises(ValueError, match="at least 2"):
        two_step_average([1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        two_step_average(np.ones((2, 2)))


def test_relative_error_summary():
    true = np.array([1.0, 2.0, 4.0, 8.0])
    pred = true * (1 + np.array([0.1, -0.2, 0.05, 0.0]))
    s = relative_error_summary(pred, true)
    assert s["median"] == pytest.approx(0.075) and s["worst"] == pytest.approx(0.2)
    assert s["n"] == 4 and s["n_nonfinite"] == 0
    s = relative_error_summary(pred, true, scale=10.0)
    assert s["worst"] == pytest.approx(0.04)
    pred[1] = np.nan  # a diverged prediction is counted, not hidden
    s = relative_error_summary(pred, true)
    assert s["n_nonfinite"] == 1 and s["worst"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same length"):
        relative_error_summary(pred[:2], true)


def _orbit(n, period, delta=2.0, amp=0.3, yamp=0.7, phase=np.pi / 4, decay=np.inf):
    """Linearised orbit of eq. (4) around (delta, 0): |x|/delta - 1 = a cos, y = -b sin
    (clockwise through the four stages), with GD's sign flip (-1)^t on x."""
    t = np.arange(n)
    w = 2 * np.pi * t / period + phase
    env = np.exp(-t / decay)
    x = (-1.0) ** t * delta * (1 + amp * env * np.cos(w))
    y = -yamp * env * np.sin(w)
    return x, y


def test_count_cycles_synthetic_orbit():
    x, y = _orbit(int(5.5 * 40), 40)
    assert count_cycles(x, y, 2.0) == 5
    assert count_cycles(x, y, np.full(x.size, 2.0)) == 5  # delta_t as an array
    y_jit = y + 0.05 * (-1.0) ** np.arange(y.size)  # period-2 jitter in y
    assert count_cycles(x, y_jit, 2.0) == 5
    assert count_cycles(x, -y, 2.0) == 0  # the wrong sense of rotation is not self-stabilization
    xs, ys = _orbit(400, 40, amp=0.05)  # small oscillations inside the x band
    assert count_cycles(xs, ys, 2.0) == 0
    assert count_cycles(xs, ys, 2.0, x_band=0.01) == 10
    with pytest.raises(ValueError, match="delta"):
        count_cycles(x, y, -1.0)
    # no fixed point (delta_t = NaN, alpha_t <= 0) during the first cycle: it is not counted
    d = np.full(x.size, 2.0)
    d[:40] = np.nan
    assert count_cycles(x, y, d) == 4


@pytest.mark.parametrize("steps, expected", [(4000, 4), (6000, 6)])
def test_count_cycles_on_eq3_matches_the_ode(steps, expected):
    """Cycles of the constant-coefficient map eq. (3) equal the turns of the ODE (4) over the
    same time eta * steps (scipy, angle of (log X/delta, Y) unwrapped)."""
    eta, alpha, beta = 0.005, 1.0, 1.0
    delta = np.sqrt(2 * alpha / beta)
    out = generalized_xy_map(1.3 * delta, 0.0, lr=eta, alpha=alpha, beta=beta, steps=steps)
    sol = solve_ivp(
        lambda t, z: [z[0] * z[1], alpha - beta * z[0] ** 2 / 2],
        (0, eta * steps),
        [1.3 * delta, 0.0],
        rtol=1e-10,
        atol=1e-12,
        max_step=0.05,
        dense_output=True,
    )
    X, Y = sol.sol(np.linspace(0, eta * steps, 10 * steps))
    angle = np.unwrap(np.arctan2(Y, np.log(X / delta)))
    turns = -(angle[-1] - angle[0]) / (2 * np.pi)
    assert 0.2 < turns - np.floor(turns) < 0.8  # not at a boundary: the comparison is robust
    assert int(np.floor(turns)) == expected
    assert count_cycles(out["x"], out["y"], delta) == expected


def test_approaches_fixed_point_known_distance():
    alpha, delta, a, tau = 0.5, 2.0, 0.4, 300.0
    x, y = _orbit(2000, 60, delta=delta, amp=a, yamp=np.sqrt(2 * alpha) * a, decay=tau)
    ok, r = approaches_fixed_point(np.abs(x), y, delta, alpha, tail=0.1)
    t_tail = np.arange(1800, 2000)
    assert ok
    np.testing.assert_allclose(r, np.median(a * np.exp(-t_tail / tau)), rtol=1e-12)
    x, y = _orbit(2000, 60, delta=delta, amp=a, yamp=np.sqrt(2 * alpha) * a)  # no decay
    ok, r = approaches_fixed_point(x, y, delta, alpha)
    assert not ok and r == pytest.approx(a, rel=1e-12)
    # the discrete eq. (3) spirals outwards: it does not approach (delta, 0)
    out = generalized_xy_map(1.1 * 2.0, 0.0, lr=0.01, alpha=2.0, beta=1.0, steps=8000)
    ok, r = approaches_fixed_point(out["x"], out["y"], 2.0, 2.0)
    assert not ok and r > 0.1


def _synthetic_run(n=400, lr=0.1, delta=0.5, alpha=0.3):
    t = np.arange(n, dtype=float)
    x, y = _orbit(n, 50, delta=delta, amp=0.3, yamp=0.2)
    gd_sharp = 2 / lr + 0.5 * (-1) ** t + 0.1 * np.sin(t / 10)
    gd_loss = 1 + 0.1 * np.sin(t / 7)
    return {
        "gd/loss": gd_loss,
        "gd/sharpness": gd_sharp,
        "theorem1/loss": 1.02 * gd_loss,
        "theorem1/sharpness": 2 / lr + 0.2 + 0.1 * np.sin(t / 10),
        "gd/x": x,
        "gd/y": y,
        "predicted/x": x + 0.05 * delta,
        "gd/distance": np.full(n, 2.0),
        "predicted/distance": np.full(n, 1.6),
        "theorem1/deviation": np.full(n, 0.2),
        "constrained/delta": np.full(n, delta),
        "constrained/alpha": np.full(n, alpha),
        "flow/distance": np.linspace(0, 10, n),
    }


def test_agreement_table_known_values():
    run = _synthetic_run()
    row = agreement_table(run, 0.1)
    assert row["steps"] == 400
    assert row["theorem1_loss_median"] == pytest.approx(0.02)
    assert row["theorem1_loss_worst"] == pytest.approx(0.02)
    # two-step averages remove GD's period-2 part; 0.2 offset relative to 2/eta = 20
    assert row["theorem1_sharpness_median"] == pytest.approx(0.01)
    assert row["theorem1_sharpness_worst"] == pytest.approx(0.01)
    assert row["x_error_median"] == pytest.approx(0.05)
    assert row["deviation_ratio_median"] == pytest.approx(1.25)
    assert row["deviation_error_worst"] == pytest.approx(0.1)
    assert row["cycles"] == 8  # 400 steps = 8 periods of 50, ending just past the start phase
    assert row["quarter_turns"] // 4 == 8
    assert row["fixed_point_approached"] is False
    assert row["flow_distance_final"] == pytest.approx(10.0)
    assert row["flow_over_gd_distance_final"] == pytest.approx(5.0)
    assert "generalized_loss_median" not in row
    minimal = agreement_table({"gd/loss": run["gd/loss"], "gd/sharpness": run["gd/sharpness"]}, 0.1)
    assert minimal == {"steps": 400}
    table = markdown_table({"mlp": row, "cnn": minimal}, index_name="run")
    assert table.count("\n") == 3 and "| mlp |" in table and "—" in table
    with pytest.raises(ValueError, match="gd/sharpness"):
        agreement_table({"gd/loss": run["gd/loss"]}, 0.1)
    with pytest.raises(ValueError, match="lengths"):
        agreement_table({**run, "theorem1/loss": run["theorem1/loss"][:-1]}, 0.1)


def test_period_two_regularity():
    rng = np.random.default_rng(0)
    t = np.arange(600.0)
    alt = (-1.0) ** t
    clean = 5 + 0.3 * t + (2 + 0.01 * t) * alt
    r = period_two_regularity(clean, 40)
    assert r.shape == (561,)
    np.testing.assert_allclose(r, 1.0, atol=1e-10)
    noise = period_two_regularity(rng.normal(size=4000), 40)
    assert abs(noise.mean() - 2 / 38) < 0.02  # 2 of the 38 residual dof on average
    half = period_two_regularity((-1.0) ** np.arange(4000) + rng.normal(size=4000), 40)
    assert 0.4 < half.mean() < 0.6  # alternating amplitude 1 against unit noise
    z = np.empty(3000)
    z[0] = 0.3
    for i in range(1, z.size):
        z[i] = 4 * z[i - 1] * (1 - z[i - 1])  # chaotic logistic map
    assert period_two_regularity(z, 40).mean() < 0.3
    # Sec. 8.2: a regular stretch followed by an irregular one
    mixed = np.concatenate([1 + 0.3 * alt[:300], z[:300]])
    r = period_two_regularity(mixed, 30)
    assert r[:250].min() > 0.99 and r[-250:].mean() < 0.3
    assert np.isnan(period_two_regularity(np.full(50, 3.0), 10)).all()
    assert np.isnan(period_two_regularity(1 + 2 * t[:50], 10)).all()
    with pytest.raises(ValueError, match="window"):
        period_two_regularity(clean, 4)
    with pytest.raises(ValueError, match="shorter"):
        period_two_regularity(clean[:10], 20)


def test_quarter_turns_count_stages_in_order():
    # one quadrant per point, in the order of the four stages: (|x|/delta - 1, y) signs
    stage = {1: (0.5, 1.0), 2: (1.5, 1.0), 3: (1.5, -1.0), 4: (0.5, -1.0)}

    def path(*stages):
        x = np.array([stage[s][0] for s in stages]) * 2.0
        y = np.array([stage[s][1] for s in stages])
        return x, y

    assert quarter_turns(*path(1, 2, 3, 4), 2.0) == 3  # all four stages seen, no full turn
    assert count_cycles(*path(1, 2, 3, 4), 2.0) == 0
    assert quarter_turns(*path(1, 2, 3, 4, 1), 2.0) == 4
    assert count_cycles(*path(1, 2, 3, 4, 1), 2.0) == 1
    assert quarter_turns(*path(1, 2, 1, 2, 3), 2.0) == 2  # a step back cancels a step forward
    assert quarter_turns(*path(1, 3, 4), 2.0) == 1  # a jump across the fixed point is no turn
    assert quarter_turns(*path(4, 3, 2, 1), 2.0) == 0  # the wrong sense never counts
    x, y = _orbit(int(5.5 * 40), 40)
    assert count_cycles(x, y, 2.0) == quarter_turns(x, y, 2.0) // 4 == 5
