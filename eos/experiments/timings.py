"""What each run cost, read from its recorded provenance (never typed): the rows of the timing
tables of the book's "Reproducing on a GPU" page.

A finished :class:`~eos.experiments.Result` records the wall time of each phase
(``provenance["wall_time_s"]``: ``to_instability``, then ``track``, ``gd`` or ``spectrum``), the
device, the date and the commit; :func:`timing_rows` turns results into one row each, with the
size of the run read from its configuration and the time per step after instability.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["size_text", "timing_rows"]


def size_text(config: Any) -> str:
    """``model (k=v, ...), n examples`` from an :class:`~eos.experiments.ExperimentConfig`."""
    kw = ", ".join(f"{k}={v}" for k, v in dict(config.model_kwargs).items())
    model = f"{config.model} ({kw})" if kw else config.model
    chunk = f", ghost batches of {config.chunk_size}" if config.chunk_size else ""
    return f"{model}, {config.n} examples{chunk}"


def timing_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per result (name -> Result): experiment, profile(s) it is registered under, size, learning rate, device,
    date, instability step, seconds to instability, steps after it (and why they stopped),
    seconds after instability and seconds per step after instability (NaN without steps).

    Raises ``ValueError`` naming a result whose provenance lacks its wall times (a result
    written before they were recorded)."""
    rows = []
    for name, r in results.items():
        p, c = r.provenance, r.config
        wall = dict(p.get("wall_time_s") or {})
        if "to_instability" not in wall:
            raise ValueError(f"{name}: the provenance records no wall time per phase ({r.path})")
        after = sum(v for k, v in wall.items() if k != "to_instability")
        steps = int(r.steps_done)
        rows.append(
            {
                "experiment": name,
                # the profiles whose registered configuration this run is (not the computing
                # process's EOS_PROFILE: a paper run may be launched with --profile paper)
                "profile": "/".join(p.get("registered_under") or []) or "custom",
                "size": size_text(c),
                "lr": c.lr_text() if hasattr(c, "lr_text") else f"{c.lr:g}",
                "device": p.get("device", "?"),
                "date": str(p.get("finished", "?"))[:10],
                "instability step": r.instability_step,
                "to instability (s)": round(float(wall["to_instability"]), 1),
                "steps after": steps,
                "stop": r.stop_reason or "-",
                "after instability (s)": round(float(after), 1),
                "per step (s)": round(after / steps, 3) if steps else float("nan"),
            }
        )
    return rows
