"""Fault injection: runs killed (SIGKILL) at random points and resumed bit for bit, full and
read-only results folders, Ctrl-C, and generated bad input (hypothesis) for the configuration
validator and the data loaders, each answered by a one-line error naming the field."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_data import write_cifar, write_sst2

from eos import cli, data
from eos import experiments as E
from eos import objective as O
from eos import results as R

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"checkpoint_every": 2}  # not in the cache key: more points to kill at


# ------------------------------------------------------------------ SIGKILL and resume
_KILLER = r"""
import os, signal, sys, json
from eos import results as R, experiments as E
phase, at, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
count, save, replace = {}, R.Checkpointer.save, os.replace
def die(*a):
    os.kill(os.getpid(), signal.SIGKILL)
def killing_save(self, state):
    n = count[self.phase] = count.get(self.phase, 0) + 1
    hit = self.phase == phase and n == at
    if hit and mode == "before":
        die()
    if hit and mode == "during":  # the temporary file is written, the rename never happens
        R.os.replace = lambda src, dst: die() if "checkpoint" in str(dst) else replace(src, dst)
    save(self, state)
    if hit and mode == "after":
        die()
R.Checkpointer.save = killing_save
E.run("fig1-mlp", profile="smoke", progress=False, **json.loads(sys.argv[4]))
"""


def _counting_run(monkeypatch):
    counts: dict[str, int] = {}
    save = R.Checkpointer.save

    def counting(self, state):
        counts[self.phase] = counts.get(self.phase, 0) + 1
        save(self, state)

    monkeypatch.setattr(R.Checkpointer, "save", counting)
    res = E.run("fig1-mlp", profile="smoke", progress=False, **SMALL)
    monkeypatch.setattr(R.Checkpointer, "save", save)
    return res, counts


@pytest.mark.slow
def test_sigkill_at_random_points_resumes_bit_for_bit(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path / "reference"))
    reference, counts = _counting_run(monkeypatch)
    assert counts.get("instability", 0) >= 2 and counts.get("after", 0) >= 1, counts
    rng = random.Random(22)  # three kill points: one per phase, one during a write
    points = [("instability", rng.randint(1, counts["instability"]), "after"),
              ("after", rng.randint(1, counts["after"]), "before"),
              (rng.choice(["instability", "after"]), 1, "during")]  # fmt: skip
    for i, (phase, at, mode) in enumerate(points):
        folder = tmp_path / f"killed{i}"
        env = dict(os.environ, EOS_RESULTS_DIR=str(folder))
        proc = subprocess.run([sys.executable, "-c", _KILLER, phase, str(at), mode,
                               json.dumps(SMALL)], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == -signal.SIGKILL, (phase, at, mode, proc.stderr[-2000:])
        if mode == "during":  # the killed writer's temporary file is left behind
            assert list(folder.rglob(".checkpoint-*.npz.*.tmp"))
        monkeypatch.setenv("EOS_RESULTS_DIR", str(folder))
        resumed = E.run("fig1-mlp", profile="smoke", progress=False, **SMALL)
        if mode != "during" or at > 1:  # a checkpoint was complete: resumed from it
            assert resumed.provenance["resumed_from"], (phase, at, mode)
        for part in ("history", "trajectory"):
            ours, ref = getattr(resumed, part), getattr(reference, part)
            assert sorted(ours) == sorted(ref)
            for k in ref:
                assert ours[k].dtype == ref[k].dtype
                np.testing.assert_array_equal(ours[k], ref[k], err_msg=f"{part}/{k}")
        np.testing.assert_array_equal(resumed.theta_star, reference.theta_star)
        assert not list(folder.rglob("*.tmp")) and not list(folder.rglob(R.LOCK_FILE))
        assert not list(folder.rglob("checkpoint-*.npz"))  # finished phases clear theirs


# --------------------------------------------------------- full and read-only folders
def _refuse_writes_under(monkeypatch, folder: Path, code: int) -> None:
    """Make creating files or folders under ``folder`` fail with ``code``, as a read-only or
    unwritable folder does; root writes through chmod, so the os functions refuse instead."""
    real_open, real_mkdir = os.open, os.mkdir
    message = os.strerror(code)
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def guarded_open(path, flags, *a, **kw):
        if str(path).startswith(str(folder)) and flags & writes:
            raise OSError(code, message, str(path))
        return real_open(path, flags, *a, **kw)

    def guarded_mkdir(path, *a, **kw):
        if str(path).startswith(str(folder)):
            raise OSError(code, message, str(path))
        return real_mkdir(path, *a, **kw)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


def _run_cli(capsys, *argv: str) -> tuple[int, str]:
    status = cli.main(["run", "fig1-mlp", "--no-progress", *argv])
    return status, capsys.readouterr().err


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_unwritable_results_folder_is_one_line(data_root, tmp_path, monkeypatch, capsys, code):
    folder = tmp_path / "results"
    folder.mkdir()
    monkeypatch.setenv("EOS_RESULTS_DIR", str(folder))
    if code == errno.EACCES and os.geteuid() != 0:
        folder.chmod(0o555)  # a real unwritable folder where chmod binds
    else:
        _refuse_writes_under(monkeypatch, folder, code)
    status, err = _run_cli(capsys)
    folder.chmod(0o755)
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(folder) in err and "EOS_RESULTS_DIR" in err
    assert _files(folder) == []


def test_full_disk_is_one_line_and_nothing_half_written(data_root, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "results"
    monkeypatch.setenv("EOS_RESULTS_DIR", str(folder))

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    status, err = _run_cli(capsys)
    assert status == 2 and "Traceback" not in err, err
    assert "No space left on device" in err and "EOS_RESULTS_DIR" in err, err
    assert str(folder) in err
    assert [p for p in _files(folder) if p.suffix == ".tmp" or p.name == R.RESULT_FILE] == []
    assert not list(folder.rglob(R.LOCK_FILE))


def test_ctrl_c_exits_130_with_the_resume_hint(data_root, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "results"
    monkeypatch.setenv("EOS_RESULTS_DIR", str(folder))
    save, calls = R.Checkpointer.save, []

    def interrupt(self, state):
        save(self, state)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(R.Checkpointer, "save", interrupt)
    status, err = _run_cli(capsys)
    assert status == 130
    assert err.strip() == "eos run: interrupted; run the same command again to resume"
    assert not list(folder.rglob(R.LOCK_FILE)) and list(folder.rglob("checkpoint-*.npz"))
    monkeypatch.setattr(R.Checkpointer, "save", save)
    status, err = _run_cli(capsys)  # the same command resumes
    assert status == 0, err
    assert list(folder.rglob(R.RESULT_FILE))


# ------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "override, field",
    [("model_kwargs.width=0", "width"), ("model_kwargs.width=-4", "width"),
     ("model_kwargs.depth=0", "depth"), ("data_kwargs.nosuch=1", "nosuch")],
)  # fmt: skip
def test_cli_range_checks_name_the_field(capsys, override, field):
    status = cli.main(["show", "fig1-mlp", "-o", override])
    err = capsys.readouterr().err
    assert status == 2 and field in err and "Traceback" not in err, err


def test_parameter_vector_length_is_checked():
    obj = O.Objective.from_function(lambda p: (p**2).sum(), num_params=3)
    for call in (obj.value, obj.grad, obj.value_and_grad):
        with pytest.raises(ValueError, match=r"p must have shape \(3,\).*got shape \(4,\)"):
            call(np.ones(4))
    with pytest.raises(ValueError, match=r"v must have shape \(3,\) or \(3, k\)"):
        obj.hvp(np.ones(3), np.ones(5))
    with pytest.raises(ValueError, match=r"v must have shape \(3,\)"):
        obj.D(np.ones(3), 2, np.ones(2))
    np.testing.assert_allclose(obj.grad(np.arange(3.0)), 2 * np.arange(3.0))


_BAD = st.one_of(st.integers(max_value=0), st.booleans(), st.text(max_size=3),
                 st.floats(allow_nan=True, allow_infinity=True))  # fmt: skip
_INT_FIELDS = ("n", "diag_every", "lambda2_every", "sharpness_every", "checkpoint_every", "k",
               "eig_max_iters", "pool")  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(_INT_FIELDS + ("lr", "eig_tol", "lambda2_threshold")), value=_BAD)
def test_property_config_validator_names_the_field(field, value):
    if field in ("lr", "eig_tol", "lambda2_threshold") and isinstance(value, float):
        value = -abs(value) if value == value else value  # a non-positive or nan number
    with pytest.raises(ValueError, match=field):
        E.get_config("fig1-mlp", profile="smoke", **{field: value})


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(["width", "depth"]), value=_BAD)
def test_property_model_kwargs_name_the_field(key, value):
    with pytest.raises(ValueError, match=key):
        E.get_config("fig1-mlp", profile="smoke", model_kwargs={key: value})


@settings(max_examples=40, deadline=None)
@given(
    options=st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), min_size=1),
    dataset=st.sampled_from(sorted(data.OPTIONS)),
)
def test_property_data_options_name_the_keyword(options, dataset):
    bad = {k: v for k, v in options.items() if k not in data.OPTIONS[dataset] or v < 1}
    if not bad:
        return
    with pytest.raises(ValueError, match="data_kwargs"):
        data.check_options(dataset, options)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=10_000), junk=st.binary(max_size=64))
def test_property_damaged_cifar_batch_names_the_file(cut, junk):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_cifar(root)
        f = root / "cifar-10-batches-py" / "data_batch_1"
        raw = f.read_bytes()
        f.write_bytes(raw[: min(cut, len(raw) - 1)] + junk)  # truncated, then garbage
        data.clear_cache()
        with pytest.raises(ValueError, match="corrupted CIFAR-10 batch file .*data_batch_1"):
            data.cifar10(4, root=root)


@settings(max_examples=40, deadline=None)
@given(
    label=st.text(max_size=3).filter(lambda s: s not in ("0", "1") and "\n" not in s),
    sentence=st.text(alphabet="abc \t", max_size=8),
)
def test_property_malformed_sst2_row_names_the_line(label, sentence):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_sst2(root)
        f = root / "SST-2" / "train.tsv"
        f.write_text(f.read_text() + f"{sentence}\t{label}\n")
        data.clear_cache()
        with pytest.raises(ValueError, match=r"malformed SST-2 file .*train.tsv, line \d+"):
            data.sst2(4, root=root)


@settings(max_examples=40, deadline=None)
@given(n=_BAD.filter(lambda n: not (isinstance(n, float) and n > 0 and n.is_integer())))
def test_property_loader_sizes_name_n(n):  # (a positive whole float, 2.0, is a valid size)
    with pytest.raises(ValueError, match="n"):
        data.cifar10(n, root="/nonexistent")
