"""Shared test configuration.

- Tests run under ``EOS_PROFILE=smoke`` unless the caller chose a profile.
- ``EOS_DATA_DIR`` defaults to ``../shared/data`` (the offline copies of CIFAR-10 and
  SST-2 in their official layouts) when that folder exists; tests that need real data
  use the ``data_root`` fixture and are skipped, with the reason, when it is absent.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("EOS_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
if "EOS_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["EOS_DATA_DIR"] = str(SHARED_DATA)

import eos  # noqa: E402,F401  (enables float64 before any test builds arrays)


def _real_data_root() -> Path | None:
    env = os.environ.get("EOS_DATA_DIR")
    if env and (Path(env) / "cifar-10-batches-py").is_dir():
        return Path(env)
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding the real data sets; skips the test when there is none."""
    root = _real_data_root()
    if root is None:
        pytest.skip(
            "real data not available: set EOS_DATA_DIR to a folder with cifar-10-batches-py/ and SST-2/"
        )
    return root


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Keep figures and cached results of unit tests out of the user's folders."""
    if "EOS_FIGURE_DIR" not in os.environ:
        monkeypatch.setenv("EOS_FIGURE_DIR", str(tmp_path_factory.getbasetemp() / "figures"))
    if "EOS_RESULTS_DIR" not in os.environ:
        monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path_factory.getbasetemp() / "results"))


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Drop every compiled XLA program after each test module.

    Each compiled CPU executable holds ~10 memory mappings; the whole suite compiles thousands
    of programs, and one process would otherwise reach the kernel's ``vm.max_map_count``
    (65,530 by default), where LLVM's JIT segfaults while compiling."""
    yield
    jax.clear_caches()
    gc.collect()
