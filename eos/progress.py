"""Progress bars for long runs: ``tqdm.auto`` (a widget in Jupyter when ipywidgets is
installed, text otherwise), imported without its "IProgress not found" warning, which a
notebook kernel without ipywidgets would otherwise print into the book's cell outputs."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(**kwargs: Any):
    """``tqdm.auto.tqdm(**kwargs)``; pass ``disable=True`` for no bar."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm

        return tqdm(**kwargs)
