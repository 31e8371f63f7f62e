"""Progress bars for long runs: ``tqdm.auto`` (a widget in Jupyter when ipywidgets is
installed, text otherwise), imported without its "IProgress not found" warning, which a
notebook kernel without ipywidgets would otherwise print into the book's cell outputs. The
warning comes once, at the first import of ``tqdm.auto``, by whoever imports it (pooch does,
at ``import pooch``), so :func:`import_pooch` goes through here too."""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

__all__ = ["import_pooch", "progress_bar"]


def _tqdm_auto() -> type:
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


def progress_bar(**kwargs: Any):
    """``tqdm.auto.tqdm(**kwargs)``; pass ``disable=True`` for no bar."""
    return _tqdm_auto()(**kwargs)


def import_pooch() -> ModuleType:
    """``import pooch`` (which imports ``tqdm.auto``) without the warning."""
    _tqdm_auto()
    import pooch

    return pooch
