"""The book's one Markdown table formatter (eos.analysis.tables)."""

from __future__ import annotations

import pytest

from eos.analysis.tables import markdown_table


def test_markdown_table():
    md = markdown_table({"a": {"class": "sub-quadratic", "n": 3, "x": 0.123456, "ok": True},
                            "b": {"n": 2, "y": float("nan")}})  # fmt: skip
    lines = md.splitlines()
    assert lines[0] == "| | class | n | x | ok | y |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert lines[2] == "| a | sub-quadratic | 3 | 0.123 | yes | — |"
    assert lines[3] == "| b | — | 2 | — | — | nan |"
    with pytest.raises(ValueError):
        markdown_table({})
