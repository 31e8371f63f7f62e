"""Theorem 1's residuals and error scales (eos.analysis.theorem1) on a synthetic tracked run."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_runs import tracked_arrays

from eos.analysis.theorem1 import theorem1_residuals


def test_theorem1_residuals_match_hand_computation():
    lr = 0.01
    a = tracked_arrays(lr=lr)
    res = theorem1_residuals(a, lr)
    eps, delta = a["constrained/epsilon"], a["constrained/delta"]
    np.testing.assert_allclose(res["loss"], np.abs(a["gd/loss"] - a["theorem1/loss"]))
    np.testing.assert_allclose(res["loss_scale"], eps * delta**2 / lr)
    np.testing.assert_allclose(res["sharpness_scale"], eps**2 / lr)
    np.testing.assert_allclose(res["deviation_scale"], eps * delta)
    np.testing.assert_allclose(res["deviation_ratio"], a["theorem1/deviation"] / (eps * delta))
    with pytest.raises(ValueError, match="lr is required"):
        theorem1_residuals(a)
    bad = dict(a)
    del bad["theorem1/loss"]
    with pytest.raises(ValueError, match="theorem1/loss"):
        theorem1_residuals(bad, lr)
