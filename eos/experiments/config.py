"""The configuration of one run: :class:`ExperimentConfig`, its validation and overrides.

A configuration is frozen, hashable and JSON-serialisable; :meth:`ExperimentConfig.key`
hashes everything that determines the numbers (all fields except the name and the checkpoint
interval) with the source fingerprint and the fingerprint of the data files under the data root
(:meth:`ExperimentConfig.data_fingerprint`, :func:`eos.results.cache_key`).

Kinds (the protocol a configuration runs, :mod:`eos.experiments.runner`):

``"track"``
    App. D.3: float32 gradient descent to the first iterate with ``S(theta) >= 2/eta``, then
    ``track_steps`` tracked float64 steps of GD, the constrained trajectory (eq. (2)), gradient
    flow and the predicted dynamics (eq. (5), with ``generalized`` App. F's eq. (11)).
``"gd"``
    Fig. 1: the same float32 phase to instability, then ``track_steps`` plain GD steps with the
    loss at every step and the sharpness every ``sharpness_every`` steps.
``"spectrum"``
    Sec. 7.3, Sec. 8.2, App. G.1: ``track_steps`` steps of gradient descent with a schedule, or
    SAM, from the initialisation or from the end of another ``"spectrum"`` run (``start``),
    recording the top ``k`` Hessian eigenvalues every ``sharpness_every`` steps
    (:func:`eos.dynamics.run_gd`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eos import profiles as _profiles
from eos import results as _results
from eos import validate as _validate

__all__ = [
    "CRITERIA",
    "DATASETS",
    "FIELD_TYPES",
    "KINDS",
    "NOT_IN_KEY",
    "OBJECTIVE_FIELDS",
    "SCHEDULES",
    "Experiment",
    "ExperimentConfig",
    "apply_overrides",
    "key_view",
]

KINDS = ("track", "gd", "spectrum", "central")
DATASETS = ("cifar10", "cifar10_binary", "sst2")
CRITERIA = ("categorical_mse", "binary_mse", "logistic", "cross_entropy")
SCHEDULES = ("constant", "inverse_sharpness", "linear_warmup")
NOT_IN_KEY = frozenset({"name", "checkpoint_every"})
#: Fields that only a ``"spectrum"`` run reads (they keep their defaults elsewhere).
SPECTRUM_ONLY = ("schedule", "relative_lr", "warmup_steps", "rho", "start", "test_n")
#: Fields of the GD-family driver, read by ``"gd"`` and ``"spectrum"`` runs.
DRIVER_FIELDS = ("k", "eig_tol", "eig_max_iters", "chunk_steps")
#: Fields that build the objective and its initialisation (a ``start`` run must share them).
OBJECTIVE_FIELDS = ("model", "model_kwargs", "dataset", "n", "data_kwargs", "pool",
                    "criterion", "seed", "chunk_size", "row_space")  # fmt: skip


def _freeze(value: Any) -> Any:
    """Lists -> tuples, recursively, so that configurations are hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


def key_view(d: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration dict (:meth:`ExperimentConfig.to_dict`) without the fields that do not
    change the result (:data:`NOT_IN_KEY`), here and in its nested ``start``."""
    out = {k: v for k, v in d.items() if k not in NOT_IN_KEY}
    if isinstance(out.get("start"), Mapping):
        out["start"] = key_view(out["start"])
    return out


@dataclass(frozen=True)
class ExperimentConfig:
    """One fully resolved run. Frozen, hashable, JSON-serialisable (:meth:`to_dict`).

    ``kind``: ``"track"`` | ``"gd"`` | ``"spectrum"`` (module docstring).
    ``model``/``model_kwargs``: a name of :data:`eos.models.MODELS` and its keywords.
    ``dataset``/``n``/``data_kwargs``: a loader of :mod:`eos.data` and its size; ``pool``
    averages ``pool x pool`` pixel blocks of the images (1: as they are).
    ``criterion``: ``categorical_mse`` | ``binary_mse`` | ``logistic`` | ``cross_entropy``.
    ``lr``: the learning rate ``eta`` (instability threshold ``2/eta``); for ``"spectrum"`` runs
    with ``relative_lr`` the product ``eta S(theta_start)``, with the ``inverse_sharpness``
    schedule the ``c`` of ``eta_t = c/S(theta_t)``, with ``linear_warmup`` the final ``eta``.
    ``max_steps``: cap on float32 GD steps while looking for instability.
    ``track_steps``: steps after instability (tracked steps, or plain GD steps for ``"gd"``),
    or the steps of a ``"spectrum"`` run.
    ``generalized``: also track App. F's generalized predicted dynamics.
    ``chunk_size``: ghost-batch size (same numbers up to rounding, less memory).
    ``row_space``: compute an MLP on fewer examples than input features in the row space of
    its inputs (:mod:`eos.reduction`: exact, same numbers up to rounding, about 2.5x faster);
    no effect on other models or when ``n >= d_in`` (the ``paper`` profile's 5,000 images).
    ``diag_every``: spacing of App. E's assumption diagnostics along ``theta-dagger_t``.
    ``lambda2_every``/``lambda2_threshold``: check the second eigenvalue at ``theta-dagger_t``
    this often and stop once it reaches ``lambda2_threshold/eta`` (App. D.3: 1.9).
    ``sharpness_every``: eigen-solve spacing of ``"gd"`` and ``"spectrum"`` runs.
    ``checkpoint_every``: steps between checkpoints (not part of the cache key).
    GD-family driver (``"gd"``, ``"spectrum"``): ``k`` top eigenpairs, solved to relative
    residual ``eig_tol`` in at most ``eig_max_iters`` block steps; ``chunk_steps`` steps per
    compiled chunk (``None``: ``sharpness_every``), between which metrics and checkpoints are
    taken. ``"spectrum"`` only: ``schedule`` (``constant`` | ``inverse_sharpness`` |
    ``linear_warmup`` over ``warmup_steps`` steps, from the ``start`` run's learning rate),
    ``relative_lr``, ``rho`` (SAM's radius; 0: gradient descent), ``start`` (the configuration
    of the run whose final parameters start this one; ``None``: the initialisation) and
    ``test_n`` (record the train and test accuracy, on that many test images, after every chunk).
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
    pool: int = 1
    k: int = 1
    eig_tol: float = 1e-6
    eig_max_iters: int = 100
    chunk_steps: int | None = None
    schedule: str = "constant"
    relative_lr: bool = False
    warmup_steps: int = 0
    rho: float = 0.0
    start: ExperimentConfig | None = None
    test_n: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_kwargs", _freeze(dict(self.model_kwargs)))
        object.__setattr__(self, "data_kwargs", _freeze(dict(self.data_kwargs)))
        if isinstance(self.start, Mapping):
            object.__setattr__(self, "start", ExperimentConfig.from_dict(self.start))
        _validate_config(self)

    # ---- views
    @property
    def threshold(self) -> float:
        """The stability threshold ``2/eta``."""
        return 2.0 / self.lr

    @property
    def model_kw(self) -> dict[str, Any]:
        return dict(self.model_kwargs)

    @property
    def data_kw(self) -> dict[str, Any]:
        return dict(self.data_kwargs)

    @property
    def chunk(self) -> int:
        """Steps per compiled chunk of the GD-family driver."""
        return self.sharpness_every if self.chunk_steps is None else self.chunk_steps

    def lr_text(self) -> str:
        """The learning rate in words: ``0.02``, ``0.5/S0`` (relative), ``1/S_t`` (schedule)."""
        text = f"{self.lr:g}" + ("/S0" if self.relative_lr else "")
        if self.schedule == "inverse_sharpness":
            return f"{self.lr:g}/S_t"
        if self.schedule == "linear_warmup":
            return f"warmup->{text}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``model_kwargs``/``data_kwargs`` as dicts, ``start`` nested)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model_kwargs"] = _results.to_jsonable(self.model_kw)
        d["data_kwargs"] = _results.to_jsonable(self.data_kw)
        d["start"] = None if self.start is None else self.start.to_dict()
        return d

    def key_dict(self) -> dict[str, Any]:
        """What the cache key hashes: :meth:`to_dict` without ``name`` and ``checkpoint_every``
        (also inside ``start``)."""
        return key_view(self.to_dict())

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

    def data_fingerprint(self) -> dict[str, str]:
        """``{file: sha256}`` of the data files this configuration's loader reads under the
        data root (``EOS_DATA_DIR``; :func:`eos.data.fingerprint.fingerprint`, memoised per
        file); a missing file is recorded as ``"missing"``."""
        from eos.data import data_root, fingerprint

        return fingerprint.fingerprint(
            self.dataset, data_root(), held_out=bool(self.test_n), missing_ok=True
        )

    def key(self) -> str:
        """The cache key of this configuration under the current source code and data."""
        return _results.cache_key(self.key_dict(), data=self.data_fingerprint())


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: a name, its paper reference, groups and a per-profile resolver.

    ``profiles``: the profiles whose runs include it (:func:`eos.experiments.selected`; it
    resolves under every profile). ``analysis``: per profile, the parameters with which the
    book reads its result (e.g. a window length), :func:`eos.experiments.analysis_params`.
    """

    name: str
    description: str
    paper_ref: str
    groups: tuple[str, ...]
    resolver: Callable[[str], ExperimentConfig] = field(repr=False, compare=False)
    profiles: tuple[str, ...] = _profiles.PROFILES
    analysis: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)

    def config(self, profile: str | None = None) -> ExperimentConfig:
        prof = (
            _profiles.current_profile() if profile is None else _profiles.validate_profile(profile)
        )
        return self.resolver(prof)


FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "kind": (str,), "model": (str,), "dataset": (str,), "criterion": (str,),
    "n": (int,), "lr": (float,), "seed": (int,), "max_steps": (int,), "track_steps": (int,),
    "generalized": (bool,), "chunk_size": (int, type(None)), "row_space": (bool,),
    "diag_every": (int,), "lambda2_every": (int,), "lambda2_threshold": (float,),
    "sharpness_every": (int,), "checkpoint_every": (int,), "model_kwargs": (dict,),
    "data_kwargs": (dict,), "pool": (int,), "k": (int,), "eig_tol": (float,),
    "eig_max_iters": (int,), "chunk_steps": (int, type(None)), "schedule": (str,),
    "relative_lr": (bool,), "warmup_steps": (int,), "rho": (float,),
    "start": (ExperimentConfig, type(None)), "test_n": (int,),
}  # fmt: skip


def _coerce(fname: str, value: Any) -> Any:
    """Check/convert an override value for field ``fname`` (ints stay ints; ints -> floats)."""
    types = FIELD_TYPES[fname]
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
# validation
# ============================================================================================
def _models() -> Any:
    from eos import models

    return models


def _model_fields(model: str) -> set[str]:
    cls = _models().MODELS[model]
    return set(cls.__dataclass_fields__) - {"parent", "name", "num_classes"}


def _model_annotation(model: str, key: str) -> str:
    ann = _models().MODELS[model].__dataclass_fields__[key].type
    return ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))


def _validate_config(c: ExperimentConfig) -> None:
    """Raise a ``ValueError`` naming the experiment, the field and the valid choices."""

    def bad(msg: str) -> None:
        raise ValueError(f"experiment {c.name!r}: {msg}")

    def check(fn: Any, *args: Any, **kw: Any) -> None:
        try:
            fn(*args, **kw)
        except ValueError as exc:
            bad(str(exc))

    for fname in ("name", "kind", "model", "dataset", "criterion", "schedule"):
        if not isinstance(getattr(c, fname), str):
            bad(f"{fname} must be a string, got {getattr(c, fname)!r}")
    if c.kind not in KINDS:
        bad(f"unknown kind {c.kind!r}; valid kinds are {', '.join(KINDS)}")
    _check_model(c, bad)
    _check_data(c, bad, check)
    for fname in (
        "n",
        "diag_every",
        "lambda2_every",
        "sharpness_every",
        "checkpoint_every",
        "k",
        "eig_max_iters",
    ):
        check(_validate.positive_int, getattr(c, fname), fname)
    for fname in ("seed", "max_steps", "track_steps", "warmup_steps", "test_n"):
        check(_validate.positive_int, getattr(c, fname), fname, minimum=0)
    if c.kind != "gd" and c.track_steps < 1:
        bad(f"track_steps must be >= 1 for a {c.kind!r} experiment, got {c.track_steps}")
    for fname in ("lr", "lambda2_threshold", "eig_tol"):
        check(_validate.positive_number, getattr(c, fname), fname)
    check(_validate.positive_number, c.rho, "rho", what="the SAM radius; 0: none", allow_zero=True)
    for fname in ("generalized", "row_space", "relative_lr"):
        if not isinstance(getattr(c, fname), bool):
            bad(f"{fname} must be True or False, got {getattr(c, fname)!r}")
    for fname in ("chunk_size", "chunk_steps"):
        if getattr(c, fname) is not None:
            check(
                _validate.positive_int, getattr(c, fname), f"{fname} (a positive integer or None)"
            )
    _check_kind_fields(c, bad)


def _check_model(c: ExperimentConfig, bad: Any) -> None:
    models = _models()
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
    try:  # ranges (width >= 1, ...): the same check as eos.models.build
        models.check_kwargs(c.model, c.model_kw)
    except ValueError as exc:
        bad(str(exc))


def _check_data(c: ExperimentConfig, bad: Any, check: Any) -> None:
    if c.dataset not in DATASETS:
        bad(f"unknown dataset {c.dataset!r}; valid datasets are {', '.join(DATASETS)}")
    if c.criterion not in CRITERIA:
        bad(f"unknown criterion {c.criterion!r}; valid criteria are {', '.join(CRITERIA)}")
    binary = c.dataset != "cifar10"
    if binary != (c.criterion in ("binary_mse", "logistic")):
        bad(f"criterion {c.criterion!r} does not fit dataset {c.dataset!r}")
    check(_validate.positive_int, c.n, "n")
    if binary and c.n % 2:
        bad(f"n must be even for the balanced binary data set {c.dataset!r}, got {c.n}")
    if c.dataset in DATASETS:
        from eos.data import check_options

        check(check_options, c.dataset, c.data_kw)
    check(_validate.positive_int, c.pool, "pool")
    if c.pool > 1 and (c.dataset == "sst2" or 32 % c.pool):
        bad(f"pool={c.pool} needs CIFAR-10 images (32 x 32) and a divisor of 32")


def _check_kind_fields(c: ExperimentConfig, bad: Any) -> None:
    """Fields of the GD-family driver and of ``"spectrum"`` runs, by kind."""
    defaults = {f.name: f.default for f in dataclasses.fields(ExperimentConfig)}
    if c.kind != "spectrum":
        for fname in SPECTRUM_ONLY:
            if getattr(c, fname) != defaults[fname]:
                bad(f"{fname} applies only to 'spectrum' experiments, not to a {c.kind!r} one")
    if c.kind == "track":
        for fname in DRIVER_FIELDS:
            if getattr(c, fname) != defaults[fname]:
                bad(f"{fname} applies only to 'gd' and 'spectrum' experiments, not to 'track'")
    if c.kind == "gd" and c.k != 1:
        bad(f"a 'gd' experiment records the sharpness only (k=1), got k={c.k}")
    if c.schedule not in SCHEDULES:
        bad(f"unknown schedule {c.schedule!r}; valid schedules are {', '.join(SCHEDULES)}")
    if (c.schedule == "linear_warmup") != (c.warmup_steps > 0):
        bad(
            "warmup_steps >= 1 goes with schedule='linear_warmup' (and only with it), "
            f"got schedule={c.schedule!r}, warmup_steps={c.warmup_steps}"
        )
    if c.schedule == "inverse_sharpness" and c.relative_lr:
        bad("relative_lr does not apply to the inverse_sharpness schedule (eta_t = lr/S_t)")
    if c.start is not None:
        if not isinstance(c.start, ExperimentConfig) or c.start.kind != "spectrum":
            bad(f"start must be the configuration of a 'spectrum' run, got {c.start!r}")
        other = [f for f in OBJECTIVE_FIELDS if getattr(c.start, f) != getattr(c, f)]
        if other:
            bad(f"start {c.start.name!r} trains another objective (differs in {other})")
