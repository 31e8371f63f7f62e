"""One shared figure style for the whole book: palette, labels, theme and where figures go.

Every chapter calls :func:`use_style` once and draws each trajectory with the
colour that :data:`COLORS` assigns to it, so that gradient descent, the
predicted dynamics, the constrained trajectory and gradient flow look the same
in every figure (one palette for the whole book; the other modules of
:mod:`eos.figures` take their colours from here). :func:`savefig` writes each
figure as PDF and PNG under a stable name, ready to cite.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ and "ipykernel" not in __import__("sys").modules:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

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


def project_root(start: Path | None = None) -> Path:
    """The repository root (the folder holding ``_config.yml``), else ``start``/cwd."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "eos").is_dir():
            return folder
    return here


def figure_dir() -> Path:
    """Where figures are written: ``EOS_FIGURE_DIR``, else ``<repo>/figures``."""
    env = os.environ.get("EOS_FIGURE_DIR")
    folder = Path(env).expanduser() if env else project_root() / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def savefig(fig: matplotlib.figure.Figure, name: str) -> tuple[Path, Path]:
    """Save ``fig`` as ``<figure_dir>/<name>.pdf`` and ``.png``; return both paths.

    ``name`` is the stable, citable name of the figure, e.g. ``"fig2-toy-four-stages"``.
    """
    if not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise ValueError(f"figure name {name!r} must be a plain file stem without spaces")
    folder = figure_dir()
    paths = (folder / f"{name}.pdf", folder / f"{name}.png")
    for path in paths:
        fig.savefig(path)
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
