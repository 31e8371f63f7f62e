"""The one-line description of a run's sizes that every figure caption quotes.

A caption must say which network, data, loss and learning rate :math:`\\eta` a figure shows and
under which profile (the ``quick`` and ``smoke`` profiles shrink the paper's App. D setups to
CPU sizes), so that a reader never mistakes a reduced run for the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DATASET_NAMES", "describe_config", "describe_published", "describe_run"]

#: Readable names of the data sets of :mod:`eos.data`.
DATASET_NAMES: dict[str, str] = {
    "cifar10": "CIFAR-10",
    "cifar10_binary": "CIFAR-10 cats vs dogs",
    "sst2": "SST-2",
}


def describe_config(config: Any, *, profile: str | None = None, steps: int | None = None) -> str:
    """One line naming a configuration's sizes (and profile) for a caption.

    E.g. ``"resnet18 (widths 8-16-32-64, blocks per stage 2) on 500 examples of CIFAR-10 cats vs
    dogs, binary_mse, eta = 0.002, 150 tracked steps, profile quick"``. ``steps``: the steps
    actually run after instability (default: the configured ``track_steps``).
    """
    c = config
    parts = []
    for k, v in c.model_kw.items():
        if isinstance(v, (tuple, list)):
            parts.append(f"{k.replace('_', ' ')} {'-'.join(str(w) for w in v)}")
        else:
            parts.append(f"{k.replace('_', ' ')} {v}")
    arch = c.model + (f" ({', '.join(parts)})" if parts else "")
    data = DATASET_NAMES.get(c.dataset, c.dataset)
    extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.data_kw.items())
    text = f"{arch} on {c.n:,} examples of {data}" + (f" ({extra})" if extra else "")
    text += f", {c.criterion}, eta = {c.lr:g}"
    n = c.track_steps if steps is None else int(steps)
    text += f", {n} tracked steps" if c.kind == "track" else f", {n} steps after instability"
    if profile:
        text += f", profile {profile}"
    return text


def describe_run(result: Any, profile: str | None = None) -> str:
    """:func:`describe_config` of a finished run, with the steps it actually ran.

    ``profile``: the profile the run was resolved under (default:
    ``result.provenance["profile"]`` when the runner records it).
    """
    prof = profile
    prov = getattr(result, "provenance", None)
    if prof is None and isinstance(prov, Mapping):
        # the profile whose registered configuration the run is (provenance["profile"] is the
        # computing process's EOS_PROFILE, which --profile does not change)
        prof = (prov.get("registered_under") or [prov.get("profile")])[0]
    steps = result.steps_done if result.config.kind == "track" else None
    return describe_config(result.config, profile=prof, steps=steps)


def describe_published(result: Any) -> str:
    """A caption's description of a published ``paper``-profile run
    (:mod:`eos.experiments.published`): its sizes, then where, when and from which commit it
    was computed, its wall time, and whether the local data are the data it was computed from.
    """
    from eos.experiments.published import local_data_matches

    p = result.provenance
    wall = sum(float(v) for v in p.get("wall_time_s", {}).values()) / 60
    commit = str(p.get("git", {}).get("commit", "?"))[:7]
    text = (
        f"{describe_run(result, 'paper')}; published run, computed on {p.get('device', '?')} "
        f"on {str(p.get('finished', '?'))[:10]} (commit {commit}, {wall:.0f} min)"
    )
    same = local_data_matches(result)
    if same is False:
        text += "; the local data differ from the data it was computed from"
    elif same is None:
        text += "; no local data to compare with the data it was computed from"
    return text
