"""Reading a recorded spectrum (eos.analysis.spectrum): crossings of 2/eta and unstable regimes,
on hand-built records."""

from __future__ import annotations

import numpy as np
import pytest

from eos.analysis.spectrum import crossing_steps, regime_windows
from eos.dynamics import GDRun


def _record(eigvals, lr=0.1):
    eigvals = np.asarray(eigvals, dtype=float)
    n = eigvals.shape[0]
    arrays = {"step": np.arange(n), "eig_step": np.arange(n) * 3, "eigvals": eigvals}
    return GDRun(arrays, {"lr": lr, "diverged": False})


def test_crossing_steps():
    ev = [[10, 5, 1], [19, 8, 2], [20, 12, 3], [21, 20.5, 4], [19, 19, 5]]
    run = _record(ev, lr=0.1)  # 2/lr = 20
    assert crossing_steps(run) == [6, 9, None]
    assert crossing_steps(run, threshold=4) == [0, 0, 9]
    with pytest.raises(ValueError, match="threshold"):
        crossing_steps(GDRun(run.arrays, {"lr": None}))


def test_regime_windows():
    thr = 10.0
    ev = np.array([[9, 1]] * 3 + [[11, 1]] * 4 + [[11, 12]] * 4 + [[11, 9]] * 2, dtype=float)
    # unstable counts per step: 0 0 0 1 1 1 1 2 2 2 2 1 1
    one, several = regime_windows(ev, thr, 3)
    np.testing.assert_array_equal(np.flatnonzero(one), [3, 4])
    np.testing.assert_array_equal(np.flatnonzero(several), [7, 8])
    x = np.array([0, 0, 0, 1e-6, 1e-5, 1e-4, 5e-3, 0.1, 0.2, 0.1, 0.1, 0.05, 0.02])
    one, several = regime_windows(ev, thr, 3, x=x, blown=0.01)
    # window [3, 6) peaks at 1e-4 < 1% of 0.2: still the exponential growth from rounding level
    np.testing.assert_array_equal(np.flatnonzero(one), [4])
    np.testing.assert_array_equal(np.flatnonzero(several), [7, 8])
    with pytest.raises(ValueError, match="window"):
        regime_windows(ev, thr, 20)
