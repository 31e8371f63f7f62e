"""Compatibility alias of :mod:`eos.figures.style` (the book's shared figure style).

Deprecated: import from :mod:`eos.figures.style` instead. Kept only until the last chapters
that import ``eos.plotting`` are switched; it defines nothing of its own.
"""

from __future__ import annotations

from eos.figures.style import (
    COLORS,
    LABELS,
    STAGE_COLORS,
    STAGE_NAMES,
    figure_dir,
    project_root,
    savefig,
    sweep_colors,
    threshold_line,
    use_style,
)

__all__ = [
    "COLORS",
    "LABELS",
    "STAGE_COLORS",
    "STAGE_NAMES",
    "figure_dir",
    "project_root",
    "savefig",
    "sweep_colors",
    "threshold_line",
    "use_style",
]
