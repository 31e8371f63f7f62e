"""The paper's data sets (App. D.2): CIFAR-10, CIFAR-10 cats vs dogs, and SST-2.

Where the data lives
    The data root is the ``root=`` argument, else the ``EOS_DATA_DIR`` environment variable,
    else a per-user cache directory (``pooch.os_cache("eos") / "data"``). Under it the loaders
    read the *official* on-disk layouts:

    * ``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, each a
      pickled dict with ``b'data'`` (uint8, ``(10000, 3072)``, channel-major: 1024 red, 1024
      green, 1024 blue values of a 32x32 image) and ``b'labels'`` (ints 0..9);
    * ``SST-2/``: ``train.tsv`` and ``dev.tsv`` (GLUE), header ``sentence<TAB>label``, one
      lower-cased, space-tokenised phrase per row, label 0 (negative) or 1 (positive).

    When a folder is missing, the official archive is downloaded with a hash check (pooch) and
    extracted under the root. Offline, a ``FileNotFoundError`` names the expected path, the
    ``EOS_DATA_DIR`` variable and the official source.

Archive hashes
    * CIFAR-10 python archive: MD5 ``c58f30108f718f92721af3b95e74349a`` (published on
      https://www.cs.toronto.edu/~kriz/cifar.html).
    * GLUE ``SST-2.zip``: MD5 ``9f81648d4199384278b86e315dac217c``, the value pinned for the
      same URL by torchtext (``torchtext/datasets/sst2.py``) and, for mirrors of the same
      archive, by GluonNLP and PaddleNLP. It has not been verified by a download from this
      project's (offline) machines.

Selections (the paper's code, ``adamian98/EOS`` ``data.py``)
    * :func:`cifar10`: the first ``n`` images, standardised per channel with the mean and
      (population) standard deviation of those ``n`` images.
    * :func:`cifar10_binary`: the first ``n/2`` cats (class 3, label ``-1``) followed by the
      first ``n/2`` dogs (class 5, label ``+1``), standardised with their own statistics.
    * :func:`sst2`: the first ``n/2`` negative (label ``-1``) followed by the first ``n/2``
      positive (label ``+1``) training phrases. The paper tokenises with BERT's uncased
      WordPiece tokenizer; here a word-level vocabulary is built from the selected phrases
      (pad id 0, unknown id 1, then words by decreasing frequency, ties alphabetical).

    Held-out splits (``split="test"`` for CIFAR-10, ``split="dev"`` for SST-2) apply the same
    selection rule to the held-out file and are *preprocessed with the training selection*:
    standardised with the statistics of the first ``train_n`` training images (``train_n`` is
    required for held-out splits: it is the size of the training set the model was fit on)
    and tokenised with the vocabulary of the first ``train_n`` training phrases. (Cohen et
    al.'s code, ``locuslab/edge-of-stability`` ``src/cifar.py``, likewise applies training
    statistics to the test set, though per pixel over all 50,000 training images; the
    paper's code, followed here for training data, uses per-channel statistics of the
    selected subset and has no test split.)

Every loader returns a frozen :class:`Dataset` (read-only numpy arrays) and is cached in
memory per resolved arguments (:func:`clear_cache` empties the caches).
"""

from __future__ import annotations

import functools
import os
import pickle
import tarfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CIFAR10_CLASSES",
    "Dataset",
    "SOURCES",
    "cifar10",
    "cifar10_binary",
    "clear_cache",
    "data_root",
    "fetch_archive",
    "sst2",
]

ENV_VAR = "EOS_DATA_DIR"

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

PAD_ID, UNK_ID = 0, 1


@dataclass(frozen=True)
class _Source:
    folder: str
    url: str
    known_hash: str
    archive: str
    homepage: str


SOURCES: dict[str, _Source] = {
    "cifar10": _Source(
        folder="cifar-10-batches-py",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        known_hash="md5:c58f30108f718f92721af3b95e74349a",
        archive="cifar-10-python.tar.gz",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "sst2": _Source(
        folder="SST-2",
        url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
        known_hash="md5:9f81648d4199384278b86e315dac217c",
        archive="SST-2.zip",
        homepage="https://gluebenchmark.com/tasks",
    ),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set.

    ``inputs``: float32 NHWC images ``(n, 32, 32, 3)`` or int32 token ids ``(n, T)``;
    ``labels``: int32, class indices ``0..C-1`` or ``±1`` for binary tasks;
    ``num_classes``: ``C``, or 1 for a binary ``±1`` task (one network output);
    ``name``: e.g. ``"cifar10"``; ``metadata``: split, sizes, preprocessing (means and stds,
    vocabulary, ``vocab_size``, ``pad_id``, ``max_len``, ``mask`` ...).

    Equality and hashing are by identity, so a data set can key caches.
    """

    inputs: np.ndarray
    labels: np.ndarray
    num_classes: int
    name: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n(self) -> int:
        return len(self)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------- locations


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$EOS_DATA_DIR``, else ``pooch.os_cache("eos")/"data"``."""
    if root is not None:
        return Path(root).expanduser().resolve()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    from eos.progress import import_pooch

    pooch = import_pooch()

    return Path(pooch.os_cache("eos")).resolve() / "data"


def fetch_archive(url: str, known_hash: str, directory: Path, fname: str) -> Path:
    """Download ``url`` to ``directory/fname`` and check ``known_hash`` (pooch); return the path.

    Raises whatever the download raises (e.g. a network error offline, ``ValueError`` on a
    hash mismatch). Tests replace this function; it is the only place that downloads.
    """
    from eos.progress import import_pooch

    pooch = import_pooch()

    directory.mkdir(parents=True, exist_ok=True)
    return Path(
        pooch.retrieve(url, known_hash=known_hash, fname=fname, path=directory, progressbar=False)
    )


def _extract(archive: Path, root: Path) -> None:
    if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # safe extraction (Python >= 3.10.12)
                tar.extractall(root, filter="data")
            else:  # pragma: no cover
                tar.extractall(root)
    elif archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                target = (root / member).resolve()
                if root.resolve() not in target.parents and target != root.resolve():
                    raise ValueError(f"unsafe path {member!r} in archive {archive}")
            zf.extractall(root)
    else:  # pragma: no cover - only the two archives above are configured
        raise ValueError(f"unknown archive type: {archive}")


def _ensure(dataset: str, root: Path) -> Path:
    """The data set's folder under ``root``; downloads and extracts the archive if missing."""
    src = SOURCES[dataset]
    folder = root / src.folder
    if folder.is_dir():
        return folder
    try:
        archive = fetch_archive(src.url, src.known_hash, root, src.archive)
    except ValueError as e:  # pooch: hash mismatch
        raise ValueError(
            f"the archive downloaded from {src.url} failed its hash check ({src.known_hash}): "
            f"{e}. Delete {root / src.archive} and retry, or place the official "
            f"{src.folder}/ folder under {root}."
        ) from e
    except Exception as e:  # offline, DNS, HTTP errors, unwritable cache ...
        raise FileNotFoundError(
            f"{dataset} data not found: expected the folder {folder} (official layout "
            f"{src.folder}/), and downloading it failed ({type(e).__name__}: {e}). Point the "
            f"{ENV_VAR} environment variable (or root=) at a directory containing {src.folder}/, "
            f"or download the official archive {src.url} ({src.homepage}) and extract it "
            f"there."
        ) from e
    _extract(archive, root)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"extracted {archive} under {root} but {folder} is still missing; the archive "
            "does not have the official layout"
        )
    return folder


# --------------------------------------------------------------------------- validation


def _check_split(split: str, valid: tuple[str, ...]) -> str:
    if split not in valid:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(valid)}")
    return split


def _check_n(n: Any, what: str, *, even: bool = False) -> int:
    try:
        ok = not isinstance(n, bool) and int(n) == n and n > 0
    except (TypeError, ValueError):
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


def _check_train_n(split: str, train_n: Any, *, even: bool = False) -> int | None:
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
    return _check_n(train_n, "train_n", even=even)


# --------------------------------------------------------------------------- CIFAR-10

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


@functools.lru_cache(maxsize=16)
def _read_cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(data uint8 (N, 3072), labels int64 (N,))`` of one official CIFAR-10 batch file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 batch file {p} is missing (expected the official cifar-10-batches-py/ "
            f"layout: data_batch_1..5, test_batch); re-extract {SOURCES['cifar10'].url}"
        )
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
        d, y = _read_cifar_batch(str(folder / fname))
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


def _first_of_each(labels: np.ndarray, classes: tuple[int, ...], k: int) -> np.ndarray | None:
    """Indices of the first ``k`` examples of each class, class by class; None if too few."""
    out = []
    for c in classes:
        idx = np.flatnonzero(labels == c)[:k]
        if len(idx) < k:
            return None
        out.append(idx)
    return np.concatenate(out)


def _cifar_binary_select(folder: Path, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    k = n // 2
    data, labels = _cifar_rows(
        folder, split, need=None, select=lambda y: _first_of_each(y, (CAT, DOG), k)
    )
    idx = _first_of_each(labels, (CAT, DOG), k)
    if idx is None:
        avail = 2 * min(int(np.sum(labels == CAT)), int(np.sum(labels == DOG)))
        raise ValueError(
            f"n={n} exceeds the {avail} balanced cat/dog CIFAR-10 {split} images available "
            f"in {folder}"
        )
    y = np.where(labels[idx] == DOG, 1, -1)
    return _to_nhwc(data[idx]), y


@functools.lru_cache(maxsize=4)
def _cifar10_cached(n: int, split: str, root: str, train_n: int | None) -> Dataset:
    folder = _ensure("cifar10", Path(root))
    images, labels = _cifar_first(folder, split, n)
    stats_n = n if split == "train" else train_n
    stats_images = images if split == "train" else _cifar_first(folder, "train", stats_n)[0]
    mean, std = _channel_stats(stats_images)
    x = _standardise(images, mean, std)
    return Dataset(
        inputs=_readonly(x),
        labels=_readonly(labels.astype(np.int32)),
        num_classes=10,
        name="cifar10",
        metadata={
            "split": split,
            "n": n,
            "train_n": stats_n,
            "mean": tuple(mean.tolist()),
            "std": tuple(std.tolist()),
            "classes": CIFAR10_CLASSES,
            "root": root,
        },
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
    split = _check_split(split, ("train", "test"))
    n = _check_n(n, "n")
    train_n = _check_train_n(split, train_n)
    return _cifar10_cached(n, split, str(data_root(root)), train_n)


@functools.lru_cache(maxsize=4)
def _cifar10_binary_cached(n: int, split: str, root: str, train_n: int | None) -> Dataset:
    folder = _ensure("cifar10", Path(root))
    images, labels = _cifar_binary_select(folder, split, n)
    stats_n = n if split == "train" else train_n
    stats_images = images if split == "train" else _cifar_binary_select(folder, "train", stats_n)[0]
    mean, std = _channel_stats(stats_images)
    x = _standardise(images, mean, std)
    return Dataset(
        inputs=_readonly(x),
        labels=_readonly(labels.astype(np.int32)),
        num_classes=1,
        name="cifar10_binary",
        metadata={
            "split": split,
            "n": n,
            "train_n": stats_n,
            "mean": tuple(mean.tolist()),
            "std": tuple(std.tolist()),
            "classes": {-1: "cat", 1: "dog"},
            "root": root,
        },
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
    split = _check_split(split, ("train", "test"))
    n = _check_n(n, "n", even=True)
    train_n = _check_train_n(split, train_n, even=True)
    return _cifar10_binary_cached(n, split, str(data_root(root)), train_n)


# --------------------------------------------------------------------------- SST-2


@functools.lru_cache(maxsize=4)
def _read_sst2_tsv(path: str) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    """``(tokens per row, labels 0/1)`` of a GLUE SST-2 ``train.tsv``/``dev.tsv``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"SST-2 file {p} is missing (expected the GLUE SST-2/ layout: train.tsv, dev.tsv); "
            f"re-extract {SOURCES['sst2'].url}"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"malformed SST-2 file {p}: not UTF-8 text ({e})") from e
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].rstrip("\r").split("\t") != ["sentence", "label"]:
        head = lines[0][:60] if lines else ""
        raise ValueError(
            f"malformed SST-2 file {p}, line 1: expected the header 'sentence<TAB>label', "
            f"got {head!r}"
        )
    tokens, labels = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2:
            raise ValueError(
                f"malformed SST-2 file {p}, line {lineno}: expected 2 tab-separated fields "
                f"(sentence, label), got {len(fields)}: {line[:60]!r} (truncated file?)"
            )
        sentence, label = fields
        if label not in ("0", "1"):
            raise ValueError(
                f"malformed SST-2 file {p}, line {lineno}: label must be 0 or 1, got {label!r}"
            )
        tokens.append(tuple(sentence.split()))
        labels.append(int(label))
    return tuple(tokens), np.asarray(labels, dtype=np.int64)


def _sst2_select(folder: Path, split: str, n: int) -> tuple[list[tuple[str, ...]], np.ndarray]:
    fname = {"train": "train.tsv", "dev": "dev.tsv"}[split]
    tokens, labels01 = _read_sst2_tsv(str(folder / fname))
    idx = _first_of_each(labels01, (0, 1), n // 2)
    if idx is None:
        avail = 2 * min(int(np.sum(labels01 == 0)), int(np.sum(labels01 == 1)))
        raise ValueError(
            f"n={n} exceeds the {avail} balanced SST-2 {split} phrases available in "
            f"{folder / fname}"
        )
    return [tokens[i] for i in idx], 2 * labels01[idx] - 1


def _build_vocab(phrases: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Words by decreasing count, ties alphabetical; ids start at 2 (0 pad, 1 unknown)."""
    counts = Counter(w for phrase in phrases for w in phrase)
    return tuple(sorted(counts, key=lambda w: (-counts[w], w)))


def _encode(phrases, word_to_id: dict[str, int], max_len: int | None) -> np.ndarray:
    length = max((len(ph) for ph in phrases), default=0) if max_len is None else max_len
    length = max(length, 1)
    ids = np.full((len(phrases), length), PAD_ID, dtype=np.int32)
    for i, ph in enumerate(phrases):
        row = [word_to_id.get(w, UNK_ID) for w in ph[:length]]
        ids[i, : len(row)] = row
    return ids


@functools.lru_cache(maxsize=8)
def _sst2_cached(
    n: int, split: str, root: str, max_len: int | None, train_n: int | None
) -> Dataset:
    folder = _ensure("sst2", Path(root))
    phrases, labels = _sst2_select(folder, split, n)
    vocab_phrases = phrases if split == "train" else _sst2_select(folder, "train", train_n)[0]
    vocab = _build_vocab(vocab_phrases)
    word_to_id = {w: i + 2 for i, w in enumerate(vocab)}
    ids = _encode(phrases, word_to_id, max_len)
    mask = ids != PAD_ID
    return Dataset(
        inputs=_readonly(ids),
        labels=_readonly(labels.astype(np.int32)),
        num_classes=1,
        name="sst2",
        metadata={
            "split": split,
            "n": n,
            "train_n": n if split == "train" else train_n,
            "vocab": ("<pad>", "<unk>", *vocab),
            "vocab_size": len(vocab) + 2,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "max_len": int(ids.shape[1]),
            "mask": _readonly(mask),
            "lengths": _readonly(mask.sum(axis=1).astype(np.int32)),
            "truncated": int(sum(len(ph) > ids.shape[1] for ph in phrases)),
            "unknown_tokens": int(np.sum(ids == UNK_ID)),
            "classes": {-1: "negative", 1: "positive"},
            "root": root,
        },
    )


def sst2(
    n: int,
    *,
    split: str = "train",
    max_len: int | None = None,
    root: str | os.PathLike | None = None,
    train_n: int | None = None,
) -> Dataset:
    """SST-2 (GLUE): the first ``n/2`` negative (label ``-1``) then the first ``n/2`` positive
    (label ``+1``) phrases of ``split`` (``"train"`` or ``"dev"``); ``n`` must be even.

    ``inputs`` are int32 token ids ``(n, T)`` padded with 0 to the longest selected phrase
    (``T = max_len`` when given: longer phrases are truncated). The word-level vocabulary is
    built from the first-``n`` training selection (for ``split="dev"``: from the first
    ``train_n`` training phrases, ``train_n`` required; unseen words map to id 1).
    ``metadata`` holds ``vocab``, ``vocab_size``, ``pad_id``, ``unk_id``, ``max_len`` and
    the boolean ``mask`` of real tokens. ``num_classes = 1``.
    """
    split = _check_split(split, ("train", "dev"))
    n = _check_n(n, "n", even=True)
    if max_len is not None:
        max_len = _check_n(max_len, "max_len")
    train_n = _check_train_n(split, train_n, even=True)
    return _sst2_cached(n, split, str(data_root(root)), max_len, train_n)


def clear_cache() -> None:
    """Empty the in-memory caches of loaded files and data sets."""
    for f in (
        _read_cifar_batch,
        _read_sst2_tsv,
        _cifar10_cached,
        _cifar10_binary_cached,
        _sst2_cached,
    ):
        f.cache_clear()
