"""Timing rows read from recorded provenance (eos.experiments.timings): the numbers are those
recorded, never retyped, and a result without wall times is refused by name."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from eos.experiments.timings import size_text, timing_rows


def _result(wall, steps=40, stop="completed"):
    config = SimpleNamespace(model="mlp", model_kwargs=(("width", 8),), n=64, chunk_size=None,
                             lr=0.02, lr_text=lambda: "0.02")  # fmt: skip
    provenance = {"wall_time_s": wall, "device": "cpu:cpu", "finished": "2026-12-03T10:00:00",
                  "registered_under": ["smoke"]}  # fmt: skip
    return SimpleNamespace(config=config, provenance=provenance, instability_step=17,
                           steps_done=steps, stop_reason=stop, path="/x/result.npz")  # fmt: skip


def test_rows_carry_the_recorded_wall_times_and_the_time_per_step():
    (row,) = timing_rows({"a": _result({"to_instability": 3.25, "track": 8.0})})
    assert row["to instability (s)"] == 3.2 or row["to instability (s)"] == 3.3
    assert row["after instability (s)"] == 8.0 and row["per step (s)"] == pytest.approx(0.2)
    assert row["profile"] == "smoke" and row["date"] == "2026-12-03"
    assert row["size"] == "mlp (width=8), 64 examples" == size_text(_result({}).config)
    (empty,) = timing_rows({"b": _result({"to_instability": 1.0, "gd": 0.0}, steps=0)})
    assert math.isnan(empty["per step (s)"])


def test_a_result_without_wall_times_is_refused_by_name():
    with pytest.raises(ValueError, match="old-run"):
        timing_rows({"old-run": _result({})})


def test_gpu_page_pastes_the_published_timings(capsys):
    """book/reproducing_gpu.md pastes `eos published --timings`: regenerate it when a run is
    published (the bundle is in the repository, so the output is the same everywhere)."""
    from pathlib import Path

    from eos import cli

    assert cli.main(["published", "--timings"]) == 0
    table = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("|")]
    page = Path(__file__).resolve().parents[1] / "book" / "reproducing_gpu.md"
    lines = page.read_text().splitlines()
    start = lines.index(table[0])
    assert lines[start : start + len(table)] == table
