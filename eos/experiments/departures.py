"""Where a profile's run of an experiment departs from the paper's (issue 19, part 4).

An experiment's name states the paper's run (``resnet18-mse-cifar10cd-lr0.002``: App. E/G's
ResNet18 at ``eta = 0.002``). The CPU profiles run the same code at other sizes, and for a few
settings at another learning rate (:data:`eos.experiments.settings.QUICK_LR_RESNET`,
:data:`~eos.experiments.settings.QUICK_LR_TRANSFORMER_MSE`). Names stay (they are cache and
publication keys and the chapters cite them); instead, :func:`departures` lists every field of
what a run *is* -- the model, its sizes, the data, their number and preprocessing, the learning
rate -- whose value under a profile differs from the ``paper`` profile's, so that
``python -m eos list`` marks such runs and ``python -m eos show`` prints both values. Run
lengths (``max_steps``, ``track_steps``) and cost settings (``chunk_size``, checkpoint and
diagnostic spacings) are not departures: they do not change what a step computes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from eos.experiments.config import ExperimentConfig

__all__ = ["Departure", "departures", "departure_rows", "marker"]

#: The fields compared (``model_kwargs`` and ``data_kwargs`` key by key).
FIELDS = ("model", "dataset", "criterion", "n", "pool", "lr")


class Departure(NamedTuple):
    """One field whose ``profile`` value differs from the paper's, both as text."""

    field: str
    paper: str
    profile: str


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_text(v) for v in value) + ")"
    return "-" if value is None else str(value)


def _kw_text(kw: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in sorted(kw.items())) or "-"


def _lr(config: ExperimentConfig) -> str:
    return config.lr_text()


def compare(paper: ExperimentConfig, other: ExperimentConfig) -> list[Departure]:
    """The fields (:data:`FIELDS`, then ``model_kwargs.KEY``, ``data_kwargs.KEY``) in which
    ``other`` differs from ``paper``; a key missing on one side reads ``-``."""
    out = []
    for f in FIELDS:
        a, b = getattr(paper, f), getattr(other, f)
        if f == "lr":
            a, b = _lr(paper), _lr(other)
        if a != b:
            out.append(Departure(f, _text(a), _text(b)))
    for group in ("model_kwargs", "data_kwargs"):
        a_kw = dict(getattr(paper, group.replace("_kwargs", "_kw")))
        b_kw = dict(getattr(other, group.replace("_kwargs", "_kw")))
        if group == "model_kwargs" and paper.model != other.model:  # another model: as a whole
            out.append(Departure(group, _kw_text(a_kw), _kw_text(b_kw)))
            continue
        for key in sorted(set(a_kw) | set(b_kw)):
            a, b = a_kw.get(key), b_kw.get(key)
            if _text(a) != _text(b):
                out.append(Departure(f"{group}.{key}", _text(a), _text(b)))
    return out


def departures(name: str, profile: str | None = None) -> list[Departure]:
    """How experiment ``name`` under ``profile`` (default ``EOS_PROFILE``) departs from its
    ``paper`` configuration (empty under ``paper``)."""
    from eos.experiments.registry import get_config

    return compare(get_config(name, profile="paper"), get_config(name, profile=profile))


def marker(deps: list[Departure]) -> str:
    """A short marker for ``list``: ``""`` when none, else ``"≠paper: lr n widths"``."""
    if not deps:
        return ""
    return "≠paper: " + " ".join(d.field.split(".")[-1] for d in deps)


def departure_rows(names: list[str], profile: str) -> list[dict[str, str]]:
    """One row per departing experiment of ``names`` under ``profile``: ``experiment``,
    ``size`` (n, model and data sizes: ``profile value (paper value)``) and ``lr``."""
    rows = []
    for name in names:
        deps = departures(name, profile)
        if not deps:
            continue
        lr = [d for d in deps if d.field == "lr"]
        size = [d for d in deps if d.field != "lr"]
        rows.append(
            {
                "experiment": name,
                "size": "; ".join(f"{d.field} {d.profile} ({d.paper})" for d in size) or "as paper",
                "lr": f"{lr[0].profile} ({lr[0].paper})" if lr else "as paper",
            }
        )
    return rows
