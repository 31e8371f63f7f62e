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

Data identity
    :mod:`eos.data.fingerprint` hashes the files a loader reads (the cache key of every run
    includes them) and compares them with the official files' digests where those are known,
    warning once (:class:`DataIntegrityWarning`) about a file that differs. The in-memory
    caches are keyed by each file's size and modification time, so an edited file is re-read.

Loader options (``data_kwargs`` of an experiment): :data:`OPTIONS` names the keywords each
loader takes besides ``n``/``split``/``root``/``train_n``; :func:`check_options` validates them.

Modules: :mod:`eos.data.store` (data root, archives, downloads), :mod:`eos.data.cifar`,
:mod:`eos.data.sst`, :mod:`eos.data.dataset` (the :class:`Dataset` record),
:mod:`eos.data.fingerprint` (data identity).
"""

from __future__ import annotations

from eos.data import cifar as _cifar
from eos.data import fingerprint, store
from eos.data import sst as _sst
from eos.data._checks import OPTIONS, check_options
from eos.data.cifar import CIFAR10_CLASSES, cifar10, cifar10_binary
from eos.data.dataset import Dataset
from eos.data.fingerprint import DataIntegrityWarning
from eos.data.sst import sst2
from eos.data.store import ENV_VAR, SOURCES, data_root, fetch_archive

__all__ = [
    "CIFAR10_CLASSES",
    "ENV_VAR",
    "OPTIONS",
    "DataIntegrityWarning",
    "Dataset",
    "SOURCES",
    "cifar10",
    "cifar10_binary",
    "check_options",
    "clear_cache",
    "data_root",
    "fetch_archive",
    "fingerprint",
    "sst2",
    "store",
]


def clear_cache() -> None:
    """Empty the in-memory caches of loaded files and data sets."""
    for f in (
        _cifar._read_cifar_batch,
        _sst._read_tsv,
        _cifar._cifar10_cached,
        _cifar._cifar10_binary_cached,
        _sst._sst2_cached,
    ):
        f.cache_clear()
