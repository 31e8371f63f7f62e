"""Argument checks of the loaders (split names, sizes, the training size of held-out splits)."""

from __future__ import annotations

from typing import Any

__all__ = ["OPTIONS", "check_n", "check_options", "check_split", "check_train_n"]

#: Keywords each loader takes besides ``n``, ``split``, ``root`` and ``train_n`` (an
#: experiment's ``data_kwargs``), with what they must be.
OPTIONS: dict[str, dict[str, str]] = {
    "cifar10": {},
    "cifar10_binary": {},
    "sst2": {"max_len": "a positive integer (tokens per phrase; longer phrases are truncated)"},
}


def check_split(split: str, valid: tuple[str, ...]) -> str:
    if split not in valid:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(valid)}")
    return split


def check_n(n: Any, what: str, *, even: bool = False) -> int:
    try:
        ok = not isinstance(n, bool) and int(n) == n and n > 0
    except (TypeError, ValueError, OverflowError):  # OverflowError: n = inf
        ok = False
    if not ok:
        raise ValueError(f"{what} must be a positive integer, got {n!r}")
    n = int(n)
    if even and n % 2:
        raise ValueError(
            f"{what}={n} is odd, but this data set is balanced (n/2 examples of each class); "
            "pass an even n"
        )
    return n


def check_train_n(split: str, train_n: Any, *, even: bool = False) -> int | None:
    """``None`` for the training split; for held-out splits the required training size."""
    if split == "train":
        if train_n is not None:
            raise ValueError("train_n= is only used for held-out splits (split='test'/'dev')")
        return None
    if train_n is None:
        raise ValueError(
            f"split={split!r} is preprocessed with the training selection (standardisation "
            "statistics / vocabulary): pass train_n=, the size n of the training set the "
            "model is trained on (e.g. train_n=5000)"
        )
    return check_n(train_n, "train_n", even=even)


def check_options(dataset: str, options: Any) -> dict[str, Any]:
    """``options`` (a loader's extra keywords, see :data:`OPTIONS`) checked for ``dataset``:
    unknown keywords and values out of range raise a ``ValueError`` naming the keyword."""
    if dataset not in OPTIONS:
        raise ValueError(f"unknown dataset {dataset!r}; valid datasets are {', '.join(OPTIONS)}")
    options = dict(options)
    valid = OPTIONS[dataset]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        choices = ", ".join(sorted(valid)) or "none"
        raise ValueError(
            f"unknown data_kwargs {unknown} for dataset {dataset!r}; valid keywords: {choices}"
        )
    for key, value in options.items():
        if key == "max_len":
            check_n(value, f"data_kwargs[{key!r}]")
    return options
