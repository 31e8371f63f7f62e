"""What a configuration trains: its data, objective and initialisation, and the coordinates
the phases compute in (the row-space reduction of :mod:`eos.reduction`, applied here once).

:func:`workspace` returns a :class:`Workspace`: the objective of the configuration in full
coordinates, its initialisation ``p0``, and -- for an MLP on fewer examples than input features
with ``row_space`` on -- the reduction to the row space of its inputs. Phases compute on
:attr:`Workspace.objective` (reduced where that applies); :meth:`Workspace.reduce` and
:meth:`Workspace.lift` carry points across the boundary, so everything saved is in the full
coordinates. Objectives (and their jitted functions) are reused within a process across
learning rates and step counts.

Data transform: ``pool > 1`` averages ``pool x pool`` pixel blocks of CIFAR-10 images
(:func:`pooled`; the implications chapter's CPU profiles), after :mod:`eos.data` has loaded
and standardised them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from eos.experiments.config import ExperimentConfig

__all__ = ["Workspace", "build_objective", "pooled", "test_set", "workspace"]


def pooled(dataset: Any, pool: int) -> Any:
    """``dataset`` with its images averaged over ``pool x pool`` pixel blocks (``pool = 1``:
    the images as they are). The result is float32 and named ``<name>-pool<pool>``."""
    if pool == 1:
        return dataset
    from eos.data import Dataset

    x = np.asarray(dataset.inputs)
    s = x.shape[1] // pool
    x = x.reshape(len(x), s, pool, s, pool, x.shape[-1]).mean(axis=(2, 4)).astype(np.float32)
    return Dataset(
        x,
        dataset.labels,
        dataset.num_classes,
        f"{dataset.name}-pool{pool}",
        dict(dataset.metadata, pool=pool),
    )


def _key(config: ExperimentConfig) -> tuple:
    from eos import data as _data
    from eos import sharding

    # the data fingerprint: an edited data file is another objective, also within one process
    data = tuple(sorted(config.data_fingerprint().items()))
    # the devices the examples are sharded over ($EOS_DEVICES may change within one process)
    devices = tuple(d.id for d in sharding.run_devices())
    return (str(_data.data_root()), data, config.model, config.model_kwargs, config.dataset,
            config.n, config.data_kwargs, config.pool, config.criterion, config.seed,
            config.chunk_size, devices)  # fmt: skip


def _loader(dataset: str) -> Any:
    from eos import data as _data

    return {"cifar10": _data.cifar10, "cifar10_binary": _data.cifar10_binary, "sst2": _data.sst2}[
        dataset
    ]


@lru_cache(maxsize=8)
def _objective_for(root, data, model, model_kwargs, dataset, n, data_kwargs, pool, criterion,
                   seed, chunk_size, devices):  # fmt: skip
    import jax

    from eos import objective as _objective

    data = pooled(_loader(dataset)(n, root=root, **dict(data_kwargs)), pool)
    chosen = [d for d in jax.local_devices() if d.id in devices]
    return _objective.build(
        model, data, criterion, seed=seed, chunk_size=chunk_size, devices=chosen,
        **dict(model_kwargs)
    )  # fmt: skip


def build_objective(config: ExperimentConfig) -> tuple[Any, Any]:
    """``(objective, p0)`` of ``config`` in full coordinates (cached per process)."""
    return _objective_for(*_key(config))


@lru_cache(maxsize=4)
def _test_set_for(root, data, dataset, n, data_kwargs, pool, test_n):
    loader = _loader(dataset)
    split = "dev" if dataset == "sst2" else "test"
    return pooled(loader(test_n, split=split, train_n=n, root=root, **dict(data_kwargs)), pool)


def test_set(config: ExperimentConfig) -> Any:
    """The first ``config.test_n`` held-out examples, preprocessed like the training set."""
    root, data = _key(config)[:2]
    return _test_set_for(root, data, config.dataset, config.n, config.data_kwargs, config.pool,
                         config.test_n)  # fmt: skip


@lru_cache(maxsize=8)  # one SVD per objective and process, like _objective_for
def _row_space_for(*key):
    from eos import reduction

    objective, p0 = _objective_for(*key)
    if not reduction.supports_row_space(objective):
        return None
    return reduction.row_space(objective, p0)


@dataclass(frozen=True, eq=False)
class Workspace:
    """The objective of a configuration and the coordinates its phases compute in.

    ``full``/``p0``: the objective and its initialisation (full coordinates); ``space``: the
    row-space reduction (:class:`eos.reduction.RowSpace`) or ``None``.
    """

    full: Any
    p0: Any
    space: Any

    @property
    def objective(self) -> Any:
        """The objective the phases compute on (reduced where that applies)."""
        return self.full if self.space is None else self.space.objective

    @property
    def tag(self) -> str | None:
        """Names the coordinates of checkpoints (:class:`eos.results.Checkpointer`)."""
        return None if self.space is None else f"row_space-{self.space.digest}"

    def describe(self) -> dict[str, Any] | None:
        return None if self.space is None else self.space.describe()

    def reduce(self, theta: Any) -> Any:
        """Full point or direction -> working coordinates (identity without a reduction)."""
        return theta if self.space is None else self.space.reduce(theta)

    def lift(self, theta: Any) -> np.ndarray:
        """Working point -> full point (numpy)."""
        return np.asarray(theta if self.space is None else self.space.lift(theta))

    def lift_direction(self, v: Any) -> np.ndarray:
        """Working direction (an eigenvector) -> full direction (numpy)."""
        return np.asarray(v if self.space is None else self.space.lift_direction(v))


def workspace(config: ExperimentConfig) -> Workspace:
    """The :class:`Workspace` of ``config`` (the reduction only with ``config.row_space``)."""
    objective, p0 = build_objective(config)
    space = _row_space_for(*_key(config)) if config.row_space else None
    return Workspace(objective, p0, space)
