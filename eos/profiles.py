"""Run-size profiles, chosen by the ``EOS_PROFILE`` environment variable.

This is the *only* place in :mod:`eos` that reads ``EOS_PROFILE``. Three profiles
share the same code and differ only in sizes:

``smoke``
    What the test suite uses: every notebook executes in seconds to a minute.
``quick``
    The CPU default for ``make book``: real edge-of-stability runs on data
    subsets, minutes per chapter on a 2-core CPU.
``paper``
    The paper's settings (App. D: 5,000 examples, full architectures), meant
    for a GPU.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

Profile = Literal["smoke", "quick", "paper"]
PROFILES: tuple[str, ...] = ("smoke", "quick", "paper")
DEFAULT_PROFILE: Profile = "quick"
ENV_VAR = "EOS_PROFILE"

T = TypeVar("T")


def validate_profile(name: str) -> Profile:
    """Return ``name`` if it is a known profile, else raise a clear ``ValueError``."""
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r}; valid profiles are {', '.join(PROFILES)} "
            f"(set with the {ENV_VAR} environment variable or the profile= argument)"
        )
    return name  # type: ignore[return-value]


def current_profile() -> Profile:
    """The profile named by ``EOS_PROFILE`` (default ``quick``), validated."""
    return validate_profile(os.environ.get(ENV_VAR, DEFAULT_PROFILE).strip() or DEFAULT_PROFILE)


def by_profile(*, smoke: T, quick: T, paper: T, profile: str | None = None) -> T:
    """Pick a value per profile, e.g. ``steps = by_profile(smoke=20, quick=400, paper=2000)``."""
    name = current_profile() if profile is None else validate_profile(profile)
    return {"smoke": smoke, "quick": quick, "paper": paper}[name]
