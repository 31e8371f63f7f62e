"""Access to the arrays a tracked or plain gradient-descent run recorded.

Every analysis of a finished run (and every figure drawn from one) reads the same thing: the
per-step arrays of :mod:`eos.dynamics.tracking` (``gd/loss``, ``constrained/delta``,
``theorem1/deviation``, ``quadratic/F``, ...), held by an :class:`eos.experiments.Result`
(``result.trajectory``), an :class:`eos.dynamics.Trajectory` (``.arrays``) or a plain mapping,
and the learning rate :math:`\\eta` of the run. This module is the one place that unwraps them:

- :func:`arrays_of` -- the mapping of arrays of any of the three;
- :func:`series` -- one array as float64, with an error naming the missing key;
- :func:`require_keys` -- check that several keys exist (e.g. App. F's ``quadratic/...``
  diagnostics), with an error saying how to record them;
- :func:`lr_of` -- the run's :math:`\\eta` (given explicitly for a plain mapping).

Nothing here computes; the functions only read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eos.validate import positive_number

__all__ = ["arrays_of", "lr_of", "require_keys", "series"]


def arrays_of(run: Any) -> Mapping[str, Any]:
    """The trajectory arrays of a Result (``.trajectory``), a Trajectory (``.arrays``) or a
    plain mapping of arrays."""
    for attr in ("trajectory", "arrays"):
        value = getattr(run, attr, None)
        if isinstance(value, Mapping):
            return value
    if isinstance(run, Mapping):
        return run
    raise ValueError(
        f"expected an eos.experiments.Result, an eos.dynamics.Trajectory or a dict of arrays, "
        f"got {type(run).__name__}"
    )


def series(arrays: Mapping[str, Any], key: str) -> np.ndarray:
    """``arrays[key]`` as a float64 array; a ``ValueError`` listing the available keys if absent."""
    if key not in arrays:
        raise ValueError(f"the run has no array {key!r}; available: {', '.join(sorted(arrays))}")
    return np.asarray(arrays[key], dtype=np.float64)


def require_keys(arrays: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Raise a ``ValueError`` naming every key of ``keys`` missing from ``arrays``."""
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(
            f"the trajectory arrays lack {missing}; run the experiment with diagnostics "
            "(eos.dynamics.track(..., diagnostics=True)); available: "
            f"{', '.join(sorted(arrays))}"
        )


def lr_of(run: Any, lr: float | None = None) -> float:
    """The learning rate :math:`\\eta`: ``lr`` when given, else ``run.lr``.

    A plain mapping of arrays does not know its learning rate, so ``lr`` is required then.
    """
    if lr is not None:
        value = lr
    elif getattr(run, "lr", None) is not None:
        value = run.lr
    else:
        raise ValueError("lr is required when the run is a plain dict of arrays")
    return positive_number(value, "lr")
