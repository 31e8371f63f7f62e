"""Fig. 1's curves and summary numbers (eos.analysis.sharpening) on a synthetic gradient-descent run."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_runs import FakeResult, gd_result, tracked_arrays

from eos.analysis.sharpening import edge_of_stability_summary, gd_curves


def test_gd_curves_and_summary():
    r = gd_result()
    c = gd_curves(r)
    assert c["loss_step"][0] == 0 and c["loss_step"][-1] == 30 + 20
    assert np.all(np.diff(c["loss_step"]) > 0) and np.all(np.diff(c["sharpness_step"]) > 0)
    # the history's entry at the instability step is replaced by the run's step 0
    assert np.sum(c["loss_step"] == 30) == 1
    s = edge_of_stability_summary(r)
    loss = r["gd/loss"]
    assert s["loss_increase_fraction"] == pytest.approx(np.mean(np.diff(loss) > 0))
    ratio = r["gd/sharpness"] / (2 / r.lr)
    assert s["sharpness_ratio_mean"] == pytest.approx(ratio.mean())
    assert s["sharpness_start_ratio"] == pytest.approx(20.0 / 100.0)
    assert s["loss_ratio"] == pytest.approx(loss[-1] / loss[0])
    tracked = FakeResult("track", 0.01, tracked_arrays())
    with pytest.raises(ValueError, match="gd_curves needs 'gd'"):
        gd_curves(tracked)
