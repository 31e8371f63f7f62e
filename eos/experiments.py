"""The paper's experiments as a registry of named, cached, resumable runs (Fig. 1, Fig. 4, Apps. E, G).

Every experiment the paper reports is registered under a name, e.g. ``mlp-mse-cifar10-lr0.02``
(App. E/G) or ``fig1-mlp`` (Fig. 1), and resolves, per profile (``smoke`` | ``quick`` |
``paper``, see :mod:`eos.profiles`), to a frozen :class:`ExperimentConfig`:

* ``paper``: App. D's settings -- 5,000 examples, the full architectures of App. D.1, the
  learning rates of Apps. E and G, tracking until the second Hessian eigenvalue at the
  constrained trajectory reaches ``1.9/eta`` (App. D.3) or ``track_steps`` run out;
* ``quick``: subsets and step counts for a few minutes per run on a 2-core CPU;
* ``smoke``: seconds per run (tiny data, tiny widths, few steps), exercising the whole pipeline.

A ``"track"`` experiment is App. D.3's protocol: float32 gradient descent until the first
iterate with ``S(theta) >= 2/eta`` (:func:`eos.dynamics.to_instability`), then ``track_steps``
steps of gradient descent, the constrained trajectory ``theta-dagger_t`` (eq. (2)), gradient
flow and the predicted dynamics (eq. (5); with ``generalized=True`` also App. F's eq. (11)), in
float64 (:func:`eos.dynamics.track`). A ``"gd"`` experiment (Fig. 1) runs the same float32 phase
to instability and then ``track_steps`` more plain gradient-descent steps, recording the loss at
every step and the sharpness every ``sharpness_every`` steps.

:func:`run` computes (or fetches from the on-disk cache, see :mod:`eos.results`) and returns a
:class:`Result`; :func:`load` only reads. Results are keyed by a hash of the configuration
(:meth:`ExperimentConfig.key_dict`: everything except the name and the checkpoint interval)
together with a fingerprint of the ``eos`` source (:func:`eos.results.source_fingerprint`), so
changing either recomputes; the first phase is cached on its own (:data:`PHASE1_FIELDS`) and shared
by experiments that agree on it. Runs save an atomic checkpoint every ``checkpoint_every`` steps and
resume from the last one after an interruption. Results live under ``$EOS_RESULTS_DIR`` (default
``pooch.os_cache("eos")/"results"``); see :mod:`eos.results` for the layout and file format.

Command line: ``python -m eos list|run|show`` (:mod:`eos.cli`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from eos import profiles as _profiles
from eos import results as _results

__all__ = [
    "EXPERIMENTS",
    "GROUPS",
    "SETTINGS",
    "ExperimentConfig",
    "Result",
    "experiments_for",
    "get_config",
    "list_experiments",
    "load",
    "result_path",
    "run",
    "selected",
]

KINDS = ("track", "gd")
DATASETS = ("cifar10", "cifar10_binary", "sst2")
CRITERIA = ("categorical_mse", "binary_mse", "logistic", "cross_entropy")
_NOT_IN_KEY = frozenset({"name", "checkpoint_every"})


# ============================================================================================
# configuration
# ============================================================================================
def _freeze(value: Any) -> Any:
    """Lists -> tuples, recursively, so that configurations are hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


def _thaw_kwargs(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: v for k, v in pairs}


@dataclass(frozen=True)
class ExperimentConfig:
    """One fully resolved run. Frozen, hashable, JSON-serialisable (:meth:`to_dict`).

    ``kind``: ``"track"`` (App. D.3 protocol) or ``"gd"`` (Fig. 1: plain gradient descent).
    ``model``/``model_kwargs``: a name of :data:`eos.models.MODELS` and its keywords.
    ``dataset``/``n``/``data_kwargs``: a loader of :mod:`eos.data` and its size.
    ``criterion``: ``categorical_mse`` | ``binary_mse`` | ``logistic`` | ``cross_entropy``.
    ``lr``: the learning rate ``eta`` (instability threshold ``2/eta``).
    ``max_steps``: cap on float32 GD steps while looking for instability.
    ``track_steps``: steps after instability (tracked steps, or plain GD steps for ``"gd"``).
    ``generalized``: also track App. F's generalized predicted dynamics.
    ``chunk_size``: ghost-batch size (same numbers up to rounding, less memory).
    ``row_space``: compute an MLP on fewer examples than input features in the row space of
    its inputs (:mod:`eos.reduction`: exact, same numbers up to rounding, about 2.5x faster);
    no effect on other models or when ``n >= d_in`` (the ``paper`` profile's 5,000 images).
    ``diag_every``: spacing of App. E's assumption diagnostics along ``theta-dagger_t``.
    ``lambda2_every``/``lambda2_threshold``: check the second eigenvalue at ``theta-dagger_t``
    this often and stop once it reaches ``lambda2_threshold/eta`` (App. D.3: 1.9).
    ``sharpness_every``: sharpness spacing of ``"gd"`` runs. ``checkpoint_every``: steps
    between checkpoints (not part of the cache key: it does not change the result).
    """

    name: str
    kind: str
    model: str
    model_kwargs: tuple[tuple[str, Any], ...]
    dataset: str
    n: int
    criterion: str
    lr: float
    data_kwargs: tuple[tuple[str, Any], ...] = ()
    seed: int = 0
    max_steps: int = 100_000
    track_steps: int = 2_000
    generalized: bool = True
    chunk_size: int | None = None
    row_space: bool = True
    diag_every: int = 50
    lambda2_every: int = 50
    lambda2_threshold: float = 1.9
    sharpness_every: int = 10
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_kwargs", _freeze(dict(self.model_kwargs)))
        object.__setattr__(self, "data_kwargs", _freeze(dict(self.data_kwargs)))
        _validate_config(self)

    # ---- views
    @property
    def threshold(self) -> float:
        """The stability threshold ``2/eta``."""
        return 2.0 / self.lr

    @property
    def model_kw(self) -> dict[str, Any]:
        return _thaw_kwargs(self.model_kwargs)

    @property
    def data_kw(self) -> dict[str, Any]:
        return _thaw_kwargs(self.data_kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``model_kwargs``/``data_kwargs`` as dicts)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model_kwargs"] = _results.to_jsonable(self.model_kw)
        d["data_kwargs"] = _results.to_jsonable(self.data_kw)
        return d

    def key_dict(self) -> dict[str, Any]:
        """What the cache key hashes: :meth:`to_dict` without ``name`` and ``checkpoint_every``."""
        return {k: v for k, v in self.to_dict().items() if k not in _NOT_IN_KEY}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExperimentConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown configuration field(s) {sorted(unknown)}")
        return cls(**dict(d))

    def replace(self, **overrides: Any) -> ExperimentConfig:
        """A copy with ``overrides`` applied (validated; see :func:`apply_overrides`)."""
        return apply_overrides(self, overrides)

    def key(self) -> str:
        """The cache key of this configuration under the current source code."""
        return _results.cache_key(self.key_dict())


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "kind": (str,),
    "model": (str,),
    "dataset": (str,),
    "criterion": (str,),
    "n": (int,),
    "lr": (float,),
    "seed": (int,),
    "max_steps": (int,),
    "track_steps": (int,),
    "generalized": (bool,),
    "chunk_size": (int, type(None)),
    "row_space": (bool,),
    "diag_every": (int,),
    "lambda2_every": (int,),
    "lambda2_threshold": (float,),
    "sharpness_every": (int,),
    "checkpoint_every": (int,),
    "model_kwargs": (dict,),
    "data_kwargs": (dict,),
}


def _model_fields(model: str) -> set[str]:
    from eos import models

    cls = models.MODELS[model]
    return set(cls.__dataclass_fields__) - {"parent", "name", "num_classes"}


def _model_annotation(model: str, key: str) -> str:
    from eos import models

    ann = models.MODELS[model].__dataclass_fields__[key].type
    return ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))


def _validate_config(c: ExperimentConfig) -> None:
    def bad(msg: str) -> None:
        raise ValueError(f"experiment {c.name!r}: {msg}")

    for fname in ("name", "kind", "model", "dataset", "criterion"):
        if not isinstance(getattr(c, fname), str):
            bad(f"{fname} must be a string, got {getattr(c, fname)!r}")
    if c.kind not in KINDS:
        bad(f"unknown kind {c.kind!r}; valid kinds are {', '.join(KINDS)}")
    from eos import models

    if c.model not in models.MODELS:
        bad(f"unknown model {c.model!r}; valid models are {', '.join(models.MODELS)}")
    unknown = set(c.model_kw) - _model_fields(c.model)
    if unknown:
        bad(
            f"unknown model_kwargs {sorted(unknown)} for model {c.model!r}; "
            f"valid: {', '.join(sorted(_model_fields(c.model)))}"
        )
    for k, v in c.model_kw.items():
        expected = _model_annotation(c.model, k)
        if expected == "int" and (isinstance(v, bool) or not isinstance(v, int)):
            bad(f"model_kwargs[{k!r}] must be an integer, got {v!r}")
        if expected == "Sequence[int]" and not (
            isinstance(v, tuple)
            and v
            and all(isinstance(w, int) and not isinstance(w, bool) for w in v)
        ):
            bad(f"model_kwargs[{k!r}] must be a non-empty list of integers, got {v!r}")
    if c.dataset not in DATASETS:
        bad(f"unknown dataset {c.dataset!r}; valid datasets are {', '.join(DATASETS)}")
    if c.criterion not in CRITERIA:
        bad(f"unknown criterion {c.criterion!r}; valid criteria are {', '.join(CRITERIA)}")
    binary = c.dataset != "cifar10"
    if binary != (c.criterion in ("binary_mse", "logistic")):
        bad(f"criterion {c.criterion!r} does not fit dataset {c.dataset!r}")
    for fname in ("n", "seed", "max_steps", "track_steps", "diag_every", "lambda2_every",
                  "sharpness_every", "checkpoint_every"):  # fmt: skip
        v = getattr(c, fname)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            bad(f"{fname} must be an integer, got {v!r}")
    for fname in ("n", "diag_every", "lambda2_every", "sharpness_every", "checkpoint_every"):
        if getattr(c, fname) < 1:
            bad(f"{fname} must be >= 1, got {getattr(c, fname)!r}")
    for fname in ("seed", "max_steps", "track_steps"):
        if getattr(c, fname) < 0:
            bad(f"{fname} must be >= 0, got {getattr(c, fname)!r}")
    if c.kind == "track" and c.track_steps < 1:
        bad(f"track_steps must be >= 1 for a 'track' experiment, got {c.track_steps}")
    if binary and c.n % 2:
        bad(f"n must be even for the balanced binary data set {c.dataset!r}, got {c.n}")
    for fname in ("lr", "lambda2_threshold"):
        v = getattr(c, fname)
        if isinstance(v, bool) or not isinstance(v, (float, int)) or not math.isfinite(v) or v <= 0:
            bad(f"{fname} must be a finite number > 0, got {v!r}")
    for fname in ("generalized", "row_space"):
        if not isinstance(getattr(c, fname), bool):
            bad(f"{fname} must be True or False, got {getattr(c, fname)!r}")
    if c.chunk_size is not None and (
        isinstance(c.chunk_size, bool) or not isinstance(c.chunk_size, int) or c.chunk_size < 1
    ):
        bad(f"chunk_size must be a positive integer or None, got {c.chunk_size!r}")


def _coerce(fname: str, value: Any) -> Any:
    """Check/convert an override value for field ``fname`` (ints stay ints; ints -> floats)."""
    types = _FIELD_TYPES[fname]
    if float in types and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return float(value)
    if int in types and isinstance(value, np.integer):
        return int(value)
    if isinstance(value, bool) and bool not in types:
        raise ValueError(f"override {fname}={value!r} has the wrong type: expected {_tname(types)}")
    if not isinstance(value, types):
        raise ValueError(
            f"override {fname}={value!r} has the wrong type ({type(value).__name__}): "
            f"expected {_tname(types)}"
        )
    return value


def _tname(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def apply_overrides(config: ExperimentConfig, overrides: Mapping[str, Any]) -> ExperimentConfig:
    """``config`` with ``overrides`` (field -> value) applied and validated.

    ``model_kwargs``/``data_kwargs`` given as dicts are *merged* into the existing ones (use a
    value of ``None`` to drop a key). Unknown fields, wrong types and invalid values raise a
    ``ValueError`` naming the field and the valid choices.
    """
    if not overrides:
        return config
    valid = [f.name for f in dataclasses.fields(ExperimentConfig) if f.name != "name"]
    changes: dict[str, Any] = {}
    for fname, value in overrides.items():
        if fname not in valid:
            raise ValueError(f"unknown override {fname!r}; valid fields are {', '.join(valid)}")
        value = _coerce(fname, value)
        if fname in ("model_kwargs", "data_kwargs"):
            merged = dict(getattr(config, fname.replace("_kwargs", "_kw")))
            for k, v in value.items():
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            value = merged
        changes[fname] = value
    return dataclasses.replace(config, **changes)


# ============================================================================================
# the registry
# ============================================================================================
@dataclass(frozen=True)
class Setting:
    """One (architecture, data, loss) setting of App. D with its per-profile sizes."""

    slug: str
    title: str
    model: str
    dataset: str
    criterion: str
    lrs: tuple[float, ...]  # App. E / App. G learning rates
    fig4_lr: float | None
    model_kwargs: Mapping[str, Mapping[str, Any]]  # profile -> kwargs
    n: Mapping[str, int]  # profile -> number of examples
    smoke_lr: float  # smoke runs use one larger lr so instability comes fast
    quick_lr: float | None = None  # the quick profile's lr for all names, when set
    data_kwargs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    chunk_size: Mapping[str, int | None] = field(default_factory=dict)


# Per-profile run lengths shared by every "track" experiment.
_TRACK_STEPS = {
    # paper: App. D.3 and the authors' code (2000 tracked steps, eigengap check every 50 steps;
    # max_steps only caps the search for instability)
    "paper": dict(max_steps=100_000, track_steps=2_000, diag_every=50, lambda2_every=50,
                  checkpoint_every=100),
    # quick: measured on the 2-core CPU (MLP, n=1000, eta=0.02: instability at step 303; the
    # App. D.3 eigengap stop lambda2 >= 1.9/eta comes after ~105 tracked steps, just after the
    # first blow-up and self-stabilization; a cold make book on 27 Nov 2026 took 3.8 s to
    # instability and 65 s to track, in row-space coordinates). track_steps caps the other
    # settings' runs at 2-4 min each; App. E's diagnostics every 25 steps, the second eigenvalue
    # every 15.
    "quick": dict(max_steps=20_000, track_steps=150, diag_every=25, lambda2_every=15,
                  checkpoint_every=25),
    # smoke: exercises every code path in seconds to a couple of minutes (compile-dominated)
    "smoke": dict(max_steps=100, track_steps=4, diag_every=4, lambda2_every=2,
                  checkpoint_every=2),
}  # fmt: skip

# Smoke learning rates: one per setting (not the name's), ~2/(1.5 S0) with S0 the initial
# sharpness of the tiny smoke model, so that instability comes within ~15 steps. All learning
# rates of a setting therefore share one smoke run (same cache key).
_MLP = {
    "paper": dict(width=200, depth=2),
    "quick": dict(width=200, depth=2),
    "smoke": dict(width=16, depth=2),
}
# Quick-profile sizes, measured on the 2-core CPU (one core per run, 26 Nov 2026; a run on two
# cores takes roughly 0.6 times as long). The aim: a few minutes per run and one pass through
# the four stages of Sec. 4.1 before the App. D.3 eigengap stop (lambda2 >= 1.9/eta).
# - CNN+MSE, width 8, n=64: instability at step 115 (18 s); blowup, self-stabilization and
#   return to stability within 45 tracked steps (290 s), then the eigengap stop (10 classes on 64
#   images: the top eigenvalues are close; with n=256, width 4, lambda2 was 0.99 * 2/eta already
#   at instability).
# - CNN+logistic, width 4, n=128: instability at step 724 (58 s); 150 tracked steps (430 s), two
#   complete cycles.
# - Transformer+logistic, hidden 16, phrases cut to 24 tokens, n=256: instability at step 1,203
#   (25 s); 150 tracked steps (353 s) with blowup, self-stabilization and return to stability.
#   (64 phrases are fitted before the sharpness reaches 2/eta.)
# - Transformer+MSE, hidden 32, 24 tokens, n=256: at the paper's eta = 0.002 instability comes at
#   step 6,265 (106 s) but 150 tracked steps (499 s) stay in progressive sharpening (|x| ~ 1e-4
#   delta), so the quick profile uses the larger QUICK_LR_TRANSFORMER_MSE: at eta = 0.005
#   instability comes at step 939 (28 s) and 150 tracked steps (553 s) hold one complete cycle.
# - ResNet18+MSE: at the sizes a CPU affords the paper's eta = 0.002 never reaches instability
#   (widths 4-32, n=16: the network fits the data first; the sharpness peaks at 619 near step
#   1,500, below 2/eta = 1,000, then falls; at eta = 0.004 and 0.005 it settles at 52.9) and a
#   tracked step of that network costs over 10 s, so the quick profile runs the smoke-size ResNet
#   (two stages of one block, widths 4 and 8) on 16 images at QUICK_LR_RESNET: instability at step
#   15 (9 s), blowup, self-stabilization and return to stability within 30 tracked steps (one
#   core: then the eigengap stop, 224 s; a cold make book on two cores: 150 steps, one complete
#   cycle, 459 s). At this size the top two eigenvalues are close and the constrained trajectory
#   strays from S = 2/eta (by 36% and 66% in those two runs), so the quick ResNet run shows the
#   pipeline, not the theory's regime; the paper profile runs the full ResNet18.
_CNN_MSE = {"paper": dict(width=32), "quick": dict(width=8), "smoke": dict(width=8)}
_CNN_LOGISTIC = {"paper": dict(width=32), "quick": dict(width=4), "smoke": dict(width=8)}
_RESNET = {
    "paper": dict(widths=(16, 32, 64, 128), blocks_per_stage=2),
    "quick": dict(widths=(4, 8), blocks_per_stage=1),
    "smoke": dict(widths=(4, 8), blocks_per_stage=1),
}
_TRANSFORMER_MSE = {
    "paper": dict(hidden_size=64, num_layers=2, num_heads=2, mlp_size=64),
    "quick": dict(hidden_size=32, num_layers=2, num_heads=2, mlp_size=32),
    "smoke": dict(hidden_size=8, num_layers=1, num_heads=2, mlp_size=8),
}
_TRANSFORMER_LOGISTIC = {
    "paper": dict(hidden_size=64, num_layers=2, num_heads=2, mlp_size=64),
    "quick": dict(hidden_size=16, num_layers=2, num_heads=2, mlp_size=16),
    "smoke": dict(hidden_size=8, num_layers=1, num_heads=2, mlp_size=8),
}
# quick MLP: n=1000 (n=500 and 250 hit the eigengap stop after 60 and 40 tracked steps)
_N_IMAGES = {"paper": 5_000, "quick": 1_000, "smoke": 32}
_N_CNN_MSE = {"paper": 5_000, "quick": 64, "smoke": 16}
_N_CNN_LOGISTIC = {"paper": 5_000, "quick": 128, "smoke": 16}
_N_RESNET = {"paper": 5_000, "quick": 16, "smoke": 8}
_N_SST2 = {"paper": 5_000, "quick": 256, "smoke": 16}
_SST2_DATA = {"paper": {}, "quick": {"max_len": 24}, "smoke": {"max_len": 16}}
# Ghost batches (chunked sums over the examples, same numbers up to rounding) bound the memory
# of the convolutional and attention models at the paper's 5,000 examples: unchunked, a CNN+MSE
# tracked step asked an H100 for a 30.5 GiB buffer (the batched evaluation at four points in
# float64) and failed.
_CHUNK_CNN = {"paper": 1_000}
_CHUNK_RESNET = {"paper": 250}
_CHUNK_SST2 = {"paper": 1_000}
# Quick-profile learning rates of the two settings whose App. E/G rates cannot reach a cycle in
# minutes on a CPU (see above); every name of the setting resolves to it under quick, as every
# name resolves to smoke_lr under smoke, and captions state the learning rate.
QUICK_LR_RESNET = 0.34
QUICK_LR_TRANSFORMER_MSE = 0.005

SETTINGS: dict[str, Setting] = {
    s.slug: s
    for s in (
        Setting("mlp-mse-cifar10", "MLP+MSE on CIFAR10", "mlp", "cifar10", "categorical_mse",
                (0.02, 0.01, 0.005, 0.002), 0.002, _MLP, _N_IMAGES, smoke_lr=0.02),
        Setting("cnn-mse-cifar10", "CNN+MSE on CIFAR10", "cnn", "cifar10", "categorical_mse",
                (0.02, 0.005, 0.002), 0.005, _CNN_MSE, _N_CNN_MSE, smoke_lr=0.13,
                chunk_size=_CHUNK_CNN),
        Setting("cnn-logistic-cifar10cd", "CNN+Logistic on CIFAR10 (cats vs dogs)", "cnn",
                "cifar10_binary", "logistic", (0.02, 0.01, 0.005, 0.002), None, _CNN_LOGISTIC,
                _N_CNN_LOGISTIC, smoke_lr=0.82, chunk_size=_CHUNK_CNN),
        Setting("resnet18-mse-cifar10cd", "ResNet18+MSE on CIFAR10 (cats vs dogs)", "resnet18",
                "cifar10_binary", "binary_mse", (0.002, 0.001), None, _RESNET, _N_RESNET,
                smoke_lr=0.34, quick_lr=QUICK_LR_RESNET, chunk_size=_CHUNK_RESNET),
        Setting("transformer-mse-sst2", "Transformer+MSE on SST2", "transformer", "sst2",
                "binary_mse", (0.002, 0.001), 0.001, _TRANSFORMER_MSE, _N_SST2, smoke_lr=0.22,
                quick_lr=QUICK_LR_TRANSFORMER_MSE, data_kwargs=_SST2_DATA,
                chunk_size=_CHUNK_SST2),
        Setting("transformer-logistic-sst2", "Transformer+Logistic on SST2", "transformer",
                "sst2", "logistic", (0.02, 0.01, 0.005, 0.002), None, _TRANSFORMER_LOGISTIC,
                _N_SST2, smoke_lr=1.5, data_kwargs=_SST2_DATA, chunk_size=_CHUNK_SST2),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: a name, its paper reference, groups and a per-profile resolver."""

    name: str
    description: str
    paper_ref: str
    groups: tuple[str, ...]
    resolver: Callable[[str], ExperimentConfig] = field(repr=False, compare=False)

    def config(self, profile: str | None = None) -> ExperimentConfig:
        prof = (
            _profiles.current_profile() if profile is None else _profiles.validate_profile(profile)
        )
        return self.resolver(prof)


def _lr_tag(lr: float) -> str:
    return f"lr{lr:g}"


def _profile_lr(setting: Setting, lr: float, profile: str) -> float:
    """The learning rate a name with App. E/G rate ``lr`` resolves to under ``profile``."""
    if profile == "smoke":
        return setting.smoke_lr
    if profile == "quick" and setting.quick_lr is not None:
        return setting.quick_lr
    return lr


def _track_resolver(setting: Setting, lr: float, name: str) -> Callable[[str], ExperimentConfig]:
    def resolve(profile: str) -> ExperimentConfig:
        return ExperimentConfig(
            name=name,
            kind="track",
            model=setting.model,
            model_kwargs=setting.model_kwargs[profile],
            dataset=setting.dataset,
            n=setting.n[profile],
            data_kwargs=setting.data_kwargs.get(profile, {}),
            criterion=setting.criterion,
            lr=_profile_lr(setting, lr, profile),
            generalized=True,
            chunk_size=setting.chunk_size.get(profile),
            **_TRACK_STEPS[profile],
        )

    return resolve


def _fig1_resolve(profile: str) -> ExperimentConfig:
    steps = {
        # Fig. 1: instability after ~2200 steps on 5k images, then edge of stability. max_steps
        # equals the track experiments' so that phase 1 is shared with mlp-mse-cifar10-lr0.02.
        "paper": dict(track_steps=2_000, sharpness_every=10, checkpoint_every=500),
        # quick, measured (27 Nov 2026, row-space coordinates): instability at step 303 (eta=0.02,
        # 3.8 s), 86 (0.04), 963 (0.01, 4.3 s); 500 GD steps with the sharpness every 5 take
        # 11-17 s and show the sharpness hovering at 2/eta
        "quick": dict(track_steps=500, sharpness_every=5, checkpoint_every=250),
        "smoke": dict(track_steps=10, sharpness_every=2, checkpoint_every=4),
    }[profile]
    return ExperimentConfig(
        name="fig1-mlp",
        kind="gd",
        model="mlp",
        model_kwargs=_MLP[profile],
        dataset="cifar10",
        n=_N_IMAGES[profile],
        criterion="categorical_mse",
        lr=SETTINGS["mlp-mse-cifar10"].smoke_lr if profile == "smoke" else 2 / 100,
        generalized=False,
        max_steps=_TRACK_STEPS[profile]["max_steps"],
        **steps,
    )


def _build_registry() -> dict[str, Experiment]:
    reg: dict[str, Experiment] = {}
    reg["fig1-mlp"] = Experiment(
        "fig1-mlp",
        "MLP+MSE on CIFAR10, eta = 2/100: progressive sharpening, then edge of stability "
        "(plain gradient descent)",
        "Fig. 1",
        ("fig1",),
        _fig1_resolve,
    )
    for s in SETTINGS.values():
        for lr in s.lrs:
            name = f"{s.slug}-{_lr_tag(lr)}"
            groups = ["app-e", "app-g", s.slug] + (["fig4"] if lr == s.fig4_lr else [])
            refs = "App. E, App. G" + (", Fig. 4" if lr == s.fig4_lr else "")
            reg[name] = Experiment(
                name, f"{s.title}, eta = {lr:g}", refs, tuple(groups), _track_resolver(s, lr, name)
            )
    return reg


EXPERIMENTS: dict[str, Experiment] = _build_registry()
GROUPS: tuple[str, ...] = ("all", "fig1", "fig4", "app-e", "app-g", *SETTINGS)


def list_experiments() -> list[str]:
    """All registered experiment names."""
    return list(EXPERIMENTS)


def experiments_for(group: str) -> list[str]:
    """Names in ``group``: ``"all"``, ``"fig1"``, ``"fig4"``, ``"app-e"``, ``"app-g"`` or a setting
    slug such as ``"mlp-mse-cifar10"``."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; valid groups are {', '.join(GROUPS)}")
    if group == "all":
        return list_experiments()
    return [n for n, e in EXPERIMENTS.items() if group in e.groups]


#: The App. E/G learning rates that the ``quick`` profile keeps, per setting: the largest one
#: of each setting (:attr:`Setting.lrs`). Progressive sharpening to ``2/eta`` takes roughly
#: ``1/eta`` times longer at smaller learning rates (at the ``quick`` sizes, eta = 0.002 on the
#: MLP had reached sharpness 676 of 2/eta = 1000 after 15,000 steps), and every tracked step
#: costs dozens of float64 Hessian-vector products, so on a 2-core CPU only the largest learning
#: rate of a setting reaches instability and completes a self-stabilization cycle in minutes.
QUICK_LRS: dict[str, tuple[float, ...]] = {slug: (max(s.lrs),) for slug, s in SETTINGS.items()}


def selected(group: str, profile: str | None = None) -> list[str]:
    """The names of ``group`` (see :func:`experiments_for`) that ``profile`` runs.

    ``profile`` defaults to ``EOS_PROFILE`` (:func:`eos.profiles.current_profile`).

    * ``paper``: every experiment of the group (all learning rates of Apps. E and G).
    * ``smoke``: every experiment of the group too; the smoke profile replaces the learning
      rates of a setting by one smoke learning rate, so they share one cached run.
    * ``quick``: per (architecture, data, loss) setting only the learning rates in
      :data:`QUICK_LRS` -- the setting's largest App. E/G learning rate, the one that reaches
      instability soonest; the smaller learning rates are dropped because they need tens of
      thousands of float32 steps of progressive sharpening (plus the tracked float64 steps) that a
      2-core CPU cannot afford in a few minutes. ``fig1-mlp`` (plain gradient descent) is kept.
      The group ``fig4`` is empty under ``quick`` (Fig. 4's learning rates are all below their
      setting's largest); ``book/architectures.ipynb`` features the quick run of each setting.
      Run a dropped experiment explicitly with :func:`run` (``python -m eos run NAME --profile
      quick``) or use the ``paper`` profile for the complete set.
    """
    names = experiments_for(group)
    prof = _profiles.current_profile() if profile is None else _profiles.validate_profile(profile)
    if prof != "quick":
        return names
    keep = []
    for name in names:
        slug = next((s for s in SETTINGS if name.startswith(s + "-lr")), None)
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


# ============================================================================================
# results
# ============================================================================================
@dataclass(frozen=True, eq=False)
class Result:
    """A finished run.

    ``config``: the :class:`ExperimentConfig`; ``provenance``: versions, git commit, device,
    platform, dates, wall time per phase, resumption; ``history``: the to-instability history
    (``step``, ``loss``, ``sharpness``, ``accuracy`` at every sharpness check); ``trajectory``:
    the arrays after instability, indexed by ``step`` = GD steps since instability (for
    ``"track"`` the keys of :class:`eos.dynamics.Trajectory`: ``gd/loss``, ``predicted/x``,
    ``constrained/delta``, ``lambda2/value``, ...; for ``"gd"``: ``step``, ``gd/loss``,
    ``gd/sharpness_step``, ``gd/sharpness``); ``meta``: instability step, steps done, stop
    reason and the dynamics' own metadata (``meta["trajectory"]``); ``theta_star`` /
    ``u_star``: the parameters at instability (float32) and the top Hessian eigenvector there.
    ``result["gd/loss"]`` indexes ``trajectory``.
    """

    config: ExperimentConfig
    provenance: dict[str, Any]
    history: dict[str, np.ndarray]
    trajectory: dict[str, np.ndarray]
    meta: dict[str, Any]
    theta_star: np.ndarray | None = None
    u_star: np.ndarray | None = None
    path: Path | None = None

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self.trajectory[key]
        except KeyError:
            raise KeyError(
                f"{key!r} is not in the trajectory of {self.config.name!r}; "
                f"available: {', '.join(sorted(self.trajectory))}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self.trajectory

    def keys(self) -> list[str]:
        return sorted(self.trajectory)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def lr(self) -> float:
        return self.config.lr

    @property
    def threshold(self) -> float:
        """``2/eta``."""
        return self.config.threshold

    @property
    def instability_step(self) -> int | None:
        """GD step of the first iterate with ``S >= 2/eta`` (``None`` if never reached)."""
        s = self.meta.get("instability_step")
        return None if s is None else int(s)

    @property
    def reached_instability(self) -> bool:
        return bool(self.meta.get("reached_instability", False))

    @property
    def steps_done(self) -> int:
        return int(self.meta.get("steps_done", 0))

    @property
    def stop_reason(self) -> str:
        return str(self.meta.get("stop_reason", ""))

    def trajectory_object(self) -> Any:
        """The tracked part as an :class:`eos.dynamics.Trajectory` (``"track"`` runs)."""
        if self.config.kind != "track":
            raise ValueError(f"{self.name!r} is a {self.config.kind!r} run; it has no Trajectory")
        from eos import dynamics

        return dynamics.Trajectory(dict(self.trajectory), dict(self.meta.get("trajectory", {})))

    def summary(self) -> str:
        c, p = self.config, self.provenance
        lines = [
            f"{c.name} ({c.kind}) -- {c.model} on {c.dataset}[n={c.n}], {c.criterion}, "
            f"lr={c.lr:g} (2/lr={c.threshold:g})",
            f"  instability: step {self.instability_step} "
            f"(reached: {self.reached_instability}); after it: {self.steps_done} steps, "
            f"stop reason: {self.stop_reason or '-'}",
            f"  computed {p.get('finished', '?')} on {p.get('device', '?')} "
            f"(jax {p.get('jax_version', '?')}, eos {p.get('eos_version', '?')}, "
            f"commit {str(p.get('git', {}).get('commit', '?'))[:12]})",
            "  wall time: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in p.get("wall_time_s", {}).items()),
            f"  path: {self.path}",
            "  arrays: "
            + ", ".join(f"{k}{tuple(v.shape)}" for k, v in sorted(self.trajectory.items())),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Result({self.name!r}, kind={self.config.kind!r}, lr={self.lr:g}, "
            f"instability_step={self.instability_step}, steps_done={self.steps_done})"
        )


def result_path(name: str, *, profile: str | None = None, **overrides: Any) -> Path:
    """Folder where the result of ``name`` (under ``profile`` and ``overrides``) is cached."""
    return _folder(get_config(name, profile=profile, **overrides))


def _folder(config: ExperimentConfig) -> Path:
    return _results.results_root() / config.key()


def _read_result(config: ExperimentConfig, folder: Path) -> Result:
    arrays, manifest = _results.load_npz(folder / _results.RESULT_FILE)
    history = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("history/")}
    traj = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("trajectory/")}
    stored = manifest.get("config", {})
    if {k: v for k, v in stored.items() if k not in _NOT_IN_KEY} != config.key_dict():
        raise _results.CorruptResultError(
            f"{folder} holds a result for another configuration (hash collision or edit)"
        )
    return Result(
        config=config,
        provenance=manifest.get("provenance", {}),
        history=history,
        trajectory=traj,
        meta=manifest.get("meta", {}),
        theta_star=arrays.get("theta_star"),
        u_star=arrays.get("u_star"),
        path=folder / _results.RESULT_FILE,
    )


def load(name: str, *, profile: str | None = None, **overrides: Any) -> Result:
    """Read the cached result of ``name``; never computes.

    Raises ``FileNotFoundError`` (naming the command that computes it) when absent, and
    :class:`eos.results.CorruptResultError` when the file is damaged.
    """
    config = get_config(name, profile=profile, **overrides)
    folder = _folder(config)
    if not (folder / _results.RESULT_FILE).exists():
        prof = _profiles.current_profile() if profile is None else profile
        raise FileNotFoundError(
            f"experiment {name!r} (profile {prof!r}) has not been computed yet: no "
            f"{folder / _results.RESULT_FILE}. Compute it with eos.experiments.run({name!r}, "
            f"profile={prof!r}) or `python -m eos run {name} --profile {prof}`"
            + (" plus the same overrides" if overrides else "")
        )
    return _read_result(config, folder)


def run(
    name: str, *, profile: str | None = None, progress: bool = True, **overrides: Any
) -> Result:
    """Compute experiment ``name`` (or return the cached result).

    ``profile``: ``smoke`` | ``quick`` | ``paper`` (default ``EOS_PROFILE``); ``overrides``:
    configuration fields, e.g. ``lr=0.01, track_steps=50`` (see :func:`apply_overrides`);
    ``progress``: tqdm progress bars. An interrupted run resumes from its last checkpoint.
    """
    config = get_config(name, profile=profile, **overrides)
    return run_config(config, progress=progress)


def run_config(config: ExperimentConfig, *, progress: bool = True) -> Result:
    """:func:`run` for an already resolved configuration."""
    folder = _folder(config)
    path = folder / _results.RESULT_FILE
    if path.exists():
        try:
            return _read_result(config, folder)
        except _results.CorruptResultError as exc:
            warnings.warn(f"recomputing {config.name!r}: {exc}", stacklevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    arrays, manifest = _compute(config, folder, progress=progress)
    _results.save_npz(path, arrays, manifest)
    _results.Checkpointer(folder, "after").clear()
    return _read_result(config, folder)


# ============================================================================================
# computing a run
# ============================================================================================
#: Fields that determine the first phase (GD to instability). Experiments that agree on them
#: (e.g. ``fig1-mlp`` and ``mlp-mse-cifar10-lr0.02``) share one cached phase-1 result, stored
#: under ``<root>/instability/<key>/``.
PHASE1_FIELDS = ("model", "model_kwargs", "dataset", "n", "data_kwargs", "criterion", "lr",
                 "seed", "max_steps", "chunk_size", "row_space")  # fmt: skip
_PHASE1_FILE = "instability.npz"


def _phase1_folder(config: ExperimentConfig) -> Path:
    d = config.to_dict()
    key = _results.cache_key({"phase": "to_instability", **{k: d[k] for k in PHASE1_FIELDS}})
    return _results.results_root() / "instability" / key


def _build_objective(config: ExperimentConfig):
    """``(objective, p0)`` of ``config``; objectives are reused within a process across
    learning rates and step counts, so their jitted functions compile once."""
    return _objective_for(*_objective_key(config))


def _objective_key(config: ExperimentConfig) -> tuple:
    from eos import data as _data

    return (
        str(_data.data_root()),
        config.model,
        config.model_kwargs,
        config.dataset,
        config.n,
        config.data_kwargs,
        config.criterion,
        config.seed,
        config.chunk_size,
    )


@lru_cache(maxsize=8)
def _objective_for(root, model, model_kwargs, dataset, n, data_kwargs, criterion, seed, chunk_size):
    from eos import data as _data
    from eos import objective as _objective

    loader = {"cifar10": _data.cifar10, "cifar10_binary": _data.cifar10_binary, "sst2": _data.sst2}
    data = loader[dataset](n, root=root, **_thaw_kwargs(data_kwargs))
    return _objective.build(
        model, data, criterion, seed=seed, chunk_size=chunk_size, **_thaw_kwargs(model_kwargs)
    )


def _build_row_space(config: ExperimentConfig):
    """The row-space reduction of ``config``'s objective (:mod:`eos.reduction`), or ``None``
    when ``config.row_space`` is off or does not apply (not an MLP, or ``n >= d_in``)."""
    return _row_space_for(*_objective_key(config)) if config.row_space else None


@lru_cache(maxsize=8)  # one SVD per objective and process, like _objective_for
def _row_space_for(*key):
    from eos import reduction

    objective, p0 = _objective_for(*key)
    if not reduction.supports_row_space(objective):
        return None
    return reduction.row_space(objective, p0)


def _checkpoint_step(state: Mapping[str, Any]) -> int:
    return int(np.asarray(state["step"]).reshape(-1)[0]) if "step" in state else 0


def _registered_under(config: ExperimentConfig) -> list[str]:
    if config.name not in EXPERIMENTS:
        return []
    return [p for p in _profiles.PROFILES if get_config(config.name, profile=p) == config]


def _compute(
    config: ExperimentConfig, folder: Path, *, progress: bool
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run both phases (resuming where possible); return the arrays and manifest to save."""
    from eos import data as _data

    started = _results.utc_now()
    env = _results.environment_provenance()
    env["data_root"] = str(_data.data_root())
    objective, p0 = _build_objective(config)
    # Phases compute in the coordinates of `work` (the row space of an MLP's inputs when
    # config.row_space applies, see eos.reduction); what is saved is in the full coordinates.
    space = _build_row_space(config)
    work, work_p0 = (objective, p0) if space is None else (space.objective, space.reduce(p0))
    tag = None if space is None else f"row_space-{space.digest}"
    resumed: dict[str, int] = {}
    discarded: list[str] = []

    # ---- phase 1: float32 GD to instability (App. D.3), cached on its own (PHASE1_FIELDS)
    p1_folder = _phase1_folder(config)
    p1_reused = True
    try:
        p1_arrays, p1_manifest = _results.load_npz(p1_folder / _PHASE1_FILE)
    except (FileNotFoundError, _results.CorruptResultError):
        p1_reused = False
        ckpt = _results.Checkpointer(p1_folder, "instability", tag=tag)
        state = ckpt.load()
        discarded += ckpt.discarded
        if state is not None:
            resumed["instability"] = _checkpoint_step(state)
        t0 = time.perf_counter()
        p1_arrays, p1_meta = _phase_instability(config, work, work_p0, ckpt, state, progress)
        if space is not None:
            p1_arrays["theta_star"] = np.asarray(space.lift(p1_arrays["theta_star"]))
            p1_arrays["u_star"] = np.asarray(space.lift_direction(p1_arrays["u_star"]))
        p1_manifest = {
            "kind": "instability",
            "meta": p1_meta,
            "wall_time_s": time.perf_counter() - t0,
            "finished": _results.utc_now(),
            "source_fingerprint": env["source_fingerprint"],
        }
        _results.save_npz(p1_folder / _PHASE1_FILE, p1_arrays, p1_manifest)
        ckpt.clear()
    theta_star, u_star = p1_arrays["theta_star"], p1_arrays["u_star"]
    history = {k[8:]: v for k, v in p1_arrays.items() if k.startswith("history/")}
    meta: dict[str, Any] = dict(p1_manifest["meta"])
    if config.kind == "track" and not meta.get("reached_instability", True):
        # the constrained trajectory lives on {S = 2/eta}: tracking from a stable iterate would
        # project far away and report dynamics that never happened
        raise ValueError(
            f"{config.name}: gradient descent did not reach instability within max_steps="
            f"{config.max_steps} (sharpness {meta['sharpness_at_instability']:.4g} < 2/lr = "
            f"{config.threshold:.4g}), so there is nothing to track. Raise max_steps "
            "(override max_steps=...), use a larger learning rate, or more examples (small "
            "training sets can be fitted before the sharpness reaches 2/lr)."
        )

    # ---- phase 2: tracking (float64) or plain GD (float32)
    ckpt = _results.Checkpointer(folder, "after", tag=tag)
    state = ckpt.load()
    discarded += ckpt.discarded
    if state is not None:
        resumed["after"] = _checkpoint_step(state)
    t0 = time.perf_counter()
    phase = _phase_track if config.kind == "track" else _phase_gd
    start, start_u = theta_star, u_star
    if space is not None:  # reduce in float64: the reduced run starts exactly at theta_star
        start = np.asarray(space.reduce(np.asarray(theta_star, np.float64)))
        start_u = np.asarray(space.reduce(np.asarray(u_star, np.float64)))
    traj, traj_meta = phase(config, work, start, start_u, ckpt, state, progress)
    wall2 = time.perf_counter() - t0
    meta.update(
        steps_done=int(traj_meta.get("steps_done", 0)),
        stop_reason=str(traj_meta.get("stop_reason", "")),
        trajectory=traj_meta,
    )
    provenance = {
        **env,
        "config": config.to_dict(),
        # EOS_PROFILE of the computing process, and the profiles whose registered configuration
        # of this name is exactly this one (empty: overrides made it a custom configuration)
        "profile": _profiles.current_profile(),
        "registered_under": _registered_under(config),
        "cache_key": config.key(),
        "started": started,
        "finished": _results.utc_now(),
        "wall_time_s": {"to_instability": float(p1_manifest["wall_time_s"]), config.kind: wall2},
        "instability_cache": {"folder": str(p1_folder), "reused": p1_reused},
        "resumed_from": resumed,
        "row_space": None if space is None else space.describe(),
        "discarded_checkpoints": discarded,
    }
    arrays: dict[str, np.ndarray] = {"theta_star": theta_star, "u_star": u_star}
    arrays.update({f"history/{k}": v for k, v in history.items()})
    arrays.update({f"trajectory/{k}": v for k, v in traj.items()})
    manifest = {"kind": "result", "config": config.to_dict(), "provenance": provenance}
    manifest["meta"] = meta
    return arrays, _results.to_jsonable(manifest)


# ---- coupling to eos.dynamics (kept in these small functions) ------------------------------
def _phase_instability(config, objective, p0, ckpt, state, progress):
    """float32 GD until the first iterate with ``S >= 2/eta`` -> (arrays, meta)."""
    from eos import dynamics

    inst = dynamics.to_instability(
        objective,
        p0,
        lr=config.lr,
        max_steps=config.max_steps,
        seed=config.seed,
        resume_from=state,
        on_checkpoint=ckpt.save,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
    )
    arrays = {f"history/{k}": np.asarray(v) for k, v in inst.history.items()}
    arrays["theta_star"] = np.asarray(inst.params)
    arrays["u_star"] = np.asarray(inst.eigvec)
    meta = {
        "instability_step": int(inst.step),
        "reached_instability": bool(inst.reached),
        "sharpness_at_instability": float(inst.sharpness),
        "instability": dict(inst.meta),
    }
    if not inst.reached:
        warnings.warn(
            f"{config.name}: no instability within max_steps={config.max_steps} "
            f"(sharpness {float(inst.sharpness):.4g} < 2/lr = {config.threshold:.4g}); "
            "continuing from the last iterate",
            stacklevel=4,
        )
    return arrays, meta


def _phase_track(config, objective, theta_star, u_star, ckpt, state, progress):
    """Track GD, theta-dagger, flow and predictions in float64 -> (arrays, meta)."""
    import jax.numpy as jnp

    from eos import dynamics

    traj = dynamics.track(
        objective,
        jnp.asarray(theta_star, dtype=jnp.float64),
        lr=config.lr,
        steps=config.track_steps,
        generalized=config.generalized,
        diag_every=config.diag_every,
        lambda2_every=config.lambda2_every,
        lambda2_threshold=config.lambda2_threshold,
        u0=jnp.asarray(u_star, dtype=jnp.float64),
        dtype=jnp.float64,
        resume_from=state,
        on_checkpoint=ckpt.save,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
    )
    return {k: np.asarray(v) for k, v in traj.arrays.items()}, dict(traj.meta)


def _phase_gd(config, objective, theta_star, u_star, ckpt, state, progress):
    """Plain float32 GD after instability (Fig. 1): loss every step, sharpness every
    ``sharpness_every`` steps (Lanczos warm-started from the previous eigenvector)."""
    import jax
    import jax.numpy as jnp

    from eos import curvature
    from eos.progress import progress_bar

    lr, k_s, steps = config.lr, config.sharpness_every, config.track_steps
    dtype = jnp.float32

    @jax.jit
    def update(p, g):
        return p - jnp.asarray(lr, p.dtype) * g

    if state is None:
        p, u, start = jnp.asarray(theta_star, dtype), jnp.asarray(u_star, dtype), 0
        losses = np.full(steps + 1, np.nan, np.float32)
        s_vals = np.full(steps // k_s + 1, np.nan, np.float32)
    else:
        p, u, start = (
            jnp.asarray(state["p"], dtype),
            jnp.asarray(state["u"], dtype),
            int(state["step"]),
        )
        losses, s_vals = np.array(state["loss"]), np.array(state["sharpness"])

    bar = progress_bar(total=steps, initial=start, desc="gradient descent", disable=not progress)
    try:
        for t in range(start, steps + 1):
            if t % k_s == 0:
                S, u = curvature.sharpness_matvec(jax.tree_util.Partial(objective.hvp, p), u)
                s_vals[t // k_s] = float(S)
            loss, g = objective.value_and_grad(p)
            losses[t] = float(loss)
            if not np.isfinite(losses[t]):
                raise ValueError(
                    f"{config.name}: gradient descent diverged at step {t} after instability "
                    f"(lr={lr:g}); try a smaller learning rate"
                )
            if t == steps:
                break
            p = update(p, g)
            bar.update(1)
            if (t + 1) % config.checkpoint_every == 0 and t + 1 < steps:
                st = {"p": p, "u": u, "step": t + 1, "loss": losses, "sharpness": s_vals}
                ckpt.save({k: np.asarray(v) for k, v in st.items()})
    finally:
        bar.close()
    arrays = {
        "step": np.arange(steps + 1),
        "gd/loss": losses,
        "gd/sharpness_step": np.arange(0, steps + 1, k_s),
        "gd/sharpness": s_vals,
    }
    return arrays, {"steps_done": steps, "stop_reason": "completed", "dtype": "float32"}


# ============================================================================================
# convenience
# ============================================================================================
def describe(name: str, *, profile: str | None = None, **overrides: Any) -> str:
    """Human-readable configuration of ``name`` (JSON)."""
    exp = _experiment(name)
    cfg = get_config(name, profile=profile, **overrides)
    d = {"experiment": name, "paper": exp.paper_ref, "description": exp.description,
         "groups": list(exp.groups), "config": cfg.to_dict(), "cache_key": cfg.key()}  # fmt: skip
    return json.dumps(d, indent=2, default=str)


def table(
    names: Iterable[str] | None = None, *, profiles: Iterable[str] = _profiles.PROFILES
) -> str:
    """A Markdown table: experiment -> key configuration fields per profile."""
    names = list_experiments() if names is None else list(names)
    cols = ("kind", "model_kwargs", "n", "criterion", "lr", "max_steps", "track_steps")
    lines = ["| name | profile | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for n in names:
        for prof in profiles:
            d = get_config(n, profile=prof).to_dict()
            lines.append(f"| {n} | {prof} | " + " | ".join(str(d[c]) for c in cols) + " |")
    return "\n".join(lines)
