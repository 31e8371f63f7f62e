"""The registry: every named experiment, its groups, and which of them each profile runs.

:data:`EXPERIMENTS` holds App. D's settings (:mod:`eos.experiments.settings`: Fig. 1, Fig. 4,
Apps. E and G) and the implications chapter's runs (:mod:`eos.experiments.implications`:
Fig. 5, Fig. 6, warmup, SAM). A name resolves under every profile (:func:`get_config`); a
*group* (:data:`GROUPS`) collects names, and :func:`selected` keeps the ones a profile runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from eos import profiles as _profiles
from eos.experiments.central import central_experiments
from eos.experiments.config import Experiment, ExperimentConfig, apply_overrides
from eos.experiments.implications import implications_experiments
from eos.experiments.settings import QUICK_LRS, SETTINGS, app_experiments, setting_of
from eos.experiments.theorem1_scaling import theorem1_scaling_experiments

__all__ = [
    "EXPERIMENTS",
    "GROUPS",
    "analysis_params",
    "describe",
    "experiments_for",
    "get_config",
    "list_experiments",
    "selected",
    "table",
]

EXPERIMENTS: dict[str, Experiment] = {
    **app_experiments(),
    **implications_experiments(),
    **central_experiments(),
    **theorem1_scaling_experiments(),
}
GROUPS: tuple[str, ...] = (
    "all",
    "fig1",
    "fig4",
    "app-e",
    "app-g",
    *SETTINGS,
    "implications",
    "fig5",
    "fig6",
    "warmup",
    "sam",
    "central",
    "theorem1-scaling",
)


def list_experiments() -> list[str]:
    """All registered experiment names."""
    return list(EXPERIMENTS)


def experiments_for(group: str) -> list[str]:
    """Names in ``group``: ``"all"``, ``"fig1"``, ``"fig4"``, ``"app-e"``, ``"app-g"``, a setting
    slug such as ``"mlp-mse-cifar10"``, or the implications chapter's ``"implications"``,
    ``"fig5"``, ``"fig6"``, ``"warmup"``, ``"sam"``."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; valid groups are {', '.join(GROUPS)}")
    if group == "all":
        return list_experiments()
    return [n for n, e in EXPERIMENTS.items() if group in e.groups]


def selected(group: str, profile: str | None = None) -> list[str]:
    """The names of ``group`` (see :func:`experiments_for`) that ``profile`` runs.

    ``profile`` defaults to ``EOS_PROFILE`` (:func:`eos.profiles.current_profile`).

    * ``paper``: every experiment of the group (all learning rates of Apps. E and G).
    * ``smoke``: every experiment of the group too, except the Fig. 6 factors that only the
      ``paper`` profile runs (:data:`eos.experiments.implications.FIG6_FACTORS`); the smoke
      profile replaces the learning rates of a setting by one smoke learning rate, so they
      share one cached run.
    * ``quick``: per (architecture, data, loss) setting only the learning rates in
      :data:`QUICK_LRS` -- the setting's largest App. E/G learning rate, the one that reaches
      instability soonest; the smaller learning rates are dropped because they need tens of
      thousands of float32 steps of progressive sharpening (plus the tracked float64 steps) that a
      2-core CPU cannot afford in a few minutes. ``fig1-mlp`` (plain gradient descent) is kept.
      The group ``fig4`` is empty under ``quick`` (Fig. 4's learning rates are all below their
      setting's largest); ``book/architectures.ipynb`` features the quick run of each setting.
      Run a dropped experiment explicitly with :func:`eos.experiments.run` (``python -m eos run NAME --profile
      quick``) or use the ``paper`` profile for the complete set.
    """
    names = experiments_for(group)
    prof = _profiles.current_profile() if profile is None else _profiles.validate_profile(profile)
    names = [n for n in names if prof in EXPERIMENTS[n].profiles]
    if prof != "quick":
        return names
    keep = []
    for name in names:
        slug = setting_of(name)
        if slug is None or get_config(name, profile="paper").lr in QUICK_LRS[slug]:
            keep.append(name)
    return keep


def _experiment(name: str) -> Experiment:
    if not isinstance(name, str) or name not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment {name!r}; valid experiments are {', '.join(EXPERIMENTS)}"
        )
    return EXPERIMENTS[name]


def get_config(name: str, *, profile: str | None = None, **overrides: Any) -> ExperimentConfig:
    """The resolved configuration of experiment ``name`` under ``profile`` (default:
    ``EOS_PROFILE``), with ``overrides`` applied (see :func:`apply_overrides`)."""
    return apply_overrides(_experiment(name).config(profile), overrides)


def analysis_params(name: str, *, profile: str | None = None) -> dict[str, Any]:
    """The parameters with which the book analyses ``name``'s result under ``profile`` (e.g.
    ``{"window": 12}`` for Fig. 5's period-2 regularity); empty when there are none."""
    prof = _profiles.current_profile() if profile is None else _profiles.validate_profile(profile)
    return dict(_experiment(name).analysis.get(prof, {}))


def registered_under(config: ExperimentConfig) -> list[str]:
    """The profiles whose registered configuration of ``config.name`` is exactly ``config``
    (empty: overrides made it a custom configuration)."""
    if config.name not in EXPERIMENTS:
        return []
    return [p for p in _profiles.PROFILES if get_config(config.name, profile=p) == config]


def describe(name: str, *, profile: str | None = None, **overrides: Any) -> str:
    """Human-readable configuration of ``name`` (JSON)."""
    exp = _experiment(name)
    cfg = get_config(name, profile=profile, **overrides)
    d = {
        "experiment": name,
        "paper": exp.paper_ref,
        "description": exp.description,
        "groups": list(exp.groups),
        "config": cfg.to_dict(),
        "cache_key": cfg.key(),
    }
    return json.dumps(d, indent=2, default=str)


def table(
    names: Iterable[str] | None = None, *, profiles: Iterable[str] = _profiles.PROFILES
) -> str:
    """A Markdown table (:func:`eos.analysis.tables.markdown_table`): one line per experiment
    and profile, with the configuration fields that tell runs apart."""
    from eos.analysis.tables import markdown_table

    names = list_experiments() if names is None else list(names)
    cols = ("kind", "model_kwargs", "n", "criterion", "lr", "max_steps", "track_steps")
    rows = {}
    for n in names:
        for prof in profiles:
            d = get_config(n, profile=prof).to_dict()
            rows[f"{n} ({prof})"] = {c: str(d[c]) for c in cols}
    return markdown_table(rows, index_name="experiment (profile)")
