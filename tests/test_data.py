"""eos.data: loaders on synthetic files in the official formats, error messages, the
download path (with a fake fetcher: tests never touch the network), and the real data in
``EOS_DATA_DIR`` / ``../shared/data`` when present."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from eos import data

PER_BATCH = 30  # images per synthetic CIFAR batch file


@pytest.fixture(autouse=True)
def _fresh_caches():
    data.clear_cache()
    yield
    data.clear_cache()


# --------------------------------------------------------------------------- writers


def _cifar_batches(seed: int = 0) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        out[name] = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, size=PER_BATCH)],
            b"data": rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8),
            b"filenames": [b"x.png"] * PER_BATCH,
        }
    return out


def write_cifar(root: Path, seed: int = 0) -> dict[str, dict]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = _cifar_batches(seed)
    for name, d in batches.items():
        with open(folder / name, "wb") as f:
            pickle.dump(d, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in data.CIFAR10_CLASSES]}, f)
    return batches


TRAIN_ROWS = [
    ("a great movie ", 1),
    ("a dull , dull film ", 0),
    ("great fun ", 1),
    ("not good ", 0),
    ("terrible", 0),
    ("a moving story ", 1),
    ("dull", 0),
    ("fun and great and moving", 1),
]
DEV_ROWS = [("a great unseen film", 1), ("dull stuff", 0), ("fun", 1), ("bad", 0)]


def write_sst2(root: Path, train=TRAIN_ROWS, dev=DEV_ROWS) -> None:
    folder = root / "SST-2"
    folder.mkdir(parents=True)
    for name, rows in (("train.tsv", train), ("dev.tsv", dev)):
        text = "sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows)
        (folder / name).write_text(text, encoding="utf-8")


def nhwc(rows: np.ndarray) -> np.ndarray:
    """Independent decoding of channel-major CIFAR rows: pixel (r, c) of channel k is at
    index k*1024 + r*32 + c."""
    n = rows.shape[0]
    out = np.empty((n, 32, 32, 3), dtype=np.float64)
    for k in range(3):
        out[..., k] = rows[:, k * 1024 : (k + 1) * 1024].reshape(n, 32, 32)
    return out


def standardise(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return (x - ref.mean(axis=(0, 1, 2))) / ref.std(axis=(0, 1, 2))


# --------------------------------------------------------------------------- CIFAR-10


def test_cifar10_first_n_nhwc_standardised(tmp_path):
    batches = write_cifar(tmp_path)
    n = 45  # spans data_batch_1 and data_batch_2
    rows = np.concatenate([batches["data_batch_1"][b"data"], batches["data_batch_2"][b"data"]])
    labels = batches["data_batch_1"][b"labels"] + batches["data_batch_2"][b"labels"]
    ds = data.cifar10(n, root=tmp_path)
    assert isinstance(ds, data.Dataset)
    assert ds.inputs.shape == (n, 32, 32, 3) and ds.inputs.dtype == np.float32
    assert ds.labels.dtype == np.int32 and ds.num_classes == 10 and ds.name == "cifar10"
    np.testing.assert_array_equal(ds.labels, labels[:n])
    raw = nhwc(rows[:n])
    np.testing.assert_allclose(ds.inputs, standardise(raw, raw), rtol=1e-6, atol=1e-6)
    x = ds.inputs.astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(x.std(axis=(0, 1, 2)), 1.0, atol=1e-6)
    np.testing.assert_allclose(ds.metadata["mean"], raw.mean(axis=(0, 1, 2)))


def test_cifar10_test_split_uses_training_statistics(tmp_path):
    batches = write_cifar(tmp_path)
    ds = data.cifar10(20, split="test", root=tmp_path, train_n=25)
    train_raw = nhwc(batches["data_batch_1"][b"data"][:25])
    test_raw = nhwc(batches["test_batch"][b"data"][:20])
    np.testing.assert_allclose(ds.inputs, standardise(test_raw, train_raw), rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(ds.labels, batches["test_batch"][b"labels"][:20])
    assert ds.metadata["train_n"] == 25 and ds.metadata["split"] == "test"
    # the training size must be named for held-out splits, and only for them
    with pytest.raises(ValueError, match="pass train_n="):
        data.cifar10(20, split="test", root=tmp_path)
    with pytest.raises(ValueError, match="only used for held-out splits"):
        data.cifar10(20, root=tmp_path, train_n=20)
    with pytest.raises(ValueError, match="pass train_n="):
        data.cifar10_binary(20, split="test", root=tmp_path)


def test_cifar10_binary_selection(tmp_path):
    batches = write_cifar(tmp_path)
    rows = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    labels = np.concatenate([batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)])
    k = min(np.sum(labels == 3), np.sum(labels == 5))
    n = 2 * k  # every cat/dog pair available
    ds = data.cifar10_binary(n, root=tmp_path)
    cats = np.flatnonzero(labels == 3)[:k]
    dogs = np.flatnonzero(labels == 5)[:k]
    raw = nhwc(rows[np.concatenate([cats, dogs])])
    np.testing.assert_array_equal(ds.labels, [-1] * k + [1] * k)  # cat = -1, dog = +1
    np.testing.assert_allclose(ds.inputs, standardise(raw, raw), rtol=1e-6, atol=1e-5)
    assert ds.num_classes == 1
    with pytest.raises(ValueError, match=rf"n={n + 2} exceeds the {n} balanced cat/dog"):
        data.cifar10_binary(n + 2, root=tmp_path)


def test_cifar10_errors(tmp_path):
    write_cifar(tmp_path)
    with pytest.raises(ValueError, match="unknown split 'validation'.*train, test"):
        data.cifar10(10, split="validation", root=tmp_path)
    for bad in (0, -3, 2.5, "ten"):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            data.cifar10(bad, root=tmp_path)
    with pytest.raises(ValueError, match=f"n=151 exceeds the {5 * PER_BATCH} CIFAR-10 train"):
        data.cifar10(151, root=tmp_path)
    with pytest.raises(ValueError, match="n=11 is odd.*balanced"):
        data.cifar10_binary(11, root=tmp_path)


def test_corrupted_pickle_names_file(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated pickle
    with pytest.raises(ValueError, match=r"corrupted CIFAR-10 batch file .*data_batch_1"):
        data.cifar10(5, root=tmp_path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop(b"labels"), r"data_batch_1: key b'labels' is missing"),
        (lambda d: d.pop(b"data"), r"data_batch_1: key b'data' is missing"),
        (lambda d: d.update({b"data": d[b"data"][:, :100]}), r"b'data' should be uint8"),
        (lambda d: d.update({b"labels": d[b"labels"][:-1]}), r"b'labels' has shape"),
    ],
)
def test_malformed_batch_names_file_and_key(tmp_path, edit, message):
    batches = write_cifar(tmp_path)
    d = dict(batches["data_batch_1"])
    edit(d)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as f:
        pickle.dump(d, f)
    with pytest.raises(ValueError, match=message):
        data.cifar10(5, root=tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_unpickler_refuses_arbitrary_globals(tmp_path):
    write_cifar(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        data.cifar10(1, root=tmp_path)


def test_cache_and_read_only(tmp_path):
    write_cifar(tmp_path)
    a = data.cifar10(10, root=tmp_path)
    assert data.cifar10(10, root=str(tmp_path)) is a  # keyed on the resolved root
    assert data.cifar10(12, root=tmp_path) is not a
    with pytest.raises(ValueError):
        a.inputs[0, 0, 0, 0] = 1.0


# --------------------------------------------------------------------------- SST-2


def test_sst2_selection_vocab_and_padding(tmp_path):
    write_sst2(tmp_path)
    ds = data.sst2(6, root=tmp_path)
    # first 3 negatives, then first 3 positives
    neg = [s for s, y in TRAIN_ROWS if y == 0][:3]
    pos = [s for s, y in TRAIN_ROWS if y == 1][:3]
    np.testing.assert_array_equal(ds.labels, [-1, -1, -1, 1, 1, 1])
    phrases = [s.split() for s in neg + pos]
    # vocabulary by hand: counts a 3, dull 2, great 2, then singletons (ties alphabetical)
    vocab = ds.metadata["vocab"]
    assert vocab[:2] == ("<pad>", "<unk>")
    assert vocab[2:6] == ("a", "dull", "great", ",")
    assert ds.metadata["vocab_size"] == len(vocab) == 2 + len({w for p in phrases for w in p})
    assert ds.metadata["pad_id"] == 0 and ds.metadata["unk_id"] == 1
    T = max(len(p) for p in phrases)
    assert ds.inputs.shape == (6, T) and ds.inputs.dtype == np.int32 and ds.metadata["max_len"] == T
    word = {w: i for i, w in enumerate(vocab)}
    for row, phrase in zip(ds.inputs, phrases):
        assert list(row[: len(phrase)]) == [word[w] for w in phrase]
        assert np.all(row[len(phrase) :] == 0)
    np.testing.assert_array_equal(ds.metadata["mask"], ds.inputs != 0)
    assert ds.num_classes == 1 and ds.name == "sst2"


def test_sst2_dev_uses_train_vocabulary_and_max_len(tmp_path):
    write_sst2(tmp_path)
    train = data.sst2(6, root=tmp_path)
    dev = data.sst2(4, split="dev", root=tmp_path, train_n=6)
    word = {w: i for i, w in enumerate(train.metadata["vocab"])}
    assert dev.metadata["vocab"] == train.metadata["vocab"]
    # dev order: negatives "dull stuff", "bad"; positives "a great unseen film", "fun"
    np.testing.assert_array_equal(dev.labels, [-1, -1, 1, 1])
    assert list(dev.inputs[0, :2]) == [word["dull"], 1]  # "stuff" unseen -> unknown id 1
    assert list(dev.inputs[2, :4]) == [word["a"], word["great"], 1, word["film"]]
    short = data.sst2(6, root=tmp_path, max_len=2)
    assert short.inputs.shape == (6, 2) and short.metadata["truncated"] > 0


def test_sst2_errors(tmp_path):
    write_sst2(tmp_path)
    with pytest.raises(ValueError, match="unknown split 'test'.*train, dev"):
        data.sst2(4, split="test", root=tmp_path)
    with pytest.raises(ValueError, match="n=5 is odd"):
        data.sst2(5, root=tmp_path)
    with pytest.raises(ValueError, match="n=10 exceeds the 8 balanced SST-2 train"):
        data.sst2(10, root=tmp_path)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.sst2(0, root=tmp_path)
    with pytest.raises(ValueError, match="pass train_n="):
        data.sst2(4, split="dev", root=tmp_path)


def test_truncated_tsv_names_file_and_line(tmp_path):
    write_sst2(tmp_path)
    path = tmp_path / "SST-2" / "train.tsv"
    text = path.read_text()
    path.write_text(text[: text.index("not good") + 5])  # cut inside line 5
    with pytest.raises(ValueError, match=r"train\.tsv, line 5: expected 2 tab-separated"):
        data.sst2(2, root=tmp_path)


def test_malformed_tsv_label_and_header(tmp_path):
    write_sst2(tmp_path, train=[("fine", 1), ("meh", 2)])
    with pytest.raises(ValueError, match=r"train\.tsv, line 3: label must be 0 or 1"):
        data.sst2(2, root=tmp_path)
    other = tmp_path / "other"
    write_sst2(other)
    path = other / "SST-2" / "train.tsv"
    path.write_text(path.read_text().replace("sentence\tlabel", "text\ty"))
    with pytest.raises(ValueError, match=r"train\.tsv, line 1: expected the header"):
        data.sst2(2, root=other)


# --------------------------------------------------------------------------- root & download


def test_data_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / "env"))
    assert data.data_root() == (tmp_path / "env").resolve()
    assert data.data_root(tmp_path / "arg") == (tmp_path / "arg").resolve()
    monkeypatch.delenv("EOS_DATA_DIR")
    import pooch

    assert data.data_root() == Path(pooch.os_cache("eos")).resolve() / "data"


def _offline(*args, **kwargs):
    raise ConnectionError("Failed to resolve 'www.cs.toronto.edu' (network is unreachable)")


@pytest.mark.parametrize(
    "loader, folder, url",
    [
        (lambda: data.cifar10(10), "cifar-10-batches-py", "cifar-10-python.tar.gz"),
        (lambda: data.cifar10_binary(10), "cifar-10-batches-py", "cifar-10-python.tar.gz"),
        (lambda: data.sst2(10), "SST-2", "glue/data/SST-2.zip"),
    ],
)
def test_missing_data_offline_error(tmp_path, monkeypatch, loader, folder, url):
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data.store, "fetch_archive", _offline)
    with pytest.raises(FileNotFoundError) as info:
        loader()
    msg = str(info.value)
    assert str(tmp_path.resolve() / folder) in msg
    assert "EOS_DATA_DIR" in msg
    assert url in msg
    assert "ConnectionError" in msg


def test_hash_mismatch_is_reported(tmp_path, monkeypatch):
    def bad_hash(*args, **kwargs):
        raise ValueError("MD5 hash of downloaded file does not match the known hash")

    monkeypatch.setattr(data.store, "fetch_archive", bad_hash)
    with pytest.raises(ValueError, match="failed its hash check.*md5:c58f3010"):
        data.cifar10(5, root=tmp_path)


def test_download_path_extracts_official_archives(tmp_path, monkeypatch):
    """A fake fetcher returns archives in the official packaging; the loader extracts them."""
    src = tmp_path / "src"
    batches = write_cifar(src)
    write_sst2(src)
    calls = []

    def fake_fetch(url, known_hash, directory, fname):
        calls.append((url, known_hash, fname))
        archive = directory / fname
        directory.mkdir(parents=True, exist_ok=True)
        if fname.endswith(".tar.gz"):
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        else:
            with zipfile.ZipFile(archive, "w") as zf:
                for f in (src / "SST-2").iterdir():
                    zf.write(f, arcname=f"SST-2/{f.name}")
        return archive

    root = tmp_path / "cache"
    monkeypatch.setattr(data.store, "fetch_archive", fake_fetch)
    ds = data.cifar10(7, root=root)
    np.testing.assert_array_equal(ds.labels, batches["data_batch_1"][b"labels"][:7])
    assert data.sst2(4, root=root).labels.tolist() == [-1, -1, 1, 1]
    assert [c[2] for c in calls] == ["cifar-10-python.tar.gz", "SST-2.zip"]
    assert calls[0][1] == "md5:c58f30108f718f92721af3b95e74349a"
    assert calls[1][1].startswith("md5:")
    data.clear_cache()
    data.cifar10(7, root=root)  # now on disk: no second download
    assert len(calls) == 2


# --------------------------------------------------------------------------- real data


def _real_root() -> Path | None:
    env = os.environ.get("EOS_DATA_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    return root.resolve() if (root / "cifar-10-batches-py").is_dir() else None


REAL = _real_root()
needs_real = pytest.mark.skipif(REAL is None, reason="real data not found (EOS_DATA_DIR)")


@needs_real
def test_real_cifar10_5000():
    ds = data.cifar10(5000, root=REAL)
    assert ds.inputs.shape == (5000, 32, 32, 3)
    assert set(np.unique(ds.labels).tolist()) == set(range(10))
    x = ds.inputs.astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(0, 1, 2)), 1.0, atol=1e-5)


@needs_real
def test_real_cifar10_binary_and_sst2_balanced():
    b = data.cifar10_binary(5000, root=REAL)
    assert b.inputs.shape == (5000, 32, 32, 3)
    assert (b.labels == -1).sum() == 2500 and (b.labels == 1).sum() == 2500
    if not (REAL / "SST-2").is_dir():
        pytest.skip("SST-2 not present")
    s = data.sst2(5000, root=REAL)
    assert (s.labels == -1).sum() == 2500 and (s.labels == 1).sum() == 2500
    assert s.inputs.shape[0] == 5000 and s.inputs.max() < s.metadata["vocab_size"]
    assert np.all(s.metadata["lengths"] >= 1)


def test_pickle_roundtrip_of_writer_is_official_format():
    """The synthetic writer produces what the loader reads: protocol-2 dict with bytes keys."""
    buf = io.BytesIO()
    pickle.dump(_cifar_batches()["data_batch_1"], buf, protocol=2)
    d = pickle.loads(buf.getvalue(), encoding="bytes")
    assert set(d) >= {b"data", b"labels"} and d[b"data"].shape == (PER_BATCH, 3072)
