"""Compare two output files of ``benchmarks/tracking.py --save`` bit for bit.

Prints, for every key of either file, whether the arrays are identical (same bytes), equal
(``np.array_equal``, NaNs in the same places counting as equal; e.g. ``-0.0`` against ``0.0``),
or the largest absolute difference and the largest value (NaN positions that differ are named).
Exit status 0 if every key is equal in both files, 1 otherwise.

Usage: ``python benchmarks/compare_outputs.py BEFORE.npz AFTER.npz [--quiet]``
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def compare_arrays(a: np.ndarray, b: np.ndarray) -> tuple[bool, str]:
    """``(equal, description)`` of two arrays."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False, f"shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
    if a.tobytes() == b.tobytes():
        return True, "identical"
    floating = np.issubdtype(a.dtype, np.floating)
    if np.array_equal(a, b, equal_nan=floating):
        return True, "equal (bytes differ: signed zeros or NaN payloads)"
    if not (floating or np.issubdtype(a.dtype, np.integer)):
        return False, "differs"
    x, y = a.astype(np.float64), b.astype(np.float64)
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    both = ~(nan_x | nan_y)
    diff = float(np.max(np.abs(x[both] - y[both]))) if both.any() else 0.0
    scale = float(np.max(np.abs(y[both]))) if both.any() else 0.0
    text = f"max |difference| {diff:.3e} (max |value| {scale:.3e})"
    if (nan_x != nan_y).any():
        text += f", NaN at {int(np.sum(nan_x != nan_y))} different places"
    return False, text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--quiet", action="store_true", help="print only the keys that differ")
    args = ap.parse_args(argv)
    with (
        np.load(args.before, allow_pickle=False) as f,
        np.load(args.after, allow_pickle=False) as g,
    ):
        a = {k: f[k] for k in f.files}
        b = {k: g[k] for k in g.files}
    bad = 0
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            ok, text = False, f"only in {'after' if k not in a else 'before'}"
        else:
            ok, text = compare_arrays(a[k], b[k])
        bad += not ok
        if not (ok and args.quiet):
            print(f"{'  ' if ok else '! '}{k}: {text}")
    print(f"{len(set(a) | set(b)) - bad} of {len(set(a) | set(b))} keys equal, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
