"""The paper's experiments as a registry of named, cached, resumable runs (Fig. 1, Fig. 4,
Fig. 5, Fig. 6, Sec. 7.3, Apps. E and G).

Every experiment the paper reports is registered under a name, e.g. ``mlp-mse-cifar10-lr0.02``
(App. E/G), ``fig1-mlp`` (Fig. 1) or ``fig5-multiple-unstable`` (Fig. 5), and resolves, per
profile (``smoke`` | ``quick`` | ``paper``, see :mod:`eos.profiles`), to a frozen
:class:`ExperimentConfig`:

* ``paper``: the paper's settings (App. D: 5,000 examples, the full architectures of App.
  D.1, the learning rates of Apps. E and G; App. G.1's ResNet18 on CIFAR-10);
* ``quick``: subsets and step counts for a few minutes per run on a 2-core CPU;
* ``smoke``: seconds per run (tiny data, tiny widths, few steps), exercising the whole pipeline.

The package, one concern per module:

* :mod:`~eos.experiments.config` -- the configuration: schema, validation, overrides, kinds
  (``"track"``: App. D.3's tracked runs; ``"gd"``: Fig. 1's plain gradient descent;
  ``"spectrum"``: gradient descent with a schedule, or SAM, recording the top of the Hessian
  spectrum, Sec. 7.3, Sec. 8.2, App. G.1);
* :mod:`~eos.experiments.settings` and :mod:`~eos.experiments.implications` -- the sizes per
  profile of App. D's settings and of the implications chapter's runs;
* :mod:`~eos.experiments.registry` -- the names, groups and per-profile selection;
* :mod:`~eos.experiments.runner` -- the pipeline of cached phases (:func:`run`, :func:`load`),
  :mod:`~eos.experiments.phases` its calls into :mod:`eos.dynamics`,
  :mod:`~eos.experiments.workspace` the objective and the row-space boundary, and
  :mod:`~eos.experiments.record` the :class:`Result`.

:func:`run` computes (or fetches from the on-disk cache, see :mod:`eos.results`) and returns a
:class:`Result`; :func:`load` only reads. Results are keyed by a hash of the configuration
(:meth:`ExperimentConfig.key_dict`: everything except the name and the checkpoint interval)
together with a fingerprint of the ``eos`` source (:func:`eos.results.source_fingerprint`), so
changing either recomputes; the first phase of ``"track"``/``"gd"`` runs is cached on its own
(:data:`PHASE1_FIELDS`) and shared by experiments that agree on it, and a ``"spectrum"`` run that
starts where another ends (warmup) reuses that run's cached result. Runs save an atomic
checkpoint every ``checkpoint_every`` steps and resume from the last one after an interruption.
Results live under ``$EOS_RESULTS_DIR`` (default ``pooch.os_cache("eos")/"results"``); see
:mod:`eos.results` for the layout and file format.

Command line: ``python -m eos list|run|show`` (:mod:`eos.cli`).
"""

from __future__ import annotations

from eos.experiments.config import Experiment, ExperimentConfig, apply_overrides
from eos.experiments.record import Result
from eos.experiments.registry import (
    EXPERIMENTS,
    GROUPS,
    analysis_params,
    describe,
    experiments_for,
    get_config,
    list_experiments,
    selected,
    table,
)
from eos.experiments.runner import PHASE1_FIELDS, load, result_path, run, run_config
from eos.experiments.settings import (
    QUICK_LR_RESNET,
    QUICK_LR_TRANSFORMER_MSE,
    QUICK_LRS,
    SETTINGS,
    Setting,
)

__all__ = [
    "EXPERIMENTS",
    "GROUPS",
    "PHASE1_FIELDS",
    "QUICK_LRS",
    "QUICK_LR_RESNET",
    "QUICK_LR_TRANSFORMER_MSE",
    "SETTINGS",
    "Experiment",
    "ExperimentConfig",
    "Result",
    "Setting",
    "analysis_params",
    "apply_overrides",
    "describe",
    "experiments_for",
    "get_config",
    "list_experiments",
    "load",
    "result_path",
    "run",
    "run_config",
    "run_group",
    "selected",
    "table",
]


def run_group(
    group: str, *, profile: str | None = None, progress: bool = True
) -> dict[str, Result]:
    """``{name: run(name)}`` for the names of ``group`` that ``profile`` runs (:func:`selected`)."""
    return {
        name: run(name, profile=profile, progress=progress) for name in selected(group, profile)
    }
