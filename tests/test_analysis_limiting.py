"""App. F's recorded line profiles (eos.analysis.limiting) against analytic profiles."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_runs import LR, profile_arrays

from eos.analysis.limiting import NO_FIXED_POINT, hermite_mismatch, profile_series, window_mean


def test_profile_series_against_closed_form():
    # F = c4 x^4 + c3 x^3. The odd cubic must not matter for the class nor for the even-part
    # kappa = F_e''(d) - F_e'(d)/d = 12 c4 d^2 - 4 c4 d^2 = 8 c4 d^2; at +d, F itself gives
    # 12 c4 d^2 + 6 c3 d - 4 c4 d^2 - 3 c3 d = 8 c4 d^2 + 3 c3 d.
    cases = [(-0.5, 0.0, 0.3), (0.7, 0.0, 0.2), (-0.5, 0.4, 0.5), (0.0, 0.0, 0.4)]
    s = profile_series(profile_arrays(cases), LR)
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
    arrays = profile_arrays([(-0.5, 0.0, 0.3)])
    with pytest.raises(ValueError, match="quadratic/delta"):
        profile_series({k: v for k, v in arrays.items() if k != "quadratic/delta"}, LR)
    bad = dict(arrays, **{"quadratic/delta": np.array([0.31])})
    with pytest.raises(ValueError, match="does not contain x = delta"):
        profile_series(bad, LR)
    with pytest.raises(ValueError, match="lr"):
        profile_series(arrays, 0.0)


def test_hermite_mismatch_exact_for_quartic_and_detects_inconsistency():
    x = np.linspace(-1.0, 1.0, 9)
    f = 0.3 * x**4 - x**3 + 0.2 * x**2
    g = 1.2 * x**3 - 3 * x**2 + 0.4 * x
    k = 3.6 * x**2 - 6 * x + 0.4
    assert hermite_mismatch(x, f, g, k) < 1e-13
    # a quintic term gives the O(h^5) quadrature error, shrinking like h^4 relative to F
    e = [hermite_mismatch(xx, xx**5, 5 * xx**4, 20 * xx**3)
         for xx in (np.linspace(0, 1, 5), np.linspace(0, 1, 9))]  # fmt: skip
    assert 0 < e[1] < e[0] / 8
    # a derivative that does not belong to F is caught
    assert hermite_mismatch(x, f, 1.1 * g, k) > 0.05


def test_window_mean():
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    assert window_mean(a) == pytest.approx(3.0)
    assert window_mean(a, 0.6) == pytest.approx(4.5)
    with pytest.raises(ValueError):
        window_mean(a, 1.0)


def test_profile_series_step_without_fixed_point():
    # alpha_t <= 0 at the second step: delta and the grid in its units are NaN there
    arrays = profile_arrays([(-0.5, 0.0, 0.3), (0.7, 0.0, 0.2)])
    arrays["quadratic/delta"][1] = np.nan
    arrays["quadratic/x"][1] = np.nan
    s = profile_series(arrays, LR)
    assert s["classes"] == ["sub-quadratic", NO_FIXED_POINT]
    assert s["kappa"][0] == pytest.approx(8 * -0.5 * 0.3**2, rel=1e-12)
    assert all(np.isnan(s[k][1]) for k in ("kappa", "kappa_raw", "even_at_delta", "d2F_even"))
