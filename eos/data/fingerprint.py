"""The identity of the data a run reads: per-file hashes, and a check against the official files.

A run's numbers depend on the bytes of the data files its loader reads, not only on its
configuration. :func:`fingerprint` returns ``{relative path: SHA-256}`` of those files
(:func:`data_files`: CIFAR-10's five training batches and, for runs that evaluate held-out
accuracy, ``test_batch``; SST-2's ``train.tsv`` and ``dev.tsv``). The cache key of every run
(:meth:`eos.experiments.ExperimentConfig.key`) and the provenance of every published run
(:mod:`eos.experiments.published`) include it, so a result is never served for other data.
Each file is hashed once per process and size/modification time (:func:`file_digests` is
memoised by path, size and ``mtime_ns``), so a changed file is hashed again.

Official files
    :data:`OFFICIAL_MD5` holds, for files whose official digest is known, the MD5 of the file
    as extracted from the official archive, with the source of each value. The loaders call
    :func:`check_official` on every file they read; a file that differs from its official
    digest (a stand-in copy, an edited or damaged file) is reported once per process and data
    folder with a :class:`DataIntegrityWarning` (a stand-in is allowed, but never silent).
    Files without a known digest are not judged. The values were taken from the sources named
    in the table; this project's machines, which are offline, have not compared them with a download
    of the archives (the archives' own hashes, checked on download, are in
    :mod:`eos.data.store`).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from functools import lru_cache
from pathlib import Path

__all__ = [
    "OFFICIAL_MD5",
    "DataIntegrityWarning",
    "check_official",
    "data_files",
    "file_digests",
    "fingerprint",
    "stamp",
]

_TORCHVISION = "torchvision/datasets/cifar.py (CIFAR10.train_list, test_list)"
_TORCHTEXT = "torchtext/datasets/sst2.py (_EXTRACTED_FILES_MD5)"

#: ``{relative path: (md5 of the official file, where the value comes from)}``.
OFFICIAL_MD5: dict[str, tuple[str, str]] = {
    "cifar-10-batches-py/data_batch_1": ("c99cafc152244af753f735de768cd75f", _TORCHVISION),
    "cifar-10-batches-py/data_batch_2": ("d4bba439e000b95fd0a9bffe97cbabec", _TORCHVISION),
    "cifar-10-batches-py/data_batch_3": ("54ebc095f3ab1f0389bbae665268c751", _TORCHVISION),
    "cifar-10-batches-py/data_batch_4": ("634d18415352ddfa80567beed471001a", _TORCHVISION),
    "cifar-10-batches-py/data_batch_5": ("482c414d41f54cd18b22e5b47cb7c3cb", _TORCHVISION),
    "cifar-10-batches-py/test_batch": ("40351d587109b95175f43aff81a1287e", _TORCHVISION),
    "SST-2/train.tsv": ("da409a0a939379ed32a470bc0f7fe99a", _TORCHTEXT),
    "SST-2/dev.tsv": ("268856b487b2a31a28c0a93daaff7288", _TORCHTEXT),
}

_FILES = {
    "cifar10": (tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
                ("cifar-10-batches-py/test_batch",)),
    "sst2": (("SST-2/train.tsv",), ("SST-2/dev.tsv",)),
}  # fmt: skip
_FILES["cifar10_binary"] = _FILES["cifar10"]


class DataIntegrityWarning(UserWarning):
    """A data file differs from the official file of the same name."""


def data_files(dataset: str, root: str | os.PathLike, *, held_out: bool = False) -> list[Path]:
    """The files under the data root ``root`` that the loader of ``dataset`` (``cifar10``,
    ``cifar10_binary``, ``sst2``) may read: the training files, and with ``held_out`` the
    held-out split's (CIFAR-10 ``test_batch``, SST-2 ``dev.tsv``)."""
    if dataset not in _FILES:
        raise ValueError(f"unknown dataset {dataset!r}; valid datasets are {', '.join(_FILES)}")
    train, test = _FILES[dataset]
    return [Path(root) / name for name in train + (test if held_out else ())]


@lru_cache(maxsize=256)
def _digests(path: str, size: int, mtime_ns: int) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def file_digests(path: str | os.PathLike) -> tuple[str, str]:
    """``(sha256, md5)`` hex digests of the file ``path``, memoised by path, size and
    ``mtime_ns`` (an edited file is hashed again)."""
    st = os.stat(path)
    return _digests(os.path.abspath(path), st.st_size, st.st_mtime_ns)


def fingerprint(
    dataset: str, root: str | os.PathLike, *, held_out: bool = False, missing_ok: bool = False
) -> dict[str, str]:
    """``{path relative to root: sha256}`` of :func:`data_files`.

    A missing file raises ``FileNotFoundError`` naming it and ``EOS_DATA_DIR``; with
    ``missing_ok`` it is recorded as ``"missing"`` instead.
    """
    out = {}
    for path in data_files(dataset, root, held_out=held_out):
        rel = path.relative_to(Path(root)).as_posix()
        if not path.is_file():
            if missing_ok:
                out[rel] = "missing"
                continue
            raise FileNotFoundError(
                f"data file {path} is missing: cannot fingerprint the {dataset} data "
                "(set EOS_DATA_DIR to the data root holding it)"
            )
        out[rel] = file_digests(path)[0]
    return out


def stamp(dataset: str, root: str | os.PathLike) -> tuple:
    """``(relative path, size, mtime_ns)`` of every file :func:`data_files` names (training and
    held-out), from ``stat`` alone: a cheap in-memory cache key that changes with the files."""
    out = []
    for path in data_files(dataset, root, held_out=True):
        try:
            st = path.stat()
            out.append((path.name, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((path.name, -1, -1))
    return tuple(out)


_REPORTED: set[str] = set()  # data folders already reported in this process


def check_official(path: str | os.PathLike) -> bool | None:
    """Whether the file ``path`` is the official file of its name (:data:`OFFICIAL_MD5`):
    ``True``, ``False`` (warned about once per process and data folder), or ``None`` when no
    official digest is known for it."""
    p = Path(path)
    rel = f"{p.parent.name}/{p.name}"
    known = OFFICIAL_MD5.get(rel)
    if known is None:
        return None
    md5 = file_digests(p)[1]
    if md5 == known[0]:
        return True
    if str(p.parent) not in _REPORTED:
        _REPORTED.add(str(p.parent))
        warnings.warn(
            f"{p} is not the official {rel} (md5 {md5}, official {known[0]} per {known[1]}): "
            "a stand-in, edited or damaged copy (other files of this folder are not reported "
            "again). Runs use the data as they are and are cached under their own "
            "fingerprint; re-extract the official archive if this is unexpected.",
            DataIntegrityWarning,
            stacklevel=2,
        )
    return False
