"""The command line (`python -m eos`, `eos.cli.main`): listing, overrides, errors, run/show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eos import cli
from eos import experiments as E

ROOT = Path(__file__).resolve().parents[1]


def _python_m_eos(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "eos", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_python_m_eos_list_and_bad_name():
    ok = _python_m_eos("list", "--group", "fig4", "--profile", "paper")
    assert ok.returncode == 0, ok.stderr
    for name in E.experiments_for("fig4"):
        assert name in ok.stdout
    assert "fig1-mlp" not in ok.stdout

    bad = _python_m_eos("run", "no-such-experiment")
    assert bad.returncode != 0
    assert "unknown experiment 'no-such-experiment'" in bad.stderr
    assert "mlp-mse-cifar10-lr0.02" in bad.stderr  # lists the valid choices
    assert "Traceback" not in bad.stderr


def test_profile_default_comes_from_env(capsys):
    res = _python_m_eos("list", env_extra={"EOS_PROFILE": "paper"})
    assert res.returncode == 0, res.stderr
    assert "profile 'paper'" in res.stdout and "n=5000" in res.stdout
    bad = _python_m_eos("list", env_extra={"EOS_PROFILE": "huge"})
    assert bad.returncode != 0 and "unknown profile 'huge'" in bad.stderr
    assert "smoke, quick, paper" in bad.stderr


@pytest.mark.parametrize(
    "argv, message, choices",
    [
        (["run", "nope"], "unknown experiment 'nope'", "fig1-mlp"),
        (["show", "nope"], "unknown experiment 'nope'", "fig1-mlp"),
        (["run", "fig1-mlp", "--profile", "big"], "unknown profile 'big'", "smoke, quick, paper"),
        (["list", "--group", "app-z"], "unknown group 'app-z'", "app-e"),
        (["run", "fig1-mlp", "-o", "bogus=1"], "unknown override 'bogus'", "track_steps"),
        (["run", "fig1-mlp", "-o", "track_steps=ten"], "expected an integer", "track_steps"),
        (["run", "fig1-mlp", "-o", "generalized=maybe"], "expected true or false", "generalized"),
        (["run", "fig1-mlp", "-o", "lr=-1"], "lr must be a finite number > 0", "lr"),
        (["run", "fig1-mlp", "-o", "track_steps"], "KEY=VALUE", "track_steps"),
        (["run", "fig1-mlp", "-o", "model_kwargs.height=3"], "unknown model_kwargs", "width"),
        (["run", "fig1-mlp", "-o", "model_kwargs=[1]"], "JSON object", "model_kwargs"),
        (["run", "fig1-mlp", "-o", "n.x=3"], "dotted key", "model_kwargs"),
    ],
)
def test_bad_input_exits_nonzero_with_choices(argv, message, choices, capsys):
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and choices in err


def test_parse_overrides_types():
    ov = cli.parse_overrides(
        [
            "track_steps=50",
            "lr=0.5",
            "generalized=false",
            "chunk_size=none",
            "model_kwargs.width=16",
            'model_kwargs={"depth": 1}',
            "data_kwargs.max_len=8",
            "criterion=binary_mse",
        ]
    )
    assert ov == {
        "track_steps": 50,
        "lr": 0.5,
        "generalized": False,
        "chunk_size": None,
        "model_kwargs": {"width": 16, "depth": 1},
        "data_kwargs": {"max_len": 8},
        "criterion": "binary_mse",
    }
    cfg = E.get_config("fig1-mlp", profile="smoke", **cli.parse_overrides(["model_kwargs.width=5"]))
    assert cfg.model_kw == {"width": 5, "depth": 2}  # merged, not replaced
    cfg = E.get_config(
        "resnet18-mse-cifar10cd-lr0.001",
        profile="smoke",
        **cli.parse_overrides(["model_kwargs.widths=[4,4,4]"]),
    )
    assert cfg.model_kw["widths"] == (4, 4, 4)


def test_show_before_and_after_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path))
    argv = ["show", "fig1-mlp", "--profile", "smoke", "-o", "track_steps=2"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "not computed yet" in out and '"track_steps": 2' in out

    assert (
        cli.main(["run", "fig1-mlp", "--profile", "smoke", "-o", "track_steps=2", "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert "fig1-mlp (gd)" in out

    assert cli.main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert "status: computed" in out and '"jax_version"' in out
