"""App. E's per-run verdicts on Assumptions 1-5 (eos.analysis.assumption_verdicts)."""

from __future__ import annotations

import pytest
from synthetic_runs import FakeResult, tracked_arrays

from eos.analysis.assumption_verdicts import assumption_table


def test_assumption_table_flags_a_violation():
    good = tracked_arrays()
    bad = tracked_arrays()
    bad["assumptions/alpha"] = bad["assumptions/alpha"].copy()
    bad["assumptions/alpha"][2] = -1.0  # Assumption 1 fails at one diagnostic step
    frame, verdicts = assumption_table(
        {"good": FakeResult("track", 0.01, good), "bad": FakeResult("track", 0.01, bad)}
    )
    assert verdicts["good"]["alpha"][0] is True
    assert verdicts["bad"]["alpha"] == (False, -1.0)
    assert frame.loc["bad", "A1 alpha>0"].startswith("NO")
    assert frame.loc["good", "A1 alpha>0"].startswith("yes")
    no_diag = {k: v for k, v in good.items() if not k.startswith("assumptions/")}
    with pytest.raises(ValueError, match="no App. E diagnostics"):
        assumption_table({"x": FakeResult("track", 0.01, no_diag)})
