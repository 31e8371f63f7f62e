"""Where the data live: the data root, the official archives and their hashes, downloading.

The data root is the ``root=`` argument, else the ``EOS_DATA_DIR`` environment variable, else a
per-user cache directory (``pooch.os_cache("eos") / "data"``). When a data set's folder is
missing under it, :func:`ensure` downloads the official archive with a hash check
(:func:`fetch_archive`, the only function that downloads) and extracts it; offline, it raises a
``FileNotFoundError`` naming the expected path, ``EOS_DATA_DIR`` and the official source.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_VAR", "SOURCES", "data_root", "ensure", "fetch_archive"]

ENV_VAR = "EOS_DATA_DIR"


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


def ensure(dataset: str, root: Path) -> Path:
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
