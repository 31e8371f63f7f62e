"""Self-stabilization cycles (eos.analysis.cycles): Fig. 4's zoom window and the means over the
turns of an orbit of eq. (11)."""

from __future__ import annotations

import numpy as np

from eos.analysis.cycles import cycle_means, cycle_window


def test_cycle_window_finds_the_largest_late_excursion():
    n = 100
    delta = np.full(n, 1.0)
    x = np.full(n, 0.5) * (-1.0) ** np.arange(n)
    x[10:20] *= 10.0  # early transient: ignored (first half)
    x[60:66] *= 4.0
    x[80:84] *= 6.0  # the largest excursion of |x| above delta in the second half
    a = {"gd/x": x, "gd/distance": np.ones(n), "constrained/delta": delta}
    t0, t1 = cycle_window(a)
    assert (t0, t1) == (80 - 2 * 4, 83 + 4)
    # only an early excursion: that one
    y = np.full(n, 0.5)
    y[10:20] = 3.0
    assert cycle_window({"gd/x": y, "constrained/delta": delta}) == (0, 29)
    # no gd/x: the distance is used
    a = {"gd/distance": np.abs(x), "constrained/delta": delta}
    assert cycle_window(a) == (72, 87)
    # no excursion at all: the last quarter
    a = {"gd/x": np.full(n, 0.5), "constrained/delta": delta}
    assert cycle_window(a) == (n - 1 - n // 4, n - 1)
    # shorter than the minimum width: the whole run
    a = {"gd/x": np.ones(5), "constrained/delta": np.ones(5)}
    assert cycle_window(a) == (0, 4)


def test_cycle_means_on_a_periodic_orbit():
    n, period, delta, ystar = 400, 40, 2.0, 0.3
    t = np.arange(n)
    w = 2 * np.pi * (t + 0.5) / period
    ax = delta * (1 - 0.5 * np.sin(w))  # |x| < delta where y - y* rises through 0
    y = ystar - 0.1 * np.sin(w + np.pi / 2)
    vals = 5.0 + np.cos(w) + 0.01 * t
    means = cycle_means(ax, y, vals, delta=delta, y_star=ystar)
    assert means.size == n // period - 1
    # over whole periods the cosine averages out: 5 + 0.01 * (centre of the window)
    starts = np.flatnonzero(np.diff(np.sign(y - ystar)) > 0) + 1
    centres = 0.5 * (starts[:-1] + starts[1:] - 1)
    assert np.allclose(means, 5.0 + 0.01 * centres, atol=1e-12)
    assert cycle_means(ax[:30], y[:30], vals[:30], delta=delta, y_star=ystar).size == 0
