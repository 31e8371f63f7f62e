"""Per-run agreement tables (eos.analysis.run_agreement): Fig. 4 / App. G's frame, standard vs
generalized predictions, and where a prediction breaks down."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_runs import LR, FakeResult, tracked_arrays

from eos.analysis import agreement
from eos.analysis.run_agreement import (
    AGREEMENT_COLUMNS,
    agreement_frame,
    agreement_rows,
    prediction_breakdown,
)


def test_agreement_frame_matches_agreement_table():
    runs = {"a": FakeResult("track", 0.01, tracked_arrays(seed=1)),
            "b": FakeResult("track", 0.02, tracked_arrays(lr=0.02, seed=2))}  # fmt: skip
    frame, rows = agreement_frame(runs)
    assert list(frame.index) == ["a", "b"]
    assert [c for c, _ in AGREEMENT_COLUMNS] == list(frame.columns)[4:-1]
    assert frame.loc["a", "tracked steps"] == 39 and rows["a"]["dagger_residual"] == 0.0
    for name, r in runs.items():
        ref = agreement.agreement_table(r.trajectory, r.lr)
        assert frame.loc[name, "loss err (median)"] == pytest.approx(ref["predicted_loss_median"])
        assert rows[name]["cycles"] == ref["cycles"]
        gd_end, flow_end = r["gd/loss"][-1], r["flow/loss"][-1]
        assert rows[name]["flow_gd_loss_gap_final"] == pytest.approx((flow_end - gd_end) / gd_end)


def test_prediction_breakdown():
    steps = np.arange(10)
    gd = np.full(10, 0.5)
    pred = gd.copy()
    pred[6] = 40.0  # above 10 x GD's largest loss (5.0): off scale from step 6
    pred[8] = np.inf
    a = {"step": steps, "gd/loss": gd, "predicted/loss": pred}
    assert prediction_breakdown(a) == 6
    assert prediction_breakdown(a, factor=100.0) == 8  # only the infinity is off scale
    assert prediction_breakdown({"step": steps, "gd/loss": gd, "predicted/loss": gd}) is None
    assert prediction_breakdown(a, "generalized") is None  # no such trace


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
    rows = agreement_rows(arrays, LR)
    std, gen = rows["standard"], rows["generalized"]
    assert std["steps"] == gen["steps"] == t.size
    assert std["loss median"] == pytest.approx(0.1) and std["loss worst"] == pytest.approx(0.1)
    assert std["sharpness median"] == pytest.approx(0.01)
    assert std["x/delta median"] == pytest.approx(0.5) and std["x/delta worst"] == pytest.approx(
        0.5
    )
    assert all(gen[k] == 0.0 for k in gen if k != "steps")
    with pytest.raises(ValueError, match="at least 2"):
        agreement_rows({k: v[:1] for k, v in arrays.items()}, LR)
