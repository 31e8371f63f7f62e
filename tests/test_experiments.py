"""The experiment registry, the on-disk cache and the resumable runner (eos.experiments, eos.results).

Pipeline tests run the real code path (data -> objective -> eos.dynamics) under the ``smoke``
profile with ``EOS_RESULTS_DIR`` in a temporary folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest

import eos
from eos import experiments as E
from eos import results as R
from eos.experiments import phases as P
from eos.profiles import PROFILES

# ---------------------------------------------------------------------------------------------
# The paper, transcribed (App. D.1, D.2, Sec. 6, Fig. 1, Fig. 4, App. E and App. G headings).
# ---------------------------------------------------------------------------------------------
# App. D.1: "The MLP has width 200, the CNN has width 32, and both are using the swish
# activation. [...] a ResNet18 with progressive widths 16, 32, 64, 128 and [...] a 2-layer
# Transformer with hidden dimension 64 and two attention heads." 3-layer MLP and CNN (Sec. 6).
PAPER_ARCHITECTURES = {
    "mlp": {"width": 200, "linear_layers": 3},
    "cnn": {"width": 32, "conv_layers": 2},
    "resnet18": {"widths": (16, 32, 64, 128), "layers": 18},
    "transformer": {"hidden_size": 64, "num_heads": 2, "num_layers": 2},
}
# App. D.2 tasks: (data set, number of classes, loss)
TASKS = {
    "MLP+MSE on CIFAR10": ("mlp", "cifar10", 10, "categorical_mse"),
    "CNN+MSE on CIFAR10": ("cnn", "cifar10", 10, "categorical_mse"),
    "CNN+Logistic on CIFAR10 (cats vs dogs)": ("cnn", "cifar10_binary", 2, "logistic"),
    "ResNet18+MSE on CIFAR10 (cats vs dogs)": ("resnet18", "cifar10_binary", 2, "binary_mse"),
    "Transformer+MSE on SST2": ("transformer", "sst2", 2, "binary_mse"),
    "Transformer+Logistic on SST2": ("transformer", "sst2", 2, "logistic"),
}
# App. E / App. G learning rates, per setting (section headings "eta = ...").
APP_E_LRS = {
    "MLP+MSE on CIFAR10": (0.02, 0.01, 0.005, 0.002),
    "CNN+MSE on CIFAR10": (0.02, 0.005, 0.002),
    "CNN+Logistic on CIFAR10 (cats vs dogs)": (0.02, 0.01, 0.005, 0.002),
    "ResNet18+MSE on CIFAR10 (cats vs dogs)": (0.002, 0.001),
    "Transformer+MSE on SST2": (0.002, 0.001),
    "Transformer+Logistic on SST2": (0.02, 0.01, 0.005, 0.002),
}
# Fig. 4 (Sec. 7.1 headings): MLP+MSE eta=0.002, CNN+MSE eta=0.005, Transformer+MSE eta=0.001.
FIG4 = {
    ("MLP+MSE on CIFAR10", 0.002),
    ("CNN+MSE on CIFAR10", 0.005),
    ("Transformer+MSE on SST2", 0.001),
}
# Fig. 1: "We train an MLP on CIFAR10 with learning rate eta = 2/100."
FIG1_LR = 2 / 100
# Sec. 6 / App. D: "a 5k subset of CIFAR10"; App. D.3: stop once lambda_2 >= 1.9/eta.
PAPER_N = 5000
LAMBDA2_STOP = 1.9
# The implications chapter's runs (book/implications.ipynb): Fig. 5 (Sec. 8.2); Fig. 6 (App.
# G.1: "ResNet18 with full batch gradient descent on the full 50k training set of CIFAR10 with
# various learning rates, in addition to the commonly proposed learning rate schedule
# eta_t := 1/S(theta_t)"); warmup (a jump and a linear warmup) and SAM (Sec. 7.3).
# Fig. 1: the paper's eta = 2/100 and the other learning rates the book draws beside it
FIG1_LRS = {"fig1-mlp": 0.02, "fig1-mlp-lr0.04": 0.04, "fig1-mlp-lr0.01": 0.01,
            "fig1-mlp-lr0.005": 0.005}  # fmt: skip
# The central-flow chapter's runs (beyond the paper): one per run they compare against.
CENTRAL = {"central-mlp": "mlp-mse-cifar10-lr0.02", "central-fig5": "fig5-multiple-unstable"}
# eos.experiments.theorem1_scaling: the MLP at four learning rates
THEOREM1_SCALING = ("thm1-scaling-mlp-lr0.01", "thm1-scaling-mlp-lr0.02", "thm1-scaling-mlp-lr0.03",
                    "thm1-scaling-mlp-lr0.04")  # fmt: skip
IMPLICATIONS = {
    "fig5": ["fig5-multiple-unstable"],
    "fig6": ["fig6-c0.25", "fig6-c0.5", "fig6-c1", "fig6-c1.5", "fig6-inverse-sharpness"],
    "warmup": ["warmup-jump", "warmup-linear"],
    "sam": ["sam"],
}
APP_G1_N = 50_000


def _task_of(cfg: E.ExperimentConfig) -> str:
    matches = [
        t
        for t, (m, d, _, c) in TASKS.items()
        if (m, d, c) == (cfg.model, cfg.dataset, cfg.criterion)
    ]
    assert len(matches) == 1, cfg
    return matches[0]


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_every_experiment_resolves_under_every_profile(profile):
    names = E.list_experiments()
    n_app = len(FIG1_LRS) + sum(len(v) for v in APP_E_LRS.values())
    n_implications = sum(len(v) for v in IMPLICATIONS.values())
    assert (
        len(names)
        == len(set(names))
        == n_app + n_implications + len(CENTRAL) + len(THEOREM1_SCALING)
    )
    keys = {}
    for name in names:
        cfg = E.get_config(name, profile=profile)
        assert cfg.name == name
        assert cfg == E.get_config(name, profile=profile) and hash(cfg) == hash(
            E.get_config(name, profile=profile)
        )
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.lr = 1.0  # type: ignore[misc]
        text = json.dumps(cfg.to_dict())  # JSON-serialisable ...
        assert E.ExperimentConfig.from_dict(json.loads(text)) == cfg  # ... and round-trips
        assert cfg.kind in ("track", "gd", "spectrum", "central")
        if cfg.kind == "track":
            assert cfg.track_steps >= 1 and cfg.lambda2_threshold == LAMBDA2_STOP
        keys.setdefault(cfg.key(), []).append(name)
        # the model really builds with these keywords (shape-only, no compute)
        _count_params(cfg)
    if profile != "smoke":  # distinct configurations get distinct cache keys ...
        for shared in (v for v in keys.values() if len(v) > 1):
            # ... except under quick for a setting with a quick learning rate: its names resolve
            # to one run, as every setting's names do under smoke
            slugs = {next(s for s in E.SETTINGS if n.startswith(s + "-lr")) for n in shared}
            assert profile == "quick" and len(slugs) == 1, shared
            assert E.SETTINGS[slugs.pop()].quick_lr is not None, shared
    # the profile env var picks the default
    os.environ["EOS_PROFILE"], old = profile, os.environ.get("EOS_PROFILE")
    try:
        assert E.get_config("fig1-mlp") == E.get_config("fig1-mlp", profile=profile)
    finally:
        os.environ["EOS_PROFILE"] = old if old is not None else "smoke"


def _count_params(cfg: E.ExperimentConfig) -> int:
    return _count(cfg.model, cfg.model_kwargs, 10 if cfg.dataset == "cifar10" else 1)


@functools.cache
def _count(model: str, model_kwargs: tuple, num_classes: int) -> int:
    from eos import models

    kw = dict(model_kwargs)
    if model == "transformer":
        kw.setdefault("vocab_size", 100)
        x = jax.ShapeDtypeStruct((2, 16), np.int32)
    else:
        x = jax.ShapeDtypeStruct((2, 32, 32, 3), np.float32)
    module = models.build(model, num_classes=num_classes, **kw)
    shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), x)
    return sum(int(np.prod(s.shape)) for s in jax.tree_util.tree_leaves(shapes))


def test_paper_profile_matches_appendix_d():
    # App. E and App. G: exactly the settings and learning rates the paper reports
    for group in ("app-e", "app-g"):
        got = set()
        for name in E.experiments_for(group):
            cfg = E.get_config(name, profile="paper")
            assert cfg.kind == "track"
            got.add((_task_of(cfg), cfg.lr))
        want = {(t, lr) for t, lrs in APP_E_LRS.items() for lr in lrs}
        assert got == want
    # App. G uses the generalized predicted dynamics (App. F)
    assert all(E.get_config(n, profile="paper").generalized for n in E.experiments_for("app-g"))
    # Fig. 4
    got = {(_task_of(c), c.lr) for c in map(lambda n: E.get_config(n, profile="paper"),
                                              E.experiments_for("fig4"))}  # fmt: skip
    assert got == FIG4
    # Fig. 1: plain GD of the MLP on CIFAR-10 at eta = 2/100, past instability (~2200 steps)
    assert E.experiments_for("fig1") == list(FIG1_LRS)
    c = E.get_config("fig1-mlp", profile="paper")
    assert (c.kind, c.model, c.dataset, c.lr) == ("gd", "mlp", "cifar10", FIG1_LR)
    assert c.max_steps > 2200 and c.track_steps > 0 and c.n == PAPER_N
    for name, lr in FIG1_LRS.items():  # the other learning rates differ from it only in eta
        other = E.get_config(name, profile="paper")
        assert other.lr == lr and dataclasses.replace(other, name="fig1-mlp", lr=FIG1_LR) == c

    for name in E.experiments_for("fig1") + E.experiments_for("app-e"):
        c = E.get_config(name, profile="paper")
        # App. D: 5k examples, full batch (ghost batches would only change rounding)
        assert c.n == PAPER_N
        arch = PAPER_ARCHITECTURES[c.model]
        kw = c.model_kw
        if c.model == "mlp":
            assert kw["width"] == arch["width"] and kw["depth"] + 1 == arch["linear_layers"]
            # independent count: 3072*200+200 + 200*200+200 + 200*10+10
            assert _count_params(c) == 3072 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10
        elif c.model == "cnn":
            assert kw.get("width", 32) == arch["width"]
            out = 10 if c.dataset == "cifar10" else 1
            # two 3x3 convs (3->32, 32->32) with biases; two 2x2 pools: 8*8*32 features
            want = 3 * 3 * 3 * 32 + 32 + 3 * 3 * 32 * 32 + 32 + 8 * 8 * 32 * out + out
            assert _count_params(c) == want
        elif c.model == "resnet18":
            assert tuple(kw["widths"]) == arch["widths"]
            # stem + 4 stages x 2 basic blocks x 2 convs + final dense = 18 weight layers
            assert 1 + len(kw["widths"]) * kw.get("blocks_per_stage", 2) * 2 + 1 == arch["layers"]
        elif c.model == "transformer":
            for k in ("hidden_size", "num_heads", "num_layers"):
                assert kw[k] == arch[k], k
        # App. D.2 label spaces
        assert (c.dataset == "cifar10") == (TASKS[_task_of(c)][2] == 10)


def test_groups_and_names():
    assert set(E.experiments_for("all")) == set(E.list_experiments())
    assert "mlp-mse-cifar10-lr0.02" in E.experiments_for("app-e")
    assert "fig1-mlp" in E.experiments_for("fig1")
    for g in E.GROUPS:
        assert E.experiments_for(g), g
    for name in E.experiments_for("app-e"):
        c = E.get_config(name, profile="paper")
        assert name.endswith(f"-lr{c.lr:g}")


def test_selected_runs_per_profile():
    """paper and smoke run every experiment of a group (smoke: but the Fig. 6 learning rate
    that only paper runs); quick keeps, per App. E setting, only the largest learning rate of
    the paper's headings (APP_E_LRS), plus Fig. 1 and the implications chapter."""
    paper_only = [n for n in E.list_experiments() if E.EXPERIMENTS[n].profiles == ("paper",)]
    assert paper_only == ["fig1-mlp-lr0.005", "fig6-c0.25"]
    not_smoke = [n for n in E.list_experiments() if "smoke" not in E.EXPERIMENTS[n].profiles]
    assert not_smoke == ["fig1-mlp-lr0.01", "fig1-mlp-lr0.005", "fig6-c0.25"]
    for group in E.GROUPS:
        assert E.selected(group, "paper") == E.experiments_for(group), group
        smoke = [n for n in E.experiments_for(group) if n not in not_smoke]
        assert E.selected(group, "smoke") == smoke, group
    quick = E.selected("app-e", "quick")
    expected = {(task, max(lrs)) for task, lrs in APP_E_LRS.items()}
    got = {(_task_of(E.get_config(n, profile="paper")), E.get_config(n, profile="paper").lr)
           for n in quick}  # fmt: skip
    assert got == expected and len(quick) == len(expected)
    assert E.selected("fig1", "quick") == ["fig1-mlp", "fig1-mlp-lr0.04", "fig1-mlp-lr0.01"]
    implications = E.selected("implications", "quick")
    assert set(implications) == {n for ns in IMPLICATIONS.values() for n in ns} - set(paper_only)
    fig1_quick = set(E.selected("fig1", "quick"))
    central = set(E.selected("central", "quick"))
    assert central == set(CENTRAL)
    scaling = set(E.selected("theorem1-scaling", "quick"))
    assert scaling == set(THEOREM1_SCALING)
    assert set(E.selected("all", "quick")) == (
        set(quick) | fig1_quick | set(implications) | central | scaling
    )
    assert E.selected("fig4", "quick") == []  # Fig. 4's learning rates are all below the largest
    for slug in E.SETTINGS:  # one run per setting, a member of the group
        (name,) = E.selected(slug, "quick")
        assert name in E.experiments_for(slug)
    with pytest.raises(ValueError, match="unknown group 'fig9'"):
        E.selected("fig9", "quick")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        E.selected("app-e", "huge")


def test_quick_and_smoke_are_smaller_than_paper():
    for name in E.list_experiments():
        p, q, s = (E.get_config(name, profile=x) for x in ("paper", "quick", "smoke"))
        assert s.n <= q.n <= p.n
        assert s.track_steps <= q.track_steps <= p.track_steps
        assert s.max_steps <= q.max_steps <= p.max_steps
        assert max(_count_params(s), _count_params(q)) <= _count_params(p)


def test_quick_learning_rates():
    """Under quick, a setting with quick_lr runs every name at that rate (and says so in the
    configuration); the other settings run the rate in the name; paper always does."""
    for slug, setting in E.SETTINGS.items():
        for name in E.experiments_for(slug):
            paper_lr = E.get_config(name, profile="paper").lr
            assert name.endswith(f"-lr{paper_lr:g}")
            quick_lr = E.get_config(name, profile="quick").lr
            assert quick_lr == (setting.quick_lr if setting.quick_lr is not None else paper_lr)
    assert E.SETTINGS["resnet18-mse-cifar10cd"].quick_lr == E.QUICK_LR_RESNET
    assert E.get_config("resnet18-mse-cifar10cd-lr0.001", profile="quick").lr == E.QUICK_LR_RESNET


@pytest.mark.parametrize("profile", PROFILES)
def test_implications_experiments_are_registered(profile):
    """The chapter's runs are 'spectrum' experiments of the registry, in its groups, resolving
    under every profile, with the relations the chapter relies on."""
    for group, names in IMPLICATIONS.items():
        assert E.experiments_for(group) == names
    assert E.experiments_for("implications") == [n for ns in IMPLICATIONS.values() for n in ns]
    cfg = {n: E.get_config(n, profile=profile) for ns in IMPLICATIONS.values() for n in ns}
    assert all(c.kind == "spectrum" for c in cfg.values())
    fig6 = [n for n in E.selected("fig6", profile) if cfg[n].schedule == "constant"]
    factors = [cfg[n].lr for n in fig6]  # eta = c / S(theta_0)
    assert factors == sorted(factors) and all(cfg[n].relative_lr for n in fig6)
    assert all(n == f"fig6-c{c:g}" for n, c in zip(fig6, factors))
    inverse = cfg["fig6-inverse-sharpness"]
    assert (inverse.schedule, inverse.lr, inverse.relative_lr) == ("inverse_sharpness", 1.0, False)
    base = cfg[fig6[0]]
    for name in ("warmup-jump", "warmup-linear"):  # both start where the smallest eta ended
        w = cfg[name]
        assert w.start == base and w.relative_lr and w.lr == 2 * 4.0  # S_s = 4 * 2/eta_0
        assert w.test_n == 0 and w.rho == 0
    assert cfg["warmup-jump"].schedule == "constant"
    assert cfg["warmup-linear"].schedule == "linear_warmup" and cfg["warmup-linear"].warmup_steps
    sam = cfg["sam"]  # SAM at the largest learning rate of Fig. 6, from the same initialisation
    assert sam.rho == 0.05 and sam.lr == factors[-1] and sam.relative_lr and sam.start is None
    # every run but Fig. 5 trains the same objective, for the same number of steps per chunk
    for name, c in cfg.items():
        if name != "fig5-multiple-unstable":
            assert all(getattr(c, f) == getattr(base, f) for f in ("model", "model_kwargs", "n",
                       "pool", "k", "chunk_steps", "eig_tol", "eig_max_iters"))  # fmt: skip
    assert E.analysis_params("fig5-multiple-unstable", profile=profile)["window"] >= 8
    assert E.analysis_params("sam", profile=profile) == {}


def test_implications_paper_profile():
    """App. G.1: ResNet18, full-batch GD on the 50k CIFAR-10 training images, several constant
    learning rates and eta_t = 1/S(theta_t); Fig. 5: the MLP of App. D on 5k images."""
    for name in E.experiments_for("fig6") + E.experiments_for("warmup") + ["sam"]:
        c = E.get_config(name, profile="paper")
        assert (c.model, c.dataset, c.n, c.pool) == ("resnet18", "cifar10", APP_G1_N, 1), name
        assert tuple(c.model_kw["widths"]) == PAPER_ARCHITECTURES["resnet18"]["widths"]
    assert len(E.selected("fig6", "paper")) >= 3 + 1  # several constant rates and 1/S
    c = E.get_config("fig5-multiple-unstable", profile="paper")
    assert (c.model, c.model_kw["width"], c.n, c.pool, c.lr) == ("mlp", 200, PAPER_N, 1, FIG1_LR)


def test_spectrum_fields_belong_to_spectrum_runs():
    with pytest.raises(ValueError, match="rho applies only to 'spectrum'"):
        E.get_config("mlp-mse-cifar10-lr0.02", rho=0.1)
    with pytest.raises(ValueError, match="k applies only to 'gd' and 'spectrum'"):
        E.get_config("mlp-mse-cifar10-lr0.02", k=2)
    with pytest.raises(ValueError, match="warmup_steps"):
        E.get_config("warmup-jump", warmup_steps=3)
    with pytest.raises(ValueError, match="unknown schedule"):
        E.get_config("sam", schedule="cosine")
    with pytest.raises(ValueError, match="trains another objective"):
        E.get_config("warmup-jump", n=32)
    with pytest.raises(ValueError, match="pool"):
        E.get_config("sam", pool=3)
    c = E.get_config("warmup-linear", profile="smoke")
    assert E.ExperimentConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert "name" not in c.key_dict()["start"] and c.key() != c.start.key()


@pytest.mark.parametrize(
    "call, message, listed",
    [
        (lambda: E.get_config("nope"), "unknown experiment 'nope'", "mlp-mse-cifar10-lr0.02"),
        (lambda: E.run("nope"), "unknown experiment 'nope'", "fig1-mlp"),
        (lambda: E.load("nope"), "unknown experiment 'nope'", "fig1-mlp"),
        (lambda: E.get_config("fig1-mlp", profile="huge"), "unknown profile 'huge'", "smoke"),
        (lambda: E.experiments_for("fig9"), "unknown group 'fig9'", "app-g"),
        (lambda: E.get_config("fig1-mlp", steps=3), "unknown override 'steps'", "track_steps"),
        (
            lambda: E.apply_overrides(E.get_config("fig1-mlp"), {"name": "x"}),
            "unknown override 'name'",
            "max_steps",
        ),
        (lambda: E.get_config("fig1-mlp", n=2.5), "wrong type", "int"),
        (lambda: E.get_config("fig1-mlp", n=True), "wrong type", "int"),
        (lambda: E.get_config("fig1-mlp", lr="big"), "wrong type", "float"),
        (lambda: E.get_config("fig1-mlp", lr=0.0), "finite number > 0", "lr"),
        (
            lambda: E.get_config("fig1-mlp", track_steps=-1),
            "must be an integer >= 0",
            "track_steps",
        ),
        (lambda: E.get_config("fig1-mlp", kind="sgd"), "unknown kind", "track, gd"),
        (lambda: E.get_config("fig1-mlp", model="vgg"), "unknown model", "resnet18"),
        (lambda: E.get_config("fig1-mlp", dataset="mnist"), "unknown dataset", "sst2"),
        (lambda: E.get_config("fig1-mlp", criterion="logistic"), "does not fit", "cifar10"),
        (
            lambda: E.get_config("fig1-mlp", model_kwargs={"wide": 3}),
            "unknown model_kwargs",
            "width",
        ),
        (lambda: E.get_config("fig1-mlp", model_kwargs={"width": 2.0}), "integer", "width"),
        (lambda: E.get_config("fig1-mlp", chunk_size=0), "chunk_size", "positive"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, message, listed):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value) and listed in str(info.value)


def test_overrides_change_config_and_int_to_float():
    c = E.get_config("fig1-mlp", profile="smoke", lr=1, track_steps=3, chunk_size=8)
    assert c.lr == 1.0 and isinstance(c.lr, float) and c.track_steps == 3 and c.chunk_size == 8
    base = E.get_config("fig1-mlp", profile="smoke")
    assert c.key() != base.key()
    # the checkpoint interval and the name do not change what is computed
    assert E.get_config("fig1-mlp", profile="smoke", checkpoint_every=7).key() == base.key()
    assert dataclasses.replace(base, name="other").key() == base.key()


# ---------------------------------------------------------------------------------------------
# eos.results: atomic files, validation, keys
# ---------------------------------------------------------------------------------------------
def _arrays():
    rng = np.random.default_rng(0)
    return {
        "gd/loss": rng.standard_normal(7).astype(np.float32),
        "gd/x": rng.standard_normal((3, 2)),
        "lambda2/step": np.arange(4, dtype=np.int64),
        "flag": np.array(True),
        "label": np.array("stop"),
        "nan": np.array([np.nan, np.inf, -0.0]),
    }


def test_npz_round_trip_is_bitwise(tmp_path):
    a = _arrays()
    R.save_npz(tmp_path / "r.npz", a, {"meta": {"x": np.float32(1.5), "t": (1, 2)}})
    b, manifest = R.load_npz(tmp_path / "r.npz")
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
        assert a[k].tobytes() == b[k].tobytes()
    assert manifest["meta"] == {"x": 1.5, "t": [1, 2]}
    assert manifest["complete"] is True and manifest["format"] == R.FORMAT_VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]  # no temp file left behind


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "foreign", "incomplete"])
def test_half_written_or_damaged_file_is_never_valid(tmp_path, damage):
    path = tmp_path / "r.npz"
    R.save_npz(path, _arrays(), {})
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":  # a bit flip inside one array's data
        i = raw.index(_arrays()["gd/x"].tobytes()) + 5
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign":
        np.savez(path, x=np.arange(3))
    elif damage == "incomplete":
        arrays, manifest = R.load_npz(path)
        manifest["complete"] = False
        data = {**arrays, R.MANIFEST_KEY: np.frombuffer(json.dumps(manifest).encode(), np.uint8)}
        with open(path, "wb") as fh:
            np.savez(fh, **data)
    with pytest.raises(R.CorruptResultError):
        R.load_npz(path)


def test_writer_crash_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "r.npz"
    R.save_npz(path, {"a": np.arange(3)}, {"v": 1})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(R.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        R.save_npz(path, {"a": np.arange(5)}, {"v": 2})
    monkeypatch.undo()
    arrays, manifest = R.load_npz(path)
    assert manifest["v"] == 1 and arrays["a"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]


def test_checkpointer_ignores_damaged_checkpoint(tmp_path):
    ck = R.Checkpointer(tmp_path, "after")
    assert ck.load() is None
    ck.save({"p": np.arange(4.0), "step": np.asarray(3)})
    got = ck.load()
    assert got["step"] == 3 and got["p"].tolist() == [0, 1, 2, 3]
    ck.path.write_bytes(ck.path.read_bytes()[:50])
    assert ck.load() is None and ck.discarded
    ck.clear()
    assert not ck.path.exists()


def test_cache_key_depends_on_config_and_source():
    c = E.get_config("fig1-mlp", profile="smoke")
    k = R.cache_key(c.key_dict(), "aaaa")
    assert R.cache_key(c.key_dict(), "aaaa") == k
    assert R.cache_key(c.key_dict(), "bbbb") != k
    assert R.cache_key({**c.key_dict(), "seed": 1}, "aaaa") != k
    # the fingerprint hashes the package sources, independently recomputed here
    import hashlib

    pkg = Path(eos.__file__).parent
    h = hashlib.sha256()
    for p in sorted(pkg.rglob("*.py")):
        rel = p.relative_to(pkg).as_posix()
        if rel.startswith("figures/") or rel in ("cli.py", "__main__.py"):
            continue  # plotting and the command line change no number
        h.update(rel.encode() + b"\0" + p.read_bytes() + b"\0")
    assert R.source_fingerprint() == h.hexdigest()[:16]
    assert "figures" in R.FINGERPRINT_EXCLUDE and "experiments" not in R.FINGERPRINT_EXCLUDE


def test_results_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path / "x"))
    assert R.results_root() == tmp_path / "x"
    assert E.result_path("fig1-mlp", profile="smoke").parent == tmp_path / "x"
    monkeypatch.delenv("EOS_RESULTS_DIR")
    import pooch

    assert R.results_root() == Path(pooch.os_cache("eos")) / "results"


def test_load_before_run_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        E.load("fig1-mlp", profile="smoke")
    assert "python -m eos run fig1-mlp --profile smoke" in str(info.value)


# ---------------------------------------------------------------------------------------------
# the real pipeline (smoke profile)
# ---------------------------------------------------------------------------------------------
needs_data = pytest.mark.usefixtures("data_root")

# Small variants of real experiments for the pipeline tests. They share one objective and one
# learning rate, so the compiled dynamics are reused across tests (phase 1 is shared too).
TRACK = ("mlp-mse-cifar10-lr0.02", {"track_steps": 3})
GD = ("fig1-mlp", {"track_steps": 6})
SPECTRUM = ("fig6-c0.5", {"track_steps": 120})  # chunks of 50 steps: checkpoints at 50, 100


class _Counter:
    """Counts calls of the dynamics phases (wrapping the real functions of eos.experiments.phases)."""

    def __init__(self, monkeypatch, phases=("instability", "track", "gd")):
        self.calls = dict.fromkeys(phases, 0)
        for phase in phases:
            real = getattr(P, phase)

            def wrapped(*a, _real=real, _phase=phase, **k):
                self.calls[_phase] += 1
                return _real(*a, **k)

            monkeypatch.setattr(P, phase, wrapped)


def _same_arrays(a: E.Result, b: E.Result) -> None:
    assert set(a.trajectory) == set(b.trajectory) and set(a.history) == set(b.history)
    for part in ("trajectory", "history"):
        for k, v in getattr(a, part).items():
            w = getattr(b, part)[k]
            assert v.dtype == w.dtype and v.shape == w.shape, k
            assert v.tobytes() == w.tobytes(), f"{part}/{k} differs"
    for vector in ("theta_star", "u_star", "params"):
        v, w = getattr(a, vector), getattr(b, vector)
        assert (v is None and w is None) or v.tobytes() == w.tobytes(), vector
    strip = ("wall_time_seconds", "timing_seconds", "seconds")
    clean = lambda m: {k: v for k, v in m.items() if k not in strip}  # noqa: E731
    assert clean(a.meta.get("trajectory", {})) == clean(b.meta.get("trajectory", {}))
    a_meta, b_meta = ({**m, "trajectory": None} for m in (a.meta, b.meta))
    assert clean(a_meta) == clean(b_meta)


@needs_data
def test_cache_hit_returns_identical_arrays_without_recomputation(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path))
    count = _Counter(monkeypatch)
    name, ov = TRACK
    first = E.run(name, profile="smoke", progress=False, **ov)
    assert count.calls == {"instability": 1, "track": 1, "gd": 0}
    second = E.run(name, profile="smoke", progress=False, **ov)
    assert count.calls == {"instability": 1, "track": 1, "gd": 0}  # nothing recomputed
    _same_arrays(first, second)
    _same_arrays(first, E.load(name, profile="smoke", **ov))
    assert first.provenance == second.provenance
    # another experiment with the same phase-1 fields reuses phase 1 (Fig. 1 and lr=0.02)
    gd = E.run(GD[0], profile="smoke", progress=False, **GD[1])
    assert count.calls == {"instability": 1, "track": 1, "gd": 1}
    assert gd.provenance["instability_cache"]["reused"]
    assert gd.theta_star.tobytes() == first.theta_star.tobytes()
    # a changed configuration misses (phase 1 still shared) ...
    longer = E.run(name, profile="smoke", progress=False, **{**ov, "track_steps": 4})
    assert count.calls == {"instability": 1, "track": 2, "gd": 1}
    assert longer.steps_done == 4 or longer.stop_reason != "completed"
    # ... and so does changed source code (a new fingerprint)
    monkeypatch.setattr(R, "source_fingerprint", lambda: "0123456789abcdef")
    with pytest.raises(FileNotFoundError):
        E.load(name, profile="smoke", **ov)
    again = E.run(name, profile="smoke", progress=False, **ov)
    assert count.calls == {"instability": 2, "track": 3, "gd": 1}
    _same_arrays(first, again)  # same code really, so the same numbers


class _Crash(Exception):
    pass


def _crash_after(monkeypatch, phase: str, saves: int) -> None:
    """Make the run die right after the ``saves``-th checkpoint of ``phase`` was written."""
    real = R.Checkpointer.save

    def save(self, state):
        real(self, state)
        if self.phase == phase and self.saves >= saves:
            raise _Crash(f"simulated crash after checkpoint {self.saves} of {phase}")

    monkeypatch.setattr(R.Checkpointer, "save", save)


@needs_data
@pytest.mark.parametrize(
    "name, overrides, phase",
    [(*TRACK, "instability"), (*TRACK, "after"), (*GD, "after"), (*SPECTRUM, "after")],
)
def test_interrupted_run_resumes_bit_for_bit(name, overrides, phase, tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path / "straight"))
    straight = E.run(name, profile="smoke", progress=False, **overrides)

    root = tmp_path / "crashed"
    monkeypatch.setenv("EOS_RESULTS_DIR", str(root))
    with monkeypatch.context() as m:
        _crash_after(m, phase, saves=1)
        with pytest.raises(_Crash):
            E.run(name, profile="smoke", progress=False, **overrides)
    assert [p.name for p in root.rglob("checkpoint-*.npz")] == [f"checkpoint-{phase}.npz"]
    with pytest.raises(FileNotFoundError):  # the interrupted run left no result
        E.load(name, profile="smoke", **overrides)

    count = _Counter(monkeypatch)
    resumed = E.run(name, profile="smoke", progress=False, **overrides)
    if phase == "after":  # phase 1 was complete: not redone
        assert count.calls["instability"] == 0
    assert resumed.provenance["resumed_from"][phase] > 0
    assert "resumed_from" in resumed.provenance and not straight.provenance["resumed_from"]
    _same_arrays(straight, resumed)
    # checkpoints are removed once the result is complete
    assert not list(root.rglob("checkpoint-*.npz"))
    assert not list(root.rglob("*.tmp"))


@needs_data
def test_warmup_starts_from_the_cached_end_of_its_start_run(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path))
    count = _Counter(monkeypatch, phases=("spectrum",))
    start = E.run("fig6-c0.5", profile="smoke", progress=False)
    warm = E.run("warmup-linear", profile="smoke", progress=False, track_steps=20)
    assert count.calls == {"spectrum": 2}  # the start run came from the cache
    assert warm.meta["start"] == "fig6-c0.5" and warm.provenance["start_cache"] == str(start.path)
    _check_result(start)
    _check_result(warm)
    # eta_t rises linearly from eta_s (where the start run ended) to eta_0 = 8/S_s
    eta_s, eta0, steps = start.lr, warm.lr, warm.config.warmup_steps
    assert warm.meta["init_lr"] == eta_s and eta0 * warm.meta["sharpness_at_start"] == 8.0
    want = eta_s + (eta0 - eta_s) * np.minimum(1.0, (np.arange(20) + 1) / steps)
    np.testing.assert_allclose(warm["lr"], want, rtol=1e-6)
    # the start's final parameters are the warmup's first iterate: the same loss
    assert warm["loss"][0] == pytest.approx(float(start.gd_run()["loss"][-1]), rel=0.05)


@needs_data
def test_half_written_result_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path))
    name, overrides = GD
    good = E.run(name, profile="smoke", progress=False, **overrides)
    path = good.path
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(R.CorruptResultError):
        E.load(name, profile="smoke", **overrides)
    count = _Counter(monkeypatch)
    with pytest.warns(UserWarning, match="recomputing"):
        again = E.run(name, profile="smoke", progress=False, **overrides)
    assert count.calls == {"instability": 0, "track": 0, "gd": 1}
    _same_arrays(good, again)


def _git(*args: str) -> subprocess.CompletedProcess:
    root = Path(eos.__file__).resolve().parents[1]
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)


def _check_commit(git: dict) -> None:
    """The recorded commit is HEAD or, if the lead committed meanwhile, an ancestor of HEAD."""
    commit = git["commit"]
    head = _git("rev-parse", "HEAD")
    if head.returncode != 0:  # not a git checkout
        assert commit == "unknown" and git["dirty"] is None
        return
    assert len(commit) == 40 and git["dirty"] in (True, False)
    assert commit == head.stdout.strip() or (
        _git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0
    )


def _check_provenance(res: E.Result) -> None:
    p = res.provenance
    # the configuration as computed: possibly under another name with the same key fields
    computed = E.ExperimentConfig.from_dict(p["config"])
    assert computed.key_dict() == res.config.key_dict()
    assert computed.name in E.list_experiments()
    assert p["cache_key"] == res.config.key() == res.path.parent.name
    assert p["eos_version"] == eos.__version__
    assert p["jax_version"] == jax.__version__ and p["numpy_version"] == np.__version__
    dev = jax.devices()[0]
    assert p["device"] == f"{dev.platform}:{dev.device_kind}"
    assert p["backend"] == jax.default_backend()
    _check_commit(p["git"])
    assert p["source_fingerprint"] == R.source_fingerprint()
    assert p["platform"] and p["python"] and p["data_root"]
    assert p["profile"] in PROFILES
    assert p["registered_under"] == [
        q
        for q in PROFILES
        if computed.name in E.EXPERIMENTS and E.get_config(computed.name, profile=q) == computed
    ]
    started = dt.datetime.fromisoformat(p["started"])
    finished = dt.datetime.fromisoformat(p["finished"])
    assert started <= finished <= dt.datetime.now(dt.timezone.utc)
    walls = p["wall_time_s"]
    if res.config.kind == "spectrum":  # one phase; a start run is a result of its own
        assert set(walls) == {"spectrum"}
        assert sum(walls.values()) <= (finished - started).total_seconds() + 2
        return
    assert set(walls) == {"to_instability", res.config.kind}
    assert all(w >= 0 for w in walls.values())
    if not p["instability_cache"]["reused"]:  # both phases ran between the two dates
        assert sum(walls.values()) <= (finished - started).total_seconds() + 2


def _check_spectrum_result(res: E.Result) -> None:
    c = res.config
    assert res.history == {} and res.theta_star is None and res.params.dtype == np.float32
    n = res.steps_done  # a diverged run also records the step that blew up
    m = n + (res.stop_reason == "diverged")
    assert res.stop_reason in ("completed", "diverged") and (n == c.track_steps) == (m == n)
    assert res["step"].tolist() == list(range(m))
    assert res["loss"].shape == res["lr"].shape == (m,) and np.all(np.isfinite(res["loss"][:n]))
    assert res["eig_step"].tolist() == list(range(0, n, c.sharpness_every))
    assert res["eigvals"].shape == res["x"].shape == (len(res["eig_step"]), c.k)
    assert np.all(np.diff(res["eigvals"], axis=1) <= 0)  # lambda_1 >= ... >= lambda_k
    if c.relative_lr:  # eta S(theta_start) = lr
        assert res.meta["sharpness_at_start"] * res.meta["lr"] == pytest.approx(c.lr, rel=1e-12)
    if c.schedule == "constant":
        np.testing.assert_array_equal(res["lr"], np.float32(res.lr))
    if c.test_n:
        assert set(res["metric_step"]) == set(range(0, n + 1, c.chunk))
        assert np.all((res["metric/test_accuracy"] >= 0) & (res["metric/test_accuracy"] <= 1))
    run = res.gd_run()
    assert run.steps_done == n and run.diverged == (res.stop_reason == "diverged")


def _check_result(res: E.Result) -> None:
    c = res.config
    _check_provenance(res)
    if c.kind == "spectrum":
        _check_spectrum_result(res)
        return
    h = res.history
    assert np.all(np.diff(h["step"]) > 0)
    assert np.all(np.isfinite(h["loss"])) and np.all(np.isfinite(h["sharpness"]))
    # the first unstable iterate: S >= 2/eta there and below 2/eta at every earlier check
    assert res.reached_instability
    at = h["step"] == res.instability_step
    assert at.sum() == 1 and h["sharpness"][at][0] >= c.threshold
    assert np.all(h["sharpness"][h["step"] < res.instability_step] < c.threshold)
    assert res.theta_star.dtype == np.float32 and res.u_star.shape == res.theta_star.shape
    if c.kind == "track":
        assert res.steps_done >= 1
        assert res["step"].tolist() == list(range(res.steps_done + 1))
        for k in ("gd/loss", "predicted/x", "constrained/sharpness", "flow/loss"):
            assert res[k].shape == (res.steps_done + 1,), k
        assert np.all(np.isfinite(res["gd/loss"]))
        assert any(k.startswith("generalized/") for k in res.keys()) == c.generalized
        assert res.trajectory_object().steps_done == res.steps_done
    else:
        assert res["gd/loss"].shape == (c.track_steps + 1,)
        assert np.all(np.isfinite(res["gd/loss"])) and np.all(np.isfinite(res["gd/sharpness"]))


@needs_data
def test_tracking_without_instability_is_a_clear_error(tmp_path, monkeypatch):
    # two float32 steps cannot reach S >= 2/eta: tracking from there would be meaningless
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path))
    name, overrides = TRACK
    count = _Counter(monkeypatch)
    with pytest.warns(UserWarning, match="no instability"):
        with pytest.raises(ValueError, match="did not reach instability within max_steps=2"):
            E.run(name, profile="smoke", progress=False, max_steps=2, **overrides)
    assert count.calls["track"] == 0
