"""The common shape of a run's record: named per-step arrays plus JSON-ready metadata.

Every run the package produces -- a tracked run (:class:`eos.dynamics.Trajectory`), a run of
the gradient-descent family (:class:`eos.dynamics.GDRun`), a cached experiment
(:class:`eos.experiments.Result`) -- holds

* ``arrays``: ``name -> numpy array`` (``"loss"``, ``"gd/sharpness"``, ``"eigvals"`` ...), read
  with ``record["loss"]``; an unknown name raises a ``KeyError`` that lists the recorded ones;
* ``meta``: a JSON-ready dict with at least ``steps_done`` and ``stop_reason``, and ``lr`` (the
  learning rate ``eta``, Sec. 3) where the run has one constant learning rate.

:class:`Record` is that interface as a mixin: a subclass (usually a dataclass) provides the two
attributes ``arrays`` and ``meta`` and inherits the accessors. It is deliberately not a
dataclass itself, so frozen and mutable dataclasses can both derive from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Record"]


class Record:
    """Accessors over ``self.arrays`` (``dict[str, np.ndarray]``) and ``self.meta`` (``dict``).

    ``record[key]`` returns an array (``KeyError`` naming the available keys otherwise),
    ``key in record`` tests for one, :meth:`keys` lists them (sorted); :attr:`steps_done`,
    :attr:`stop_reason` and :attr:`lr` read ``meta``.
    """

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    def _missing(self, key: str) -> str:
        """The ``KeyError`` text for an unknown ``key`` (subclasses may name the run)."""
        return f"no array {key!r}; available: {', '.join(sorted(self.arrays))}"

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self.arrays[key]
        except KeyError:
            raise KeyError(self._missing(key)) from None

    def __contains__(self, key: object) -> bool:
        return key in self.arrays

    def keys(self) -> list[str]:
        """The recorded array names, sorted."""
        return sorted(self.arrays)

    @property
    def steps_done(self) -> int:
        """Steps the run completed (``meta["steps_done"]``, 0 when absent)."""
        return int(self.meta.get("steps_done", 0))

    @property
    def stop_reason(self) -> str:
        """Why the run ended (``meta["stop_reason"]``, e.g. ``"completed"``; ``""`` when absent)."""
        return str(self.meta.get("stop_reason", ""))

    @property
    def lr(self) -> float | None:
        """The constant learning rate ``eta`` (``meta["lr"]``); ``None`` for a run without one
        (a learning-rate schedule such as ``eta_t = 1/S(theta_t)``)."""
        value = self.meta.get("lr")
        return None if value is None else float(value)
