"""One shared figure style for the whole book: palette, labels, theme and where figures go.

Every chapter calls :func:`use_style` once and draws each trajectory with the
colour that :data:`COLORS` assigns to it, so that gradient descent, the
predicted dynamics, the constrained trajectory and gradient flow look the same
in every figure (one palette for the whole book; the other modules of
:mod:`eos.figures` take their colours from here). :func:`savefig` writes each
figure as PDF and PNG under a stable name and its profile's folder, with its provenance in the
files' metadata (:mod:`eos.figures.provenance`), ready to cite.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ and "ipykernel" not in __import__("sys").modules:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from eos.figures.provenance import WRITTEN, figure_folder, project_root  # noqa: E402, F401

_PALETTE = sns.color_palette("colorblind", 10)

#: Colours of the trajectories and reference lines used in every figure.
COLORS: dict[str, tuple[float, float, float] | str] = {
    "gd": _PALETTE[0],  # gradient descent (blue)
    "predicted": _PALETTE[1],  # predicted dynamics, eq. (5)-(6) (orange)
    "generalized": _PALETTE[4],  # generalized predicted dynamics, eq. (11) (purple)
    "constrained": _PALETTE[2],  # constrained trajectory theta-dagger, eq. (2) (green)
    "flow": _PALETTE[3],  # gradient flow (red)
    "central": _PALETTE[9],  # central flow (beyond the paper; light blue)
    "sam": _PALETTE[5],  # sharpness-aware minimisation (brown)
    "threshold": "0.35",  # the stability threshold 2/eta (dashed grey)
    "fixed_point": _PALETTE[7],  # the fixed point delta_t (grey)
}

#: Human-readable labels matching :data:`COLORS`.
LABELS: dict[str, str] = {
    "gd": "gradient descent",
    "predicted": "predicted dynamics",
    "generalized": "generalized predicted dynamics",
    "constrained": r"constrained trajectory $\theta^\dagger$",
    "flow": "gradient flow",
    "central": "central flow",
    "sam": "SAM",
    "threshold": r"$2/\eta$",
    "fixed_point": r"$\delta_t$",
}

#: Shading of the four stages of Sec. 4.1 (progressive sharpening, blowup,
#: self-stabilization, return to stability).
STAGE_COLORS: tuple = tuple(sns.color_palette("pastel", 4))
STAGE_NAMES: tuple[str, ...] = (
    "1: progressive sharpening",
    "2: blowup",
    "3: self-stabilization",
    "4: return to stability",
)


#: A sequential palette for sweeps over a parameter (learning rates, X(0), ...).
def sweep_colors(n: int) -> list[tuple[float, float, float]]:
    """``n`` colours from one sequential palette, for sweeps (learning rates, X(0), ...)."""
    return list(sns.color_palette("viridis", n))


def use_style() -> None:
    """Apply the book's seaborn theme (call once per notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=_PALETTE, font_scale=0.95)
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 200,
            "savefig.bbox": "tight",
            "axes.titlesize": "medium",
            "legend.frameon": False,
            "lines.linewidth": 1.6,
        }
    )


def figure_dir(profile: str | None = None) -> Path:
    """Where figures of ``profile`` (default ``EOS_PROFILE``) are written:
    ``<EOS_FIGURE_DIR or <repo>/figures>/<profile>`` (:mod:`eos.figures.provenance`)."""
    return figure_folder(profile)


def savefig(
    fig: matplotlib.figure.Figure,
    name: str,
    *,
    paper: str | None = None,
    experiments: Sequence[str] | None = None,
    chapter: str | None = None,
) -> tuple[Path, Path]:
    """Save ``fig`` as ``<figure_dir>/<name>.pdf`` and ``.png`` with its provenance; return both.

    ``name`` is the stable, citable name of the figure, e.g. ``"fig2-four-stages"``. Each file
    carries the record of :func:`eos.figures.provenance.figure_provenance` (paper figure,
    profile, experiments, version, commit, date, regenerating command) in its metadata. A
    figure drawn from the published bundle (registered as such) goes to the ``paper`` folder.
    ``paper``/``experiments``/``chapter`` override the registry (for unregistered figures).
    """
    from eos.figures import provenance

    if not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise ValueError(f"figure name {name!r} must be a plain file stem without spaces")
    record = provenance.figure_provenance(
        name, paper=paper, experiments=experiments, chapter=chapter
    )
    folder = figure_dir(record["profile"])
    paths = (folder / f"{name}.pdf", folder / f"{name}.png")
    with warnings.catch_warnings():  # matplotlib warns about the non-standard PDF info key
        warnings.filterwarnings("ignore", message="Unknown infodict keyword")
        fig.savefig(paths[0], metadata=provenance.pdf_metadata(record))
    fig.savefig(paths[1], metadata=provenance.png_metadata(record))
    WRITTEN.append({**record, "pdf": paths[0], "png": paths[1]})
    return paths


def threshold_line(ax: matplotlib.axes.Axes, lr: float, **kw) -> None:
    """Draw the stability threshold ``2/eta`` as a dashed horizontal line."""
    ax.axhline(
        2.0 / lr,
        color=COLORS["threshold"],
        ls="--",
        lw=1.0,
        label=kw.pop("label", LABELS["threshold"]),
        **kw,
    )
