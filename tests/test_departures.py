"""Names that do not lie (issue 19, part 4): `eos list` marks a run that departs from the
paper's size or learning rate, `eos show` prints the paper's value beside the profile's, and
`eos list --departures` tabulates them. Checked against the registry's configurations read
field by field (not through the departures module)."""

from __future__ import annotations

import pytest

from eos import cli
from eos import experiments as E
from eos.experiments import departures as dep


def _line(out: str, name: str) -> str:
    return next(ln for ln in out.splitlines() if ln.split() and ln.split()[0] == name)


def test_quick_resnet_and_transformer_lr_are_marked(capsys):
    assert cli.main(["list", "--profile", "quick", "--group", "app-e"]) == 0
    out = capsys.readouterr().out
    for name in ("resnet18-mse-cifar10cd-lr0.002", "resnet18-mse-cifar10cd-lr0.001",
                 "transformer-mse-sst2-lr0.002"):  # fmt: skip
        line = _line(out, name)
        quick, paper = E.get_config(name, profile="quick"), E.get_config(name, profile="paper")
        assert quick.lr != paper.lr  # the learning rate the name states is not the one run
        mark = line.split("≠paper:")[1].split()
        assert "lr" in mark and "n" in mark
        assert f"lr={quick.lr:g}" in line
    # the quick MLP keeps the paper's width and learning rate: only n is marked
    assert _line(out, "mlp-mse-cifar10-lr0.02").split("≠paper:")[1].split() == ["n"]


def test_paper_profile_has_no_marker(capsys):
    assert cli.main(["list", "--profile", "paper"]) == 0
    out = capsys.readouterr().out
    assert "≠paper:" not in out.split("\n", 1)[1]
    assert all(not dep.departures(n, "paper") for n in E.list_experiments())


def test_show_prints_paper_value_next_to_quick(capsys):
    name = "resnet18-mse-cifar10cd-lr0.002"
    assert cli.main(["show", name, "--profile", "quick"]) == 0
    out = capsys.readouterr().out
    quick, paper = E.get_config(name, profile="quick"), E.get_config(name, profile="paper")
    assert f"lr: {quick.lr:g}  (paper: {paper.lr:g})" in out
    assert f"n: {quick.n}  (paper: {paper.n})" in out
    widths = lambda c: "(" + ", ".join(str(w) for w in c.model_kw["widths"]) + ")"  # noqa: E731
    assert f"model_kwargs.widths: {widths(quick)}  (paper: {widths(paper)})" in out
    assert cli.main(["show", name, "--profile", "paper"]) == 0
    assert "as in the paper" in capsys.readouterr().out


def test_show_counts_overrides_as_departures(capsys):
    assert cli.main(["show", "fig1-mlp", "--profile", "paper", "--lr", "0.03"]) == 0
    assert "lr: 0.03  (paper: 0.02)" in capsys.readouterr().out


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_departures_table_covers_every_run_of_the_profile(capsys, profile):
    assert cli.main(["list", "--profile", profile, "--departures"]) == 0
    out = capsys.readouterr().out
    rows = {ln.split("|")[1].strip(): ln for ln in out.splitlines() if ln.startswith("| ")}
    rows.pop("experiment")
    for name in E.selected("all", profile):
        q, p = E.get_config(name, profile=profile), E.get_config(name, profile="paper")
        differs = (q.n, q.lr, q.model, q.model_kw, q.data_kw, q.pool) != (
            p.n, p.lr, p.model, p.model_kw, p.data_kw, p.pool
        )  # fmt: skip
        assert (name in rows) == differs, name
        if name in rows and q.lr != p.lr:
            assert f"{q.lr:g} ({p.lr:g})" in rows[name]
        if name in rows and q.n != p.n:
            assert f"n {q.n} ({p.n})" in rows[name]


def test_gpu_page_table_is_the_commands_output(capsys):
    """book/reproducing_gpu.md pastes `eos list --profile quick --departures`: regenerate it
    when a quick size or learning rate changes."""
    from pathlib import Path

    assert cli.main(["list", "--profile", "quick", "--departures"]) == 0
    table = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("|")]
    page = Path(__file__).resolve().parents[1] / "book" / "reproducing_gpu.md"
    lines = page.read_text().splitlines()
    start = lines.index(table[0])
    assert lines[start : start + len(table)] == table
