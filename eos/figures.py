r"""Multi-panel figures (and the few numbers their captions quote) for the experiment chapters.

The chapters ``progressive_sharpening``, ``coupling_theorem`` and ``architectures`` draw the
paper's Fig. 1, Fig. 4, App. E and App. G from cached runs (:class:`eos.experiments.Result`).
Each function here takes results (or their arrays), returns a :class:`matplotlib.figure.Figure`
drawn in the book's shared style (:mod:`eos.plotting`) or a small table/number, and leaves
saving and gluing to the notebook.

* :func:`gd_curves`, :func:`edge_of_stability_summary`, :func:`plot_progressive_sharpening`
  -- Fig. 1: the loss and sharpness :math:`S(\theta) = \lambda_{\max}(\nabla^2 L(\theta))`
  (Definition 1) of gradient descent before and after it reaches :math:`2/\eta`.
* :func:`theorem1_residuals`, :func:`plot_theorem1` -- Theorem 1's three predictions
  (loss :math:`L(\theta^\dagger_t) + \hat x_t^2/\eta`, sharpness
  :math:`2/\eta + \hat y_t + (\nabla S_t\cdot u_t)\hat x_t`, deviation :math:`\theta^\dagger_t + \hat v_t`)
  against gradient descent, with the residuals next to their error scales
  :math:`\epsilon_t\delta_t^2/\eta`, :math:`\epsilon_t^2/\eta`, :math:`\epsilon_t\delta_t`.
* :data:`ASSUMPTION_PANELS`, :func:`plot_assumptions`, :func:`assumption_table` -- App. E's
  eight plots per run and a per-run verdict table (:func:`eos.analysis.assumptions.summarize`).
* :func:`cycle_window`, :func:`plot_tracking`, :func:`plot_tracking_overview`,
  :func:`agreement_frame` -- Fig. 4 / App. G: gradient descent, the predicted dynamics, the
  constrained trajectory and gradient flow (loss, sharpness, :math:`\|\theta_t-\theta^\dagger_t\|`
  with the fixed point :math:`\delta_t`), a zoomed cycle, and the agreement table.
* :func:`describe_run` -- the one-line description of a run's profile and sizes that every
  caption quotes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from eos.analysis import agreement as _agreement
from eos.analysis import assumptions as _assumptions
from eos.plotting import COLORS, LABELS, sweep_colors, threshold_line

__all__ = [
    "ASSUMPTION_PANELS",
    "agreement_frame",
    "assumption_table",
    "cycle_window",
    "describe_config",
    "describe_run",
    "edge_of_stability_summary",
    "gd_curves",
    "plot_assumptions",
    "plot_progressive_sharpening",
    "plot_theorem1",
    "plot_tracking",
    "plot_tracking_overview",
    "prediction_breakdown",
    "theorem1_residuals",
]

_DATASET_NAMES = {
    "cifar10": "CIFAR-10",
    "cifar10_binary": "CIFAR-10 cats vs dogs",
    "sst2": "SST-2",
}


def _arrays(run: Any) -> Mapping[str, np.ndarray]:
    """The trajectory arrays of a Result, a Trajectory or a plain mapping."""
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


def _get(arrays: Mapping[str, Any], key: str) -> np.ndarray:
    if key not in arrays:
        raise ValueError(f"the run has no array {key!r}; available: {', '.join(sorted(arrays))}")
    return np.asarray(arrays[key], dtype=np.float64)


def _lr(run: Any, lr: float | None) -> float:
    if lr is not None:
        value = float(lr)
    elif getattr(run, "lr", None) is not None:
        value = float(run.lr)
    else:
        raise ValueError("lr is required when the run is a plain dict of arrays")
    if not value > 0:
        raise ValueError(f"lr must be positive, got {value}")
    return value


# ============================================================================ captions
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
    data = _DATASET_NAMES.get(c.dataset, c.dataset)
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
    if prof is None and isinstance(getattr(result, "provenance", None), Mapping):
        prof = result.provenance.get("profile")
    steps = result.steps_done if result.config.kind == "track" else None
    return describe_config(result.config, profile=prof, steps=steps)


# ============================================================================ Fig. 1
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


def plot_progressive_sharpening(results: Sequence[Any]) -> Figure:
    """Fig. 1 for several learning rates: loss (top) and sharpness with :math:`2/\\eta` (bottom).

    One column per ``"gd"`` run; a dotted vertical line marks the first iterate with
    :math:`S(\\theta) \\ge 2/\\eta`.
    """
    results = list(results)
    if not results:
        raise ValueError("results is empty")
    n = len(results)
    colors = sweep_colors(max(n, 2))
    fig, axes = plt.subplots(2, n, figsize=(3.4 * n + 0.6, 5.2), squeeze=False, sharex="col")
    for j, r in enumerate(results):
        c = gd_curves(r)
        t0 = int(c["instability_step"])
        a_loss, a_s = axes[0, j], axes[1, j]
        a_loss.plot(c["loss_step"], c["loss"], color=colors[j], lw=1.0)
        a_loss.set_yscale("log")
        a_loss.set_title(rf"$\eta = {r.lr:g}$  ($2/\eta = {2 / r.lr:.0f}$)")
        a_s.plot(c["sharpness_step"], c["sharpness"], color=colors[j], lw=1.0, label="sharpness")
        threshold_line(a_s, r.lr)
        for ax in (a_loss, a_s):
            ax.axvline(t0, color=COLORS["fixed_point"], ls=":", lw=1.0)
        a_s.set_xlabel("step")
        top = max(np.nanmax(c["sharpness"]), 2 / r.lr)
        a_s.set_ylim(0, 1.15 * top)
    axes[0, 0].set_ylabel("training loss")
    axes[1, 0].set_ylabel(r"sharpness $S(\theta_t)$")
    axes[1, 0].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


# ============================================================================ Theorem 1
def theorem1_residuals(run: Any, lr: float | None = None) -> dict[str, np.ndarray]:
    """Theorem 1's three residuals per tracked step and the error scales they are bounded by.

    With :math:`\\epsilon_t = \\eta\\sqrt{\\alpha_t}` and :math:`\\delta_t = \\sqrt{2\\alpha_t/\\beta_t}`
    (Definitions 4, 6) along the constrained trajectory:

    - ``loss``: :math:`|L(\\theta_t) - L(\\theta^\\dagger_t) - \\hat x_t^2/\\eta|`, scale
      ``loss_scale`` :math:`= \\epsilon_t\\delta_t^2/\\eta`;
    - ``sharpness``: :math:`|S(\\theta_t) - 2/\\eta - \\hat y_t - (\\nabla S_t\\cdot u_t)\\hat x_t|`,
      scale ``sharpness_scale`` :math:`= \\epsilon_t^2/\\eta`;
    - ``deviation``: :math:`\\|\\theta_t - \\theta^\\dagger_t - \\hat v_t\\|`, scale
      ``deviation_scale`` :math:`= \\epsilon_t\\delta_t`;

    and ``<name>_ratio`` = residual / scale (Theorem 1: O(1)). ``step`` is the tracked step.
    """
    a = _arrays(run)
    eta = _lr(run, lr)
    eps = _get(a, "constrained/epsilon")
    delta = _get(a, "constrained/delta")
    out = {
        "step": np.asarray(a["step"]),
        "loss": np.abs(_get(a, "gd/loss") - _get(a, "theorem1/loss")),
        "loss_scale": eps * delta**2 / eta,
        "sharpness": np.abs(_get(a, "gd/sharpness") - _get(a, "theorem1/sharpness")),
        "sharpness_scale": eps**2 / eta,
        "deviation": _get(a, "theorem1/deviation"),
        "deviation_scale": eps * delta,
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in ("loss", "sharpness", "deviation"):
            out[f"{k}_ratio"] = out[k] / out[f"{k}_scale"]
    return out


def plot_theorem1(result: Any, *, lr: float | None = None, title: str | None = None) -> Figure:
    """Theorem 1 on one run: top, gradient descent against the three predictions; bottom,
    each residual (log scale) against its error scale (:func:`theorem1_residuals`)."""
    a = _arrays(result)
    eta = _lr(result, lr)
    t = np.asarray(a["step"])
    res = theorem1_residuals(a, eta)
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.0), sharex=True)
    (a_l, a_s, a_d), (r_l, r_s, r_d) = axes
    gd_kw = dict(color=COLORS["gd"], lw=1.0, label=LABELS["gd"])
    pr_kw = dict(color=COLORS["predicted"], lw=1.0, ls="--", label="Theorem 1")
    a_l.plot(t, _get(a, "gd/loss"), **gd_kw)
    a_l.plot(t, _get(a, "theorem1/loss"), **pr_kw)
    a_l.plot(t, _get(a, "constrained/loss"), color=COLORS["constrained"], lw=1.0,
             label=LABELS["constrained"])  # fmt: skip
    a_l.set_title(r"loss: $L(\theta^\dagger_t) + \hat x_t^2/\eta$")
    a_s.plot(t, _get(a, "gd/sharpness"), **gd_kw)
    a_s.plot(t, _get(a, "theorem1/sharpness"), **pr_kw)
    threshold_line(a_s, eta)
    a_s.set_title(r"sharpness: $2/\eta + \hat y_t + (\nabla S_t\cdot u_t)\hat x_t$")
    a_d.plot(t, _get(a, "gd/distance"), **gd_kw)
    a_d.plot(t, _get(a, "predicted/distance"), color=COLORS["predicted"], lw=1.0, ls="--",
             label=r"$\|\hat v_t\|$")  # fmt: skip
    a_d.plot(t, _get(a, "constrained/delta"), color=COLORS["fixed_point"], lw=1.0, ls=":",
             label=LABELS["fixed_point"])  # fmt: skip
    a_d.set_title(r"deviation: $\|\theta_t - \theta^\dagger_t\|$ vs $\|\hat v_t\|$")
    for ax, key, scale_label in (
        (r_l, "loss", r"$\epsilon_t\delta_t^2/\eta$"),
        (r_s, "sharpness", r"$\epsilon_t^2/\eta$"),
        (r_d, "deviation", r"$\epsilon_t\delta_t$"),
    ):
        shown = np.where(res[key] > 0, res[key], np.nan)  # e.g. v_0 = v-hat_0 exactly
        ax.semilogy(t, shown, color=COLORS["gd"], lw=1.0, label="residual")
        ax.semilogy(t, res[f"{key}_scale"], color=COLORS["threshold"], ls="--", lw=1.0,
                    label=scale_label)  # fmt: skip
        ax.set_xlabel("steps since instability")
        ax.legend(loc="best", fontsize="small")
    r_l.set_ylabel("|GD - Theorem 1|")
    r_d.set_ylabel("")
    for ax in (a_l, a_s, a_d):
        ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ============================================================================ App. E
#: App. E's eight plots, in the paper's order: (title, keys plotted, reference).
#: ``reference`` is ``"zero"`` (a line at 0), ``"epsilon"`` (the run's epsilon_t, for
#: Assumption 5's O(epsilon) ratios) or ``None``.
ASSUMPTION_PANELS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    (r"A1: $\alpha_t$", ("alpha",), "zero"),
    (r"$\epsilon_t = \eta\sqrt{\alpha_t}$", ("epsilon",), None),
    (r"A4: $\alpha_t/(\|\nabla L_t\|\|\nabla S_t^\perp\|)$", ("a4_alignment",), None),
    (r"A4: $\|\nabla S^\perp_t\|/\rho_3$", ("a4_grad_sharpness_over_rho3",), None),
    (r"A3: $\rho_4$ vs $\eta\rho_3^2$", ("rho4", "eta_rho3_sq"), None),
    (r"A5: $\|\nabla^3L_t(v,w)\|/\rho_3$, $v,w\perp u$", ("a5_third_perp",), "epsilon"),
    (
        r"A5: $|\nabla^2L_t(\hat v^\perp,\hat v^\perp)|$ ratio",
        ("a5_hessian_displacement",),
        "epsilon",
    ),
    (r"A5: $|\lambda_{\min}|/\|\nabla^2L_t\|$", ("a5_lambda_min",), "epsilon"),
)


def _assumption_history(run: Any) -> dict[str, np.ndarray]:
    a = _arrays(run)
    hist = {k.split("/", 1)[1]: np.asarray(v, np.float64) for k, v in a.items()
            if k.startswith("assumptions/")}  # fmt: skip
    if "step" not in hist or hist["step"].size == 0:
        raise ValueError("the run has no App. E diagnostics (assumptions/step is missing or empty)")
    return hist


def plot_assumptions(results: Sequence[Any], *, title: str | None = None) -> Figure:
    """App. E's eight plots for each run (one row per run, e.g. per learning rate).

    Each quantity is evaluated along the constrained trajectory every ``diag_every`` steps
    (:func:`eos.analysis.assumptions.assumption_quantities`). Assumption 3's panel shows
    :math:`\\rho_4` and :math:`\\eta\\rho_3^2` together (log scale); Assumption 5's ratios are
    drawn with the run's :math:`\\epsilon_t` (dashed), the size the theory asks them to be of.
    """
    results = list(results)
    if not results:
        raise ValueError("results is empty")
    n = len(results)
    fig, axes = plt.subplots(n, 8, figsize=(19, 1.9 * n + 0.7), squeeze=False)
    for i, r in enumerate(results):
        h = _assumption_history(r)
        eta = _lr(r, None)
        h["eta_rho3_sq"] = eta * h["rho3"] ** 2
        t = h["step"]
        for j, (ttl, keys, ref) in enumerate(ASSUMPTION_PANELS):
            ax = axes[i, j]
            if keys == ("rho4", "eta_rho3_sq"):
                ax.semilogy(t, h["rho4"], color=COLORS["gd"], lw=1.2, marker=".", label=r"$\rho_4$")
                ax.semilogy(t, h["eta_rho3_sq"], color=COLORS["predicted"], lw=1.2, ls="--",
                            marker=".", label=r"$\eta\rho_3^2$")  # fmt: skip
                if i == 0:
                    ax.legend(fontsize="x-small", loc="best")
            else:
                ax.plot(t, h[keys[0]], color=COLORS["constrained"], lw=1.2, marker=".")
            if ref == "zero":
                ax.axhline(0, color=COLORS["threshold"], ls="--", lw=0.8)
            elif ref == "epsilon":
                ax.plot(t, h["epsilon"], color=COLORS["threshold"], ls="--", lw=0.8,
                        label=r"$\epsilon_t$")  # fmt: skip
                if i == 0 and j == 5:
                    ax.legend(fontsize="x-small", loc="best")
            if i == 0:
                ax.set_title(ttl, fontsize="small")
            if i == n - 1:
                ax.set_xlabel("steps since instability", fontsize="small")
            ax.tick_params(labelsize="x-small")
        axes[i, 0].set_ylabel(rf"$\eta = {eta:g}$")
    if title:
        fig.suptitle(title, y=1.0)
    fig.tight_layout()
    return fig


#: Short column names of :func:`assumption_table` (quantity -> column).
_ASSUMPTION_COLUMNS = {
    "alpha": "A1 alpha>0",
    "epsilon": "eps small",
    "a4_alignment": "A4 alignment",
    "a4_grad_sharpness_over_rho3": "A4 |gS_perp|/rho3",
    "a3_ratio": "A3 rho4/(eta rho3^2)",
    "a5_third_perp": "A5 third/eps",
    "a5_hessian_displacement": "A5 hessian/eps",
    "a5_lambda_min": "A5 lambda_min/eps",
}


def assumption_table(results: Mapping[str, Any], **criteria: Any):
    """Per run (rows) and assumption (columns): ``"yes (m)"`` / ``"no (m)"`` with the margin
    statistic ``m`` of :func:`eos.analysis.assumptions.summarize` (min alpha; max epsilon; for
    Assumption 4 the min..max range; max rho4/(eta rho3^2); max ratio/epsilon for Assumption 5).

    Returns ``(frame, verdicts)``: a pandas DataFrame for display and a dict
    ``{run: {quantity: (holds, statistic)}}`` for the text and the asserts. ``criteria`` are
    passed to ``summarize`` (``epsilon_small``, ``theta1_range``, ``big_o_constant``).
    """
    import pandas as pd

    table: dict[str, dict[str, str]] = {}
    verdicts: dict[str, dict[str, tuple[bool | None, float]]] = {}
    for name, r in results.items():
        rows = _assumptions.summarize(_assumption_history(r), **criteria)
        cells: dict[str, str] = {}
        verdicts[name] = {}
        for row in rows:
            q = row["quantity"]
            if q not in _ASSUMPTION_COLUMNS:
                continue
            holds, stat = row["holds"], float(row["statistic"])
            verdicts[name][q] = (holds, stat)
            if q.startswith("a4_"):
                shown = f"{row['min']:.2g}..{row['max']:.2g}"
            else:
                shown = f"{stat:.2g}"
            mark = "—" if holds is None else ("yes" if holds else "NO")
            cells[_ASSUMPTION_COLUMNS[q]] = f"{mark} ({shown})"
        table[name] = cells
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.name = "run"
    return frame, verdicts


# ============================================================================ Fig. 4 / App. G
def cycle_window(run: Any, *, min_width: int = 8) -> tuple[int, int]:
    """Steps ``(t0, t1)`` of one self-stabilization cycle, for Fig. 4's zoomed row.

    A cycle shows up as one excursion of :math:`|x_t|` above :math:`\\delta_t` (blowup, then
    self-stabilization and return to stability, Sec. 4.1); without ``gd/x`` the distance
    :math:`\\|\\theta_t - \\theta^\\dagger_t\\|` is used instead. The window is the largest
    excursion (peak of :math:`|x_t|/\\delta_t`) in the second half of the run (the first ones are
    transients out of :math:`\\theta_0`), else anywhere, padded by twice its width before it
    (the lead-in of progressive sharpening and blowup) and once after; when there is no excursion,
    the last ``max(min_width, n/4)`` steps. Always within ``[0, n-1]`` and at least ``min_width``
    wide (or the whole run when shorter).
    """
    a = _arrays(run)
    d = np.abs(_get(a, "gd/x")) if "gd/x" in a else _get(a, "gd/distance")
    delta = _get(a, "constrained/delta")
    n = d.size
    if n <= min_width + 1:
        return 0, max(n - 1, 0)
    ratio = d / delta
    above = ratio > 1
    excursions = []  # (start, end, peak)
    t = 0
    while t < n:
        if above[t]:
            s = t
            while t < n and above[t]:
                t += 1
            excursions.append((s, t - 1, float(np.max(ratio[s:t]))))
        t += 1
    late = [e for e in excursions if e[0] >= n // 2]
    pool = late or excursions
    if not pool:
        w = max(min_width, n // 4)
        return n - 1 - w, n - 1
    s, e, _ = max(pool, key=lambda ex: ex[2])
    width = e - s + 1
    t0, t1 = max(0, s - 2 * width), min(n - 1, e + width)
    if t1 - t0 < min_width:
        extra = min_width - (t1 - t0)
        t0 = max(0, t0 - extra // 2 - extra % 2)
        t1 = min(n - 1, t0 + min_width)
    return int(t0), int(t1)


def prediction_breakdown(
    run: Any, prefix: str = "predicted", *, factor: float = 10.0
) -> int | None:
    r"""The first tracked step at which the ``prefix`` dynamics (``"predicted"``, eq. (5)-(6), or
    ``"generalized"``, App. F) have left gradient descent's scale, or ``None`` if they never did.

    That is the first step where the loss at :math:`\theta^\dagger_t + \hat v_t` is not finite or
    exceeds ``factor`` times the largest loss gradient descent reached. The predicted map
    :math:`\hat x_{t+1} = -(1 + \eta\hat y_t)\hat x_t` diverges once :math:`\eta\hat y_t < -2`,
    which happens when :math:`\epsilon_t = \eta\sqrt{\alpha_t}` is not small, outside Theorem 1's
    regime; the figures stop drawing such a trace there, and the chapters report the step.
    """
    a = _arrays(run)
    if f"{prefix}/loss" not in a:
        return None
    loss = _get(a, f"{prefix}/loss")
    gd = _get(a, "gd/loss")
    bound = factor * np.nanmax(np.abs(gd)) if np.isfinite(gd).any() else np.inf
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(loss) | (np.abs(loss) > bound)
    return int(np.asarray(a["step"])[np.argmax(bad)]) if bad.any() else None


def _series(a: Mapping[str, Any], prefix: str, what: str, two_step: bool):
    t = np.asarray(a["step"], np.float64)
    y = _get(a, f"{prefix}/{what}")
    if prefix in ("predicted", "generalized"):
        stop = prediction_breakdown(a, prefix)
        if stop is not None:  # not drawn after it diverged (its axes would span 1e200)
            y = np.where(t >= stop, np.nan, y)
    if two_step and what == "sharpness" and y.size >= 2:
        return 0.5 * (t[:-1] + t[1:]), _agreement.two_step_average(y)
    return t, y


_TRACES = ("gd", "predicted", "constrained", "flow")


def _figure_legend(fig: Figure, axes, *, top: float) -> None:
    """One legend for the whole figure, above the panels (labels deduplicated, in order)."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize="small",
               bbox_to_anchor=(0.5, top))  # fmt: skip


def _draw_tracking_row(axes, a, eta, *, two_step, generalized, window=None):
    a_l, a_s, a_d = axes
    if window is not None and two_step:  # the raw, period-2 sharpness of GD behind its average
        a_s.plot(np.asarray(a["step"], np.float64), _get(a, "gd/sharpness"), color=COLORS["gd"],
                 lw=0.6, alpha=0.35, label="gradient descent (raw)")  # fmt: skip
    traces = list(_TRACES) + (["generalized"] if generalized and "generalized/loss" in a else [])
    for key in traces:
        ls = "--" if key == "flow" else "-"
        lw = 1.4 if key == "gd" else 1.0
        kw = dict(color=COLORS[key], ls=ls, lw=lw, label=LABELS[key])
        a_l.plot(*_series(a, key, "loss", two_step), **kw)
        a_s.plot(*_series(a, key, "sharpness", two_step), **kw)
        if key != "constrained":
            a_d.plot(*_series(a, key, "distance", two_step), **kw)
    t = np.asarray(a["step"], np.float64)
    a_d.plot(t, _get(a, "constrained/delta"), color=COLORS["fixed_point"], lw=1.0, ls=":",
             label="predicted fixed point " + LABELS["fixed_point"])  # fmt: skip
    threshold_line(a_s, eta)
    if window is not None:
        t0, t1 = window
        for ax in axes:
            ax.set_xlim(t0, t1)
            _autoscale_y(ax, t0, t1)


def _autoscale_y(ax, t0: float, t1: float) -> None:
    """Fit the y-range to the data lines inside ``[t0, t1]`` (reference lines ignored)."""
    lo, hi = np.inf, -np.inf
    for line in ax.get_lines():
        if line.get_transform() != ax.transData:  # axhline & co. span the axes
            continue
        x, y = (np.asarray(v, np.float64) for v in line.get_data())
        m = (x >= t0) & (x <= t1) & np.isfinite(y)
        if m.any():
            lo, hi = min(lo, y[m].min()), max(hi, y[m].max())
    if np.isfinite(lo) and np.isfinite(hi):
        pad = 0.05 * (hi - lo) if hi > lo else (abs(hi) * 0.05 or 1e-12)
        ax.set_ylim(lo - pad, hi + pad)


def plot_tracking(
    result: Any,
    *,
    lr: float | None = None,
    window: tuple[int, int] | None = None,
    two_step: bool = True,
    generalized: bool = False,
    title: str | None = None,
) -> Figure:
    """Fig. 4 for one run: loss, sharpness and :math:`\\|\\theta_t - \\theta^\\dagger_t\\|` of gradient
    descent, the predicted dynamics (evaluated at :math:`\\theta^\\dagger_t + \\hat v_t`), the
    constrained trajectory and gradient flow (dashed), with the predicted fixed point
    :math:`\\delta_t`.

    Top row: a zoom on one cycle (``window``, default :func:`cycle_window`); bottom row: the
    whole run, the zoom marked by a dashed rectangle. ``two_step``: sharpness as two-step
    averages (the paper's choice; Theorem 1's period-2 term :math:`(\\nabla S_t\\cdot u_t)\\hat x_t`
    cancels; the zoom also shows GD's raw sharpness, faint), ``False`` for raw values.
    ``generalized``: add App. F's generalized predictions.
    """
    a = _arrays(result)
    eta = _lr(result, lr)
    if window is None:
        window = cycle_window(a)
    fig, axes = plt.subplots(2, 3, figsize=(12.5, 6.2))
    _draw_tracking_row(axes[0], a, eta, two_step=two_step, generalized=generalized,
                       window=window)  # fmt: skip
    _draw_tracking_row(axes[1], a, eta, two_step=two_step, generalized=generalized)
    t0, t1 = window
    for ax_top, ax in zip(axes[0], axes[1]):
        y0, y1 = ax_top.get_ylim()
        ax.add_patch(Rectangle((t0, y0), t1 - t0, y1 - y0, fill=False, ls="--", lw=1.0,
                               ec="0.2", zorder=5))  # fmt: skip
        ax.set_xlabel("steps since instability")
    avg = " (two-step average)" if two_step else ""
    axes[0, 0].set_title("training loss")
    axes[0, 1].set_title("sharpness" + avg)
    axes[0, 2].set_title(r"$\|\theta_t - \theta^\dagger_t\|$")
    axes[0, 0].set_ylabel("one cycle (zoom)")
    axes[1, 0].set_ylabel("whole run")
    fig.tight_layout()
    _figure_legend(fig, axes[1], top=1.0)
    if title:
        fig.suptitle(title, y=1.0 + 0.4 / fig.get_figheight(), va="bottom")
    return fig


def plot_tracking_overview(
    results: Sequence[Any], *, two_step: bool = True, generalized: bool = False,
    title: str | None = None,
) -> Figure:  # fmt: skip
    """App. G layout for one setting: one row per run (learning rate), the whole run, same
    panels and colours as :func:`plot_tracking`."""
    results = list(results)
    if not results:
        raise ValueError("results is empty")
    n = len(results)
    fig, axes = plt.subplots(n, 3, figsize=(12.5, 2.6 * n + 0.6), squeeze=False)
    for i, r in enumerate(results):
        _draw_tracking_row(axes[i], _arrays(r), _lr(r, None), two_step=two_step,
                           generalized=generalized)  # fmt: skip
        axes[i, 0].set_ylabel(rf"$\eta = {r.lr:g}$" + "\nloss")
    axes[0, 1].set_title("sharpness" + (" (two-step average)" if two_step else ""))
    axes[0, 0].set_title("training loss")
    axes[0, 2].set_title(r"$\|\theta_t - \theta^\dagger_t\|$")
    for ax in axes[-1]:
        ax.set_xlabel("steps since instability")
    fig.tight_layout()
    _figure_legend(fig, axes[0], top=1.0)
    if title:
        fig.suptitle(title, y=1.0 + 0.4 / fig.get_figheight(), va="bottom")
    return fig


#: Columns of :func:`agreement_frame`: (column name, key of agreement_table).
AGREEMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("loss err (median)", "predicted_loss_median"),
    ("loss err (worst)", "predicted_loss_worst"),
    ("sharpness err (median)", "predicted_sharpness_median"),
    ("sharpness err (worst)", "predicted_sharpness_worst"),
    ("||theta-dagger||/||v_hat|| (median)", "deviation_ratio_median"),
    ("quarter turns", "quarter_turns"),
    ("cycles", "cycles"),
    ("flow/GD distance (end)", "flow_over_gd_distance_final"),
    ("-> (delta_t, 0)", "fixed_point_approached"),
)


def agreement_frame(results: Mapping[str, Any], **kwargs: Any):
    """The agreement table of Fig. 4 / App. G, one row per run.

    Returns ``(frame, rows)``: a pandas DataFrame with the GD step at which the run became unstable
    (``"not reached"`` when it never did), the tracked steps, the stop reason, the
    largest :math:`|S(\\theta^\\dagger_t) - 2/\\eta|` relative to :math:`2/\\eta` (how well the
    constrained trajectory stays on the boundary of :math:`\\mathcal M`), and
    :data:`AGREEMENT_COLUMNS` (relative errors of the predicted loss and two-step-averaged
    sharpness against GD, median and worst over the tracked steps;
    :math:`\\|\\theta_t-\\theta^\\dagger_t\\|/\\|\\hat v_t\\|`; quarter turns through the four
    stages (3: all four seen) and complete cycles; gradient flow's
    distance to :math:`\\theta^\\dagger` over GD's at the end; whether :math:`(|x_t|, y_t)`
    approached :math:`(\\delta_t, 0)`), the relative gap between gradient flow's and GD's loss at
    the end, and the full
    :func:`eos.analysis.agreement.agreement_table` rows ``{run: row}`` (with ``dagger_residual``
    and ``flow_gd_loss_gap_final`` added). ``kwargs`` go to ``agreement_table``.
    """
    import pandas as pd

    rows: dict[str, dict[str, Any]] = {}
    data: dict[str, dict[str, Any]] = {}
    for name, r in results.items():
        a = _arrays(r)
        eta = _lr(r, None)
        row = _agreement.agreement_table(a, eta, **kwargs)
        res = (
            _get(a, "constrained/residual_sharpness")
            if "constrained/residual_sharpness" in a
            else None
        )
        row["dagger_residual"] = (
            float(np.max(np.abs(res)) * eta / 2) if res is not None else float("nan")
        )
        if "flow/loss" in a:
            gd_end, flow_end = float(_get(a, "gd/loss")[-1]), float(_get(a, "flow/loss")[-1])
            row["flow_gd_loss_gap_final"] = (flow_end - gd_end) / abs(gd_end)
        rows[name] = row
        reached = getattr(r, "reached_instability", True)
        cells: dict[str, Any] = {
            "instability at step": getattr(r, "instability_step", None)
            if reached
            else "not reached",
            "tracked steps": getattr(r, "steps_done", row["steps"] - 1),
            "stop": getattr(r, "stop_reason", ""),
            "|S(dagger)-2/eta|/(2/eta)": row["dagger_residual"],
        }
        cells.update({col: row.get(key) for col, key in AGREEMENT_COLUMNS})
        cells["(flow - GD loss)/GD loss (end)"] = row.get("flow_gd_loss_gap_final")
        data[name] = cells
    frame = pd.DataFrame.from_dict(data, orient="index")
    frame.index.name = "run"
    return frame, rows
