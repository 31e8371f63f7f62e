"""CIFAR-10 (App. D.2) from the official python batches ``cifar-10-batches-py/``.

Each of ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` is a pickled dict with
``b'data'`` (uint8, ``(10000, 3072)``, channel-major: 1024 red, 1024 green, 1024 blue values of
a 32x32 image) and ``b'labels'`` (ints 0..9); only plain containers and numpy arrays are
unpickled. :func:`cifar10` takes the first ``n`` images, :func:`cifar10_binary` the first
``n/2`` cats (label ``-1``) and the first ``n/2`` dogs (``+1``); both standardise per channel
with the mean and population standard deviation of the selected training images (the paper's
code, ``adamian98/EOS`` ``data.py``).
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from eos.data._checks import check_n, check_split, check_train_n
from eos.data.dataset import Dataset, first_of_each, readonly
from eos.data.fingerprint import check_official, stamp
from eos.data.store import SOURCES, data_root, ensure

__all__ = ["CAT", "CIFAR10_CLASSES", "DOG", "cifar10", "cifar10_binary", "read_cifar_batch"]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CAT, DOG = 3, 5

_ALLOWED_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays (the CIFAR-10 batch format)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module == "_codecs":
            import codecs

            return codecs.encode
        if module.startswith("numpy") and module.endswith("multiarray"):
            from numpy._core import multiarray

            return getattr(multiarray, name)
        return getattr(np, name)


def read_cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(data uint8 (N, 3072), labels int64 (N,))`` of one official CIFAR-10 batch file.

    Cached in memory per path, size and modification time (an edited file is read again);
    a file that differs from the official one is reported once
    (:func:`eos.data.fingerprint.check_official`)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 batch file {p} is missing (expected the official cifar-10-batches-py/ "
            f"layout: data_batch_1..5, test_batch); re-extract {SOURCES['cifar10'].url}"
        )
    st = p.stat()
    out = _read_cifar_batch(str(p), st.st_size, st.st_mtime_ns)
    check_official(p)
    return out


@functools.lru_cache(maxsize=16)
def _read_cifar_batch(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            d = _ArrayUnpickler(f, encoding="bytes").load()
    except Exception as e:
        raise ValueError(
            f"corrupted CIFAR-10 batch file {p}: cannot unpickle it ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(d, dict):
        raise ValueError(f"corrupted CIFAR-10 batch file {p}: expected a dict, got {type(d)}")
    for key in (b"data", b"labels"):
        if key not in d:
            raise ValueError(
                f"corrupted CIFAR-10 batch file {p}: key {key!r} is missing (keys: {sorted(d)})"
            )
    data = np.asarray(d[b"data"])
    try:
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"corrupted CIFAR-10 batch file {p}: key b'labels' is not a list of ints"
        ) from e
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(
            f"corrupted CIFAR-10 batch file {p}: key b'data' should be uint8 of shape "
            f"(N, 3072), got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],):
        raise ValueError(
            f"corrupted CIFAR-10 batch file {p}: key b'labels' has shape {labels.shape}, "
            f"but b'data' has {data.shape[0]} rows"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"corrupted CIFAR-10 batch file {p}: key b'labels' outside 0..9")
    data.setflags(write=False)
    labels.setflags(write=False)
    return data, labels


_CIFAR_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}


def _cifar_rows(folder: Path, split: str, need: int | None, select=None):
    """Concatenate batches of ``split`` until ``need`` rows (or ``select`` is satisfied).

    ``select(labels_so_far) -> indices or None`` lets a caller stop early once it has what it
    needs; ``need=None`` with ``select=None`` reads every batch.
    """
    datas, labels = [], []
    for fname in _CIFAR_FILES[split]:
        d, y = read_cifar_batch(str(folder / fname))
        datas.append(d)
        labels.append(y)
        total = sum(len(a) for a in labels)
        if need is not None and total >= need:
            break
        if select is not None and select(np.concatenate(labels)) is not None:
            break
    return np.concatenate(datas), np.concatenate(labels)


def _to_nhwc(data: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 3072)`` channel-major rows -> uint8 ``(N, 32, 32, 3)``."""
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and population std (float64) over all images and pixels."""
    x = images.astype(np.float64)
    return x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))


def _standardise(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float64) - mean) / std).astype(np.float32)


def _cifar_first(folder: Path, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    data, labels = _cifar_rows(folder, split, need=n)
    if n > len(labels):
        raise ValueError(
            f"n={n} exceeds the {len(labels)} CIFAR-10 {split} images available in {folder}"
        )
    return _to_nhwc(data[:n]), labels[:n]


def _cifar_binary_select(folder: Path, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    k = n // 2
    data, labels = _cifar_rows(
        folder, split, need=None, select=lambda y: first_of_each(y, (CAT, DOG), k)
    )
    idx = first_of_each(labels, (CAT, DOG), k)
    if idx is None:
        avail = 2 * min(int(np.sum(labels == CAT)), int(np.sum(labels == DOG)))
        raise ValueError(
            f"n={n} exceeds the {avail} balanced cat/dog CIFAR-10 {split} images available "
            f"in {folder}"
        )
    y = np.where(labels[idx] == DOG, 1, -1)
    return _to_nhwc(data[idx]), y


def _standardised_dataset(
    select,
    name: str,
    num_classes: int,
    classes: Any,
    n: int,
    split: str,
    root: str,
    train_n: int | None,
) -> Dataset:
    """The images ``select(folder, split, n)`` picks, standardised per channel with the
    statistics of the training selection of size ``n`` (``train_n`` for a held-out split)."""
    folder = ensure("cifar10", Path(root))
    images, labels = select(folder, split, n)
    stats_n = n if split == "train" else train_n
    stats_images = images if split == "train" else select(folder, "train", stats_n)[0]
    mean, std = _channel_stats(stats_images)
    x = _standardise(images, mean, std)
    return Dataset(
        inputs=readonly(x),
        labels=readonly(labels.astype(np.int32)),
        num_classes=num_classes,
        name=name,
        metadata={
            "split": split,
            "n": n,
            "train_n": stats_n,
            "mean": tuple(mean.tolist()),
            "std": tuple(std.tolist()),
            "classes": classes,
            "root": root,
        },
    )


@functools.lru_cache(maxsize=4)
def _cifar10_cached(n: int, split: str, root: str, train_n: int | None, _stamp: tuple) -> Dataset:
    return _standardised_dataset(
        _cifar_first, "cifar10", 10, CIFAR10_CLASSES, n, split, root, train_n
    )


def cifar10(
    n: int,
    *,
    split: str = "train",
    root: str | os.PathLike | None = None,
    train_n: int | None = None,
) -> Dataset:
    """The first ``n`` CIFAR-10 images of ``split`` (``"train"`` or ``"test"``), NHWC float32.

    Standardised per channel, ``(x - mean_c) / std_c``, with the statistics of the first ``n``
    training images (the paper's code); for ``split="test"``, with those of the first
    ``train_n`` training images (required for ``split="test"``), so that test inputs see the
    same preprocessing as the training inputs. Labels are int32 class indices 0..9;
    ``num_classes = 10``.
    """
    split = check_split(split, ("train", "test"))
    n = check_n(n, "n")
    train_n = check_train_n(split, train_n)
    root = str(data_root(root))
    return _cifar10_cached(n, split, root, train_n, stamp("cifar10", root))


@functools.lru_cache(maxsize=4)
def _cifar10_binary_cached(
    n: int, split: str, root: str, train_n: int | None, _stamp: tuple
) -> Dataset:
    classes = {-1: "cat", 1: "dog"}
    return _standardised_dataset(
        _cifar_binary_select, "cifar10_binary", 1, classes, n, split, root, train_n
    )


def cifar10_binary(
    n: int,
    *,
    split: str = "train",
    root: str | os.PathLike | None = None,
    train_n: int | None = None,
) -> Dataset:
    """CIFAR-10 cats vs dogs: the first ``n/2`` cats (label ``-1``) then the first ``n/2`` dogs
    (label ``+1``) of ``split``; ``n`` must be even. ``num_classes = 1`` (one output).

    Standardised per channel with the statistics of the selected training images (for
    ``split="test"``: of the ``train_n``-image training selection; ``train_n`` is required).
    """
    split = check_split(split, ("train", "test"))
    n = check_n(n, "n", even=True)
    train_n = check_train_n(split, train_n, even=True)
    root = str(data_root(root))
    return _cifar10_binary_cached(n, split, root, train_n, stamp("cifar10", root))
