"""Markdown tables of per-run numbers, for the chapters' text (glued with ``myst_nb.glue``).

One formatter for every table the book prints as Markdown: the agreement metrics of
:func:`eos.analysis.agreement.agreement_table` (one line per run), the standard-vs-generalized
comparison of :func:`eos.analysis.run_agreement.agreement_rows`, App. F's classification and
limiting-sharpness tables. Rows are ``{row name: {column: value}}``; columns appear in the order
they are first met; a cell is

- ``—`` when the row has no such column (or the value is ``None``),
- the text itself for a string,
- ``yes`` / ``no`` for a boolean,
- the integer for an integer,
- the number to ``digits`` significant digits (``.3g``) otherwise (``nan`` stays ``nan``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["format_cell", "markdown_table"]


def format_cell(value: Any, digits: int = 3) -> str:
    """One cell of :func:`markdown_table` (see the module docstring for the rules)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def markdown_table(
    rows: Mapping[str, Mapping[str, Any]], digits: int = 3, *, index_name: str = ""
) -> str:
    """A Markdown table with one line per row name; ``index_name`` heads the row-name column
    (e.g. ``"run"``). Columns: the union of the rows' keys, in order of first appearance."""
    if not rows:
        raise ValueError("rows is empty")
    cols: list[str] = []
    for r in rows.values():
        cols.extend(c for c in r if c not in cols)
    head = f"| {index_name} | " if index_name else "| | "
    lines = [head + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in rows.items():
        lines.append(
            f"| {name} | " + " | ".join(format_cell(r.get(c), digits) for c in cols) + " |"
        )
    return "\n".join(lines)
