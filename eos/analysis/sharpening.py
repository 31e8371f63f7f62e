r"""Progressive sharpening and the edge of stability of plain gradient descent (Sec. 3, Fig. 1).

Fig. 1 runs gradient descent with learning rate :math:`\eta` and follows its loss and its
sharpness :math:`S(\theta) = \lambda_{\max}(\nabla^2 L(\theta))` (Definition 1): the sharpness
rises (progressive sharpening) until it reaches :math:`2/\eta`, the threshold above which the
descent lemma (Lemma 1) no longer guarantees a decrease, and then hovers there while the loss
keeps falling, non-monotonically (the edge of stability). For a ``"gd"`` run of
:mod:`eos.experiments` (the to-instability history, then plain steps after instability):

- :func:`gd_curves` -- the loss and sharpness against the absolute step, both phases joined;
- :func:`edge_of_stability_summary` -- the numbers Fig. 1's text quotes: the sharpness over
  :math:`2/\eta` after instability, the share of steps at which the loss rises, and the loss
  decrease.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["edge_of_stability_summary", "gd_curves"]


def gd_curves(result: Any) -> dict[str, np.ndarray]:
    """Loss and sharpness of a ``"gd"`` run (Fig. 1) against the absolute GD step.

    Joins the to-instability history (sharpness checks, ``result.history``) with the plain GD
    steps after instability (``gd/loss`` every step, ``gd/sharpness`` every
    ``sharpness_every`` steps). Returns ``loss_step``, ``loss``, ``sharpness_step``,
    ``sharpness`` (sorted by step) and ``instability_step``.
    """
    if result.config.kind != "gd":
        raise ValueError(f"{result.name!r} is a {result.config.kind!r} run; gd_curves needs 'gd'")
    t0 = int(result.instability_step or 0)
    h = result.history
    h_step = np.asarray(h["step"], dtype=np.int64)
    keep = h_step < t0  # step t0 itself is the first entry after instability
    loss_step = np.concatenate([h_step[keep], t0 + np.asarray(result["step"], np.int64)])
    loss = np.concatenate([np.asarray(h["loss"])[keep], np.asarray(result["gd/loss"])])
    s_step = np.concatenate([h_step[keep], t0 + np.asarray(result["gd/sharpness_step"], np.int64)])
    sharp = np.concatenate([np.asarray(h["sharpness"])[keep], np.asarray(result["gd/sharpness"])])
    return {
        "loss_step": loss_step,
        "loss": loss.astype(np.float64),
        "sharpness_step": s_step,
        "sharpness": sharp.astype(np.float64),
        "instability_step": np.asarray(t0),
    }


def edge_of_stability_summary(result: Any) -> dict[str, float]:
    """The numbers Fig. 1's text quotes, for one ``"gd"`` run after instability.

    ``instability_step``; ``sharpness_ratio_mean`` / ``_min`` / ``_max``: the sharpness over
    :math:`2/\\eta` after instability; ``sharpness_start_ratio``: the same at the first sharpness
    check of the run (progressive sharpening makes it < 1); ``loss_increase_fraction``: the
    fraction of steps after instability at which the loss goes *up* (zero under the descent
    lemma, Lemma 1); ``loss_ratio``: final loss over the loss at instability (< 1: the loss keeps
    falling); ``loss_at_instability``, ``loss_final``; ``steps_after``.
    """
    thr = 2.0 / float(result.lr)
    loss = np.asarray(result["gd/loss"], dtype=np.float64)
    sharp = np.asarray(result["gd/sharpness"], dtype=np.float64)
    sharp = sharp[np.isfinite(sharp)]
    if loss.size < 2 or sharp.size < 1:
        raise ValueError(f"{result.name!r} has too few steps after instability to summarise")
    ratio = sharp / thr
    h_sharp = np.asarray(result.history["sharpness"], dtype=np.float64)
    return {
        "instability_step": float(result.instability_step or 0),
        "sharpness_ratio_mean": float(ratio.mean()),
        "sharpness_ratio_min": float(ratio.min()),
        "sharpness_ratio_max": float(ratio.max()),
        "sharpness_start_ratio": float(h_sharp[0] / thr) if h_sharp.size else float("nan"),
        "loss_increase_fraction": float(np.mean(np.diff(loss) > 0)),
        "loss_ratio": float(loss[-1] / loss[0]),
        "loss_at_instability": float(loss[0]),
        "loss_final": float(loss[-1]),
        "steps_after": float(loss.size - 1),
    }
