"""SST-2 (GLUE, App. D.2) from the official ``SST-2/train.tsv`` and ``dev.tsv``.

Header ``sentence<TAB>label``, one lower-cased, space-tokenised phrase per row, label 0
(negative) or 1 (positive). :func:`sst2` takes the first ``n/2`` negative (label ``-1``) then
the first ``n/2`` positive (``+1``) training phrases. The paper tokenises with BERT's uncased
WordPiece tokenizer; here a word-level vocabulary is built from the selected phrases (pad id 0,
unknown id 1, then words by decreasing frequency, ties alphabetical).
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from pathlib import Path

import numpy as np

from eos.data._checks import check_n, check_split, check_train_n
from eos.data.dataset import Dataset, first_of_each, readonly
from eos.data.fingerprint import check_official, stamp
from eos.data.store import SOURCES, data_root, ensure

__all__ = ["sst2"]

PAD_ID, UNK_ID = 0, 1


def _read_sst2_tsv(path: str) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    """``(tokens per row, labels 0/1)`` of a GLUE SST-2 ``train.tsv``/``dev.tsv`` (cached per
    path, size and modification time; a file that is not the official one is reported once)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"SST-2 file {p} is missing (expected the GLUE SST-2/ layout: train.tsv, dev.tsv); "
            f"re-extract {SOURCES['sst2'].url}"
        )
    st = p.stat()
    out = _read_tsv(str(p), st.st_size, st.st_mtime_ns)
    check_official(p)
    return out


@functools.lru_cache(maxsize=4)
def _read_tsv(
    path: str, size: int, mtime_ns: int
) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    p = Path(path)
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
    idx = first_of_each(labels01, (0, 1), n // 2)
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
    n: int, split: str, root: str, max_len: int | None, train_n: int | None, _stamp: tuple
) -> Dataset:
    folder = ensure("sst2", Path(root))
    phrases, labels = _sst2_select(folder, split, n)
    vocab_phrases = phrases if split == "train" else _sst2_select(folder, "train", train_n)[0]
    vocab = _build_vocab(vocab_phrases)
    word_to_id = {w: i + 2 for i, w in enumerate(vocab)}
    ids = _encode(phrases, word_to_id, max_len)
    mask = ids != PAD_ID
    return Dataset(
        inputs=readonly(ids),
        labels=readonly(labels.astype(np.int32)),
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
            "mask": readonly(mask),
            "lengths": readonly(mask.sum(axis=1).astype(np.int32)),
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
    split = check_split(split, ("train", "dev"))
    n = check_n(n, "n", even=True)
    if max_len is not None:
        max_len = check_n(max_len, "max_len")
    train_n = check_train_n(split, train_n, even=True)
    root = str(data_root(root))
    return _sst2_cached(n, split, root, max_len, train_n, stamp("sst2", root))
