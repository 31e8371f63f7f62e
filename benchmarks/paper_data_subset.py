"""Write a data root that holds only the rows the ``paper`` profile reads (for a GPU machine).

A GPU machine reached through a size-limited transfer (the development setup of this project
carries 64 MiB) cannot receive CIFAR-10's 178 MB of batches. The ``paper`` profile reads only
the first 5,000 training images (MLP, CNN+MSE) or the first 2,500 cats and 2,500 dogs (CNN
+logistic, ResNet18), so this script writes, in the official layout, one ``data_batch_1``
per use holding exactly those rows in their original order, and copies SST-2 unchanged. It then
checks that the loaders return bit-identical data sets from the subset and the full root::

    python benchmarks/paper_data_subset.py SRC DEST

writes ``DEST/c10`` (first 5,000 images, and SST-2) and ``DEST/cd`` (cats and dogs); point
``EOS_DATA_DIR`` at the one a run needs. Timings only: never use a subset root as a cache.
"""

from __future__ import annotations

import pickle
import shutil
import sys
from pathlib import Path

import numpy as np

from eos import data
from eos.data.cifar import CAT, DOG, read_cifar_batch
from eos.data.dataset import first_of_each

N_PAPER = 5_000


def _write_batch(folder: Path, rows: np.ndarray, labels: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": rows, b"labels": [int(v) for v in labels]}, f, protocol=2)


def main(src: Path, dest: Path) -> None:
    cifar = src / "cifar-10-batches-py"
    batches = [read_cifar_batch(str(cifar / f"data_batch_{i}")) for i in range(1, 6)]
    rows = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])

    first = slice(0, N_PAPER)
    _write_batch(dest / "c10" / "cifar-10-batches-py", rows[first], labels[first])

    idx = np.sort(first_of_each(labels, (CAT, DOG), N_PAPER // 2))
    _write_batch(dest / "cd" / "cifar-10-batches-py", rows[idx], labels[idx])

    shutil.copytree(src / "SST-2", dest / "c10" / "SST-2", dirs_exist_ok=True)

    checks = [
        ("c10", lambda root: data.cifar10(N_PAPER, root=root)),
        ("cd", lambda root: data.cifar10_binary(N_PAPER, root=root)),
        ("c10", lambda root: data.sst2(N_PAPER, root=root)),
    ]
    for sub, load in checks:
        a, b = load(src), load(dest / sub)
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.labels, b.labels), sub
        print(f"{sub}: {a.name} n={len(a.labels)} identical to the full root")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
