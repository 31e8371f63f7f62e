"""The published-results bundle (eos.experiments.published): publishing, loading back,
refusals, checksums, and the bundle in the repository against the registry."""

from __future__ import annotations

import numpy as np
import pytest

from eos import experiments as E
from eos import results as R
from eos.experiments import published as P
from eos.figures.captions import describe_published

pytestmark = pytest.mark.usefixtures("data_root")

PROVENANCE_FIELDS = ("eos_version", "git", "jax_version", "device", "started", "finished",
                     "wall_time_s", "registered_under", "data_fingerprint", "published")  # fmt: skip


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    monkeypatch.setenv(P.DIR_ENV, str(tmp_path / "published"))
    return tmp_path / "published"


@pytest.fixture
def smoke_fig1():
    # function scope: the conftest's isolated results folder is set by then (a module-scoped
    # fixture would run before it); after the first test the run is read from that cache
    return E.run("fig1-mlp", profile="smoke", progress=False)


def test_publish_and_load_back_identical(bundle, smoke_fig1):
    path = P.publish("fig1-mlp", profile="smoke")  # test-only: a smoke run
    assert path == bundle / "fig1-mlp.npz"
    back = P.load_published("fig1-mlp")
    assert back.config == smoke_fig1.config
    assert back.meta == smoke_fig1.meta
    for part in ("trajectory", "history"):
        ours, theirs = getattr(back, part), getattr(smoke_fig1, part)
        assert sorted(ours) == sorted(theirs)
        for k in ours:
            assert ours[k].dtype == theirs[k].dtype
            np.testing.assert_array_equal(ours[k], theirs[k])
    assert back.theta_star is None and back.params is None  # no parameter vectors
    for field in PROVENANCE_FIELDS:
        assert field in back.provenance, field
    assert P.local_data_matches(back) is True
    caption = describe_published(back)
    assert "published run" in caption and "differ" not in caption
    rows = P.published()
    assert [r["name"] for r in rows] == ["fig1-mlp"]
    assert rows[0]["steps"] == smoke_fig1.steps_done


def test_non_paper_run_is_refused(bundle, smoke_fig1):
    with pytest.raises(ValueError, match="not a 'paper'-profile run"):
        P.publish("fig1-mlp")
    assert not (bundle / "fig1-mlp.npz").exists()


def test_unfinished_run_is_refused(bundle, tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished run"):
        P.publish("fig1-mlp", results_dir=tmp_path / "empty")


def test_corrupted_bundle_file_is_detected(bundle, smoke_fig1):
    path = P.publish("fig1-mlp", profile="smoke")
    arrays, manifest = R.load_npz(path)
    key = next(k for k in arrays if k.startswith("trajectory/"))
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] += 1  # a changed number, the manifest's checksum kept
    with np.load(path) as z:
        raw = z[R.MANIFEST_KEY]
    np.savez(path, **arrays, **{R.MANIFEST_KEY: raw})
    with pytest.raises(R.CorruptResultError, match="checksum"):
        P.load_published("fig1-mlp")


def test_switched_off(bundle, smoke_fig1, monkeypatch):
    P.publish("fig1-mlp", profile="smoke")
    assert P.available("fig1-mlp")
    monkeypatch.setenv(P.PUBLISHED_ENV, "off")
    assert not P.available("fig1-mlp")


def _bundle_names():
    return sorted(p.stem for p in P.bundle_dir().glob("*.npz"))


@pytest.mark.parametrize("name", _bundle_names())
def test_repository_bundle_matches_the_registry(name):
    """Every published file loads (checksum), carries its provenance, and belongs to a
    registered experiment whose ``paper`` configuration is the recorded one: a registry change
    that silently invalidates a published run fails here."""
    run = P.load_published(name)
    assert name in E.EXPERIMENTS
    assert run.config.key_dict() == E.get_config(name, profile="paper").key_dict()
    assert "paper" in run.provenance["registered_under"]
    for field in PROVENANCE_FIELDS:
        assert field in run.provenance, field
    assert run.path.stat().st_size < 1_000_000
