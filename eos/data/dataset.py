"""The :class:`Dataset` record every loader returns, and the balanced selection rule shared by
the binary data sets (App. D.2: the first ``n/2`` examples of each class)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Dataset", "first_of_each", "readonly"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set.

    ``inputs``: float32 NHWC images ``(n, 32, 32, 3)`` or int32 token ids ``(n, T)``;
    ``labels``: int32, class indices ``0..C-1`` or ``±1`` for binary tasks;
    ``num_classes``: ``C``, or 1 for a binary ``±1`` task (one network output);
    ``name``: e.g. ``"cifar10"``; ``metadata``: split, sizes, preprocessing (means and stds,
    vocabulary, ``vocab_size``, ``pad_id``, ``max_len``, ``mask`` ...).

    Equality and hashing are by identity, so a data set can key caches.
    """

    inputs: np.ndarray
    labels: np.ndarray
    num_classes: int
    name: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n(self) -> int:
        return len(self)


def readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def first_of_each(labels: np.ndarray, classes: tuple[int, ...], k: int) -> np.ndarray | None:
    """Indices of the first ``k`` examples of each class, class by class; None if too few."""
    out = []
    for c in classes:
        idx = np.flatnonzero(labels == c)[:k]
        if len(idx) < k:
            return None
        out.append(idx)
    return np.concatenate(out)
