"""Checkpoints of :func:`eos.dynamics.track`: the whole state of a
:class:`~eos.dynamics._tracker.Tracker` as a flat ``dict[str, np.ndarray]`` (npz-ready, no pickles)
and back, so that a resumed run is bit-for-bit the uninterrupted one.

A checkpoint records the run's flat settings (:meth:`eos.dynamics.TrackSettings.manifest` with
``lr``, ``steps``, ``dtype``, ``num_params``); resuming with different settings (``steps`` aside)
is a ``ValueError`` that names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eos.dynamics._tracker import POINTS, WARM_SLOTS, Tracker
from eos.dynamics.constrained import Projection

__all__ = ["KIND", "restore", "save"]

KIND = "eos.dynamics.track"
_PROJ_FIELDS = Projection._fields
# device vectors of the tracker saved under "v/<name>"
_VECTORS = ("gd_theta", "flow_theta", "pred_v", "pred_Hv", "gen_v", "gen_Hv", "l2_warm")


def _vectors(tr: Tracker) -> dict[str, Any]:
    out = {k: getattr(tr, k) for k in _VECTORS}
    out.update(u_prev=tr.u_prev, corr1=tr.corr1, corr2=tr.corr2)
    for name, slots in tr.warm.items():
        for i, w in enumerate(slots):
            out[f"warm_{name}_{i}"] = w
    return out


def save(tr: Tracker) -> dict[str, np.ndarray]:
    """The state of ``tr`` after its step ``tr.t`` was taken (before it is observed)."""
    out: dict[str, np.ndarray] = {
        "kind": np.asarray(KIND),
        "settings": np.asarray(json.dumps(tr.manifest, sort_keys=True)),
        "step": np.asarray(tr.t, np.int64),
        "gd_loss0": np.asarray(tr.gd_loss0, np.float64),
        "flow_grads": np.asarray(tr.flow_grads, np.int64),
    }
    for name in _PROJ_FIELDS:
        out[f"P/{name}"] = np.asarray(getattr(tr.P, name))
    for k, val in _vectors(tr).items():
        out[f"v/{k}"] = np.asarray(val)
    if tr.assump_warm is not None:
        for k, val in tr.assump_warm.items():
            out[f"assump_warm/{k}"] = np.asarray(val)
    for i, fl in enumerate(tr.followers):
        out[f"follower/{i}/start"] = np.asarray(fl["start"], np.int64)
        out[f"follower/{i}/r"] = np.asarray(fl["r"])
        if fl["Hr"] is not None:
            out[f"follower/{i}/Hr"] = np.asarray(fl["Hr"])
    out["beta/starts"] = np.asarray(tr.beta_starts, np.int64)
    for s0, d in tr.beta_values.items():
        out[f"beta/values/{s0}/t"] = np.asarray(list(d.keys()), np.int64)
        out[f"beta/values/{s0}/v"] = np.asarray(list(d.values()), np.float64)
    for k, vals in tr.rec.items():
        out[f"rec/{k}"] = np.asarray(vals, np.float64)
    for k, vals in tr.sparse.items():
        out[f"sparse/{k}"] = np.stack(vals)
    return out


def _check(tr: Tracker, st: Mapping[str, np.ndarray], theta0: jax.Array) -> None:
    """``ValueError`` unless ``st`` is a checkpoint of this run (settings and size)."""
    if "kind" not in st or str(np.asarray(st["kind"])) != KIND:
        raise ValueError(
            "resume_from is not a track() checkpoint; pass the dict that on_checkpoint received"
        )
    saved = json.loads(str(np.asarray(st["settings"])))
    now = json.loads(json.dumps(tr.manifest, sort_keys=True))
    diff = sorted(k for k in now if saved.get(k) != now[k] and k != "steps")
    if diff:
        raise ValueError(
            f"resume_from was saved with different settings {diff}: saved "
            f"{[saved.get(k) for k in diff]}, now {[now[k] for k in diff]}"
        )
    if np.asarray(st["v/gd_theta"]).shape != theta0.shape:
        raise ValueError("resume_from holds parameters of a different size than theta0")


def restore(tr: Tracker, st: Mapping[str, np.ndarray], theta0: jax.Array) -> None:
    """Load the state ``st`` (from :func:`save`) into ``tr``; ``theta0`` gives the dtype."""
    _check(tr, st, theta0)
    dt = theta0.dtype

    def arr(key):
        a = np.asarray(st[key])
        return jnp.asarray(a, dt) if a.dtype.kind == "f" else jnp.asarray(a)

    tr.P = Projection(*(arr(f"P/{name}") for name in _PROJ_FIELDS))
    tr.t = int(st["step"])
    tr.gd_loss0 = float(st["gd_loss0"])
    for k in _VECTORS:
        setattr(tr, k, arr(f"v/{k}"))
    tr.warm = {name: [arr(f"v/warm_{name}_{i}") for i in range(WARM_SLOTS)] for name in POINTS}
    tr.u_prev = arr("v/u_prev")
    tr.corr1, tr.corr2 = arr("v/corr1"), arr("v/corr2")
    aw = {k[len("assump_warm/") :]: arr(k) for k in st if k.startswith("assump_warm/")}
    tr.assump_warm = aw or None
    tr.followers = []
    i = 0
    while f"follower/{i}/start" in st:
        hr = f"follower/{i}/Hr"
        tr.followers.append(
            {"start": int(st[f"follower/{i}/start"]), "r": arr(f"follower/{i}/r"),
             "Hr": arr(hr) if hr in st else None}
        )  # fmt: skip
        i += 1
    tr.beta_starts = [int(x) for x in np.asarray(st["beta/starts"])]
    tr.beta_values = {}
    for s0 in tr.beta_starts:
        ts = np.asarray(st[f"beta/values/{s0}/t"])
        vs = np.asarray(st[f"beta/values/{s0}/v"])
        tr.beta_values[s0] = {int(a): float(b) for a, b in zip(ts, vs)}
    tr.rec = {k[4:]: list(np.asarray(st[k]).tolist()) for k in st if k.startswith("rec/")}
    tr.sparse = {k[7:]: list(np.asarray(st[k])) for k in st if k.startswith("sparse/")}
    tr.n_hvps = (2 if tr.gen else 1) + sum(1 for fl in tr.followers if fl["start"] < tr.t)
    tr.flow_grads = int(st["flow_grads"])
