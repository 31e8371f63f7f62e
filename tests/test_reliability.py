"""Reliability of the result cache: results keyed by their data, the official-file check,
permissions in shared folders, the per-folder lock, stale temporary files, empty folders.

Each test reproduces one of the failure modes of issue 22 (the numbers in the test names)
against the behaviour the module docstrings of eos.results and eos.data.fingerprint state."""

from __future__ import annotations

import os
import pickle
import shutil
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_data import write_cifar

from eos import data
from eos import experiments as E
from eos import results as R
from eos.data import fingerprint as F
from eos.experiments import published as P
from eos.experiments import runner


@pytest.fixture
def results(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    monkeypatch.setenv("EOS_RESULTS_DIR", str(folder))
    return folder


def _copy_with(root: Path, dest: Path, replace: dict[str, str]) -> Path:
    """A data root at ``dest`` whose CIFAR-10 files link to ``root``'s, except the files named
    in ``replace`` (name -> name of the source file whose bytes it gets)."""
    src, out = root / "cifar-10-batches-py", dest / "cifar-10-batches-py"
    out.mkdir(parents=True)
    for f in src.iterdir():
        if f.name in replace:
            shutil.copyfile(src / replace[f.name], out / f.name)
        else:
            (out / f.name).symlink_to(f)
    return dest


# ------------------------------------------------------------------------ 1. keyed by data
def test_1_other_data_is_another_result_and_repair_restores_it(
    data_root, results, tmp_path, monkeypatch
):
    first = E.run("fig1-mlp", profile="smoke", progress=False)
    swapped = _copy_with(data_root, tmp_path / "swapped", {"data_batch_1": "data_batch_2"})
    monkeypatch.setenv("EOS_DATA_DIR", str(swapped))
    cfg = E.get_config("fig1-mlp", profile="smoke")
    key1 = first.path.parent.name  # the key under the original data
    assert cfg == first.config and cfg.key() != key1
    second = E.run("fig1-mlp", profile="smoke", progress=False)
    assert second.path != first.path  # not served from the first run's cache
    fp1, fp2 = first.provenance["data_fingerprint"], second.provenance["data_fingerprint"]
    name = "cifar-10-batches-py/data_batch_1"
    assert fp1[name] != fp2[name] and fp2[name] == fp1["cifar-10-batches-py/data_batch_2"]
    # other images: another training loss at the initialisation (the objective is not stale)
    assert first.history["loss"][0] != second.history["loss"][0]
    # repaired data (the original bytes again, a new mtime): the first result is served
    shutil.copyfile(data_root / "cifar-10-batches-py" / "data_batch_1",
                    swapped / "cifar-10-batches-py" / "data_batch_1")  # fmt: skip
    assert E.get_config("fig1-mlp", profile="smoke").key() == key1
    again = E.run("fig1-mlp", profile="smoke", progress=False)
    assert again.path == first.path
    np.testing.assert_array_equal(again["gd/loss"], first["gd/loss"])


def test_1_one_fingerprint_implementation(tmp_path, monkeypatch):
    write_cifar(tmp_path)
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    cfg = E.get_config("fig1-mlp", profile="smoke")
    fp = F.fingerprint("cifar10", tmp_path)
    assert P.data_fingerprint(cfg, tmp_path) == fp == cfg.data_fingerprint()
    assert sorted(fp) == [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
    import hashlib

    f = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    assert fp["cifar-10-batches-py/data_batch_3"] == hashlib.sha256(f.read_bytes()).hexdigest()
    key = cfg.key()
    raw = bytearray(f.read_bytes())
    raw[-100] ^= 0xFF  # one byte, same size
    f.write_bytes(bytes(raw))
    os.utime(f, ns=(1, 1))  # a new mtime even on coarse clocks
    assert (
        F.fingerprint("cifar10", tmp_path)["cifar-10-batches-py/data_batch_3"]
        != fp["cifar-10-batches-py/data_batch_3"]
    )
    assert cfg.key() != key
    # held-out files count only for runs that read them
    assert "cifar-10-batches-py/test_batch" in F.fingerprint("cifar10", tmp_path, held_out=True)


# ------------------------------------------------------------------ 2. official-file check
def test_2_overwritten_pixels_are_reported(tmp_path, monkeypatch):
    batches = write_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    f = folder / "data_batch_1"
    with open(f, "wb") as fh:  # protocol 3: the pixels are stored as raw bytes, as in CIFAR-10's
        pickle.dump(batches["data_batch_1"], fh, protocol=3)
    # declare the synthetic files "official" for this test
    table = {
        f"cifar-10-batches-py/{g.name}": (F.file_digests(g)[1], "this test")
        for g in folder.iterdir()
        if g.name != "batches.meta"
    }
    monkeypatch.setattr(F, "OFFICIAL_MD5", table)
    monkeypatch.setattr(F, "_REPORTED", set())
    data.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error", F.DataIntegrityWarning)
        clean = data.cifar10(20, root=tmp_path)  # the official files: silent
    raw = bytearray(f.read_bytes())
    at = raw.find(batches["data_batch_1"][b"data"].tobytes()[:64]) + 100
    raw[at : at + 10] = bytes(255 - b for b in raw[at : at + 10])  # pixels, size unchanged
    f.write_bytes(bytes(raw))
    os.utime(f, ns=(1, 1))  # file times tick coarsely: make the edit visible to the memo
    with pytest.warns(F.DataIntegrityWarning, match=r"data_batch_1 is not the official"):
        edited = data.cifar10(20, root=tmp_path)
    assert not np.array_equal(clean.inputs, edited.inputs)  # re-read, not the cached array
    assert F.check_official(f) is False and F.check_official(folder / "data_batch_2") is True
    assert F.check_official(folder / "batches.meta") is None  # no known digest: not judged


def test_2_official_table_names_its_sources():
    for rel, (md5, source) in F.OFFICIAL_MD5.items():
        assert len(md5) == 32 and int(md5, 16) >= 0
        assert source.startswith(("torchvision/", "torchtext/")), rel


# ------------------------------------------------------------------------ 3. permissions
@pytest.mark.parametrize("umask, mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_3_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = R.save_npz(tmp_path / "r.npz", {"a": np.arange(3)}, {"kind": "test"})
        ckpt = R.Checkpointer(tmp_path, "p")
        ckpt.save({"step": np.asarray(1)})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert ckpt.path.stat().st_mode & 0o777 == mode


def test_3_unreadable_result_is_an_error_not_recomputed(tmp_path, monkeypatch):
    path = tmp_path / "k" / "result.npz"
    R.save_npz(path, {"a": np.arange(3)}, {"kind": "test"})
    before = path.read_bytes()
    if os.geteuid() == 0:  # root reads through chmod: make open() refuse instead
        real_open = open

        def guarded(file, *a, **kw):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *a, **kw)

        monkeypatch.setattr(R, "open", guarded, raising=False)
    else:
        path.chmod(0)

    def compute(ckpt, state):
        raise AssertionError("must not recompute another user's file")

    with pytest.raises(PermissionError):
        runner.cached_phase(path, "p", compute)
    path.chmod(0o644)
    assert path.read_bytes() == before


# ----------------------------------------------- 6. stale temporaries, empty folders, lock
def _trivial(calls):
    def compute(ckpt, state):
        calls.append(time.monotonic())
        ckpt.save({"step": np.asarray(1)})
        return {"x": np.arange(4.0)}, {"kind": "test"}

    return compute


def test_6_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    folder = tmp_path / "k"
    folder.mkdir()
    dead = folder / f".checkpoint-p.npz.pid{2**22 + 12345}@{R._host()}.abc.tmp"
    old_style = folder / ".checkpoint-p.npz.x1y2z3.tmp"  # written before pids were recorded
    live = folder / f".result.npz.{R._WRITER}.def.tmp"  # this (live) process
    for f in (dead, old_style, live):
        f.write_bytes(b"partial")
    runner.cached_phase(folder / "result.npz", "p", _trivial([]))
    assert not dead.exists() and not old_style.exists() and live.exists()
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".tmp")) == ["result.npz"]


def test_6_failed_run_leaves_no_empty_folder(tmp_path):
    folder = tmp_path / "k"

    def failing(ckpt, state):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        runner.cached_phase(folder / "result.npz", "p", failing)
    assert not folder.exists()

    def interrupted(ckpt, state):  # a checkpoint to resume from keeps the folder
        ckpt.save({"step": np.asarray(3)})
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.cached_phase(folder / "result.npz", "p", interrupted)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-p.npz"]


def test_6_second_identical_run_waits_then_reuses(tmp_path, capfd):
    path = tmp_path / "k" / "result.npz"
    calls, infos = [], []
    entered = threading.Event()

    def slow(ckpt, state):
        entered.set()
        time.sleep(1.0)
        return _trivial(calls)(ckpt, state)

    def first():
        infos.append(("first", runner.cached_phase(path, "p", slow)[2]))

    t = threading.Thread(target=first)
    t.start()
    assert entered.wait(30)
    info = runner.cached_phase(path, "p", _trivial(calls))[2]  # waits on the lock
    t.join()
    assert len(calls) == 1 and info["reused"] is True
    assert infos[0][1]["reused"] is False
    assert "waiting for another process" in capfd.readouterr().err
    assert not (path.parent / R.LOCK_FILE).exists()
