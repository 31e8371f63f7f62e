"""Command line: ``python -m eos`` (or the ``eos`` script).

    eos list [--group G] [--profile P] [--departures]
    eos run NAME [--profile P] [--lr LR] [--override KEY=VALUE ...] [--no-progress]
    eos run --group G [--jobs N] [--executor local|slurm|submitit-local] [--devices-per-job K]
            [--partition P] [--gpus-per-job K] [--time-min M] [--profile P] [--override ...]
    eos show NAME [--profile P] [--lr LR] [--override KEY=VALUE ...] [--json]
    eos publish NAME... [--results DIR]
    eos published [--timings]
    eos figures [--profile P] [--bibtex]

``--profile`` defaults to ``EOS_PROFILE`` (see :mod:`eos.profiles`). ``--override`` takes a
configuration field of :class:`eos.experiments.ExperimentConfig` (``track_steps=50``,
``chunk_size=none``, ``generalized=false``), a JSON object for ``model_kwargs``/``data_kwargs``
(merged into the experiment's), or one of their keys as ``model_kwargs.width=16``. Errors
(unknown experiment, group, profile or field; ill-typed values) print one line naming the valid
choices and exit with status 2; so do file-system errors (a full disk, a read-only or
unwritable folder), naming the path and the environment variable that moves it. Ctrl-C exits
with status 130 and says how to resume.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "parse_overrides"]

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _parse_value(field: str, text: str) -> Any:
    from eos.experiments.config import FIELD_TYPES

    types = FIELD_TYPES.get(field)
    if types is None:
        valid = ", ".join(k for k in FIELD_TYPES if k != "name")
        raise ValueError(f"unknown override {field!r}; valid fields are {valid}")
    low = text.strip().lower()
    if type(None) in types and low in ("none", "null"):
        return None
    if dict in types:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise ValueError(
                f"override {field}={text!r}: expected a JSON object such as "
                f"'{{\"width\": 16}}', or use {field}.KEY=VALUE"
            )
        return value
    if bool in types:
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"override {field}={text!r}: expected true or false")
    if int in types:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"override {field}={text!r}: expected an integer") from None
    if float in types:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"override {field}={text!r}: expected a number") from None
    return text


def _json_or_text(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return tuple(value) if isinstance(value, list) else value


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["track_steps=50", "model_kwargs.width=16"]`` -> ``{"track_steps": 50,
    "model_kwargs": {"width": 16}}`` (typed by :class:`ExperimentConfig`'s fields)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like KEY=VALUE")
        key, text = item.split("=", 1)
        key = key.strip()
        if "." in key:
            field, sub = key.split(".", 1)
            if field not in ("model_kwargs", "data_kwargs"):
                raise ValueError(
                    f"override {key!r}: only model_kwargs.KEY and data_kwargs.KEY take a dotted key"
                )
            out.setdefault(field, {})[sub] = _json_or_text(text)
        else:
            value = _parse_value(key, text)
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key].update(value)
            else:
                out[key] = value
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eos",
        description="Experiments of 'Self-Stabilization' (Damian, Nichani, Lee): list, run, show.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, optional: bool = False) -> None:
        sp.add_argument(
            "name", nargs="?" if optional else None, help="experiment name (`eos list`)"
        )
        sp.add_argument("--profile", help="smoke | quick | paper (default: $EOS_PROFILE or quick)")
        sp.add_argument("--lr", type=float, help="override the learning rate")
        sp.add_argument(
            "--override",
            "-o",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a configuration field (repeatable)",
        )

    ls = sub.add_parser("list", help="list registered experiments")
    ls.add_argument(
        "--group",
        help="fig1 | fig4 | app-e | app-g | implications | fig5 | fig6 | warmup | sam | all "
        "| a setting slug",
    )
    ls.add_argument("--profile", help="show configurations under this profile")
    ls.add_argument(
        "--departures",
        action="store_true",
        help="a Markdown table of the runs whose size or learning rate departs from the paper",
    )
    r = sub.add_parser("run", help="compute an experiment (cached, resumable)")
    common(r, optional=True)
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    _group_options(r)
    s = sub.add_parser("show", help="show an experiment's configuration and cached result")
    common(s)
    s.add_argument("--json", action="store_true", help="print provenance and meta as JSON")
    pub = sub.add_parser("publish", help="copy finished paper-profile runs into published/")
    pub.add_argument("names", nargs="+", help="experiment names")
    pub.add_argument("--results", help="results folder to take them from (default: the cache)")
    pd_ = sub.add_parser("published", help="list the published paper-profile runs")
    pd_.add_argument(
        "--timings", action="store_true", help="a Markdown table of their recorded wall times"
    )
    _figures_parser(sub)
    return p


def _group_options(r: argparse.ArgumentParser) -> None:
    """``run --group``: the experiment set by parallel workers (eos.experiments.parallel)."""
    g = r.add_argument_group("a group of experiments in parallel (instead of NAME)")
    g.add_argument("--group", help="run the group's experiments (see `eos list --group`)")
    g.add_argument("--jobs", type=int, default=1, help="concurrent workers (default 1)")
    g.add_argument("--executor", default="local", help="local | slurm | submitit-local")
    g.add_argument(
        "--devices-per-job", type=int, help="GPUs per local worker (default: even split)"
    )
    g.add_argument("--partition", help="SLURM partition")
    g.add_argument("--gpus-per-job", type=int, default=1, help="SLURM GPUs per job (default 1)")
    g.add_argument("--time-min", type=int, default=240, help="SLURM time limit per job (minutes)")


def _figures_parser(sub: Any) -> None:
    f = sub.add_parser("figures", help="list the figures written, with their provenance")
    f.add_argument("--profile", help="whose figures (default: $EOS_PROFILE or quick)")
    f.add_argument("--bibtex", action="store_true", help="print a BibTeX entry per figure")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    ov = parse_overrides(args.override)
    if args.lr is not None:
        ov["lr"] = args.lr
    return ov


def _cmd_list(args: argparse.Namespace) -> int:
    from eos import experiments as E
    from eos import profiles
    from eos.experiments import departures

    names = E.experiments_for(args.group) if args.group else E.list_experiments()
    prof = (
        profiles.current_profile()
        if args.profile is None
        else profiles.validate_profile(args.profile)
    )
    if args.departures:  # the runs this profile makes (`eos run --group`)
        return _print_departures(E.selected(args.group or "all", prof), prof)
    print(f"{len(names)} experiment(s), profile {prof!r} (≠paper: the fields in which the run "
          "departs from the paper's; `eos show NAME` gives both values):")  # fmt: skip
    for name in names:
        exp = E.EXPERIMENTS[name]
        c = exp.config(prof)
        mark = departures.marker(departures.departures(name, prof))
        print(
            f"  {name:34s} {exp.paper_ref:24s} {c.kind:8s} n={c.n:<5d} lr={c.lr_text():<12s} "
            f"track_steps={c.track_steps}" + (f"  {mark}" if mark else "")
        )
    return 0


def _print_departures(names: Sequence[str], prof: str) -> int:
    """``list --departures``: one Markdown line per run departing from the paper."""
    from eos.analysis.tables import markdown_table
    from eos.experiments import departures

    rows = departures.departure_rows(list(names), prof)
    print(f"{len(rows)} of {len(names)} experiment(s) depart from the paper under {prof!r} "
          "(profile value, paper value in parentheses):")  # fmt: skip
    if rows:
        table = {r["experiment"]: {"size": r["size"], "lr": r["lr"]} for r in rows}
        print(markdown_table(table, index_name="experiment"))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from eos import experiments as E

    if (args.name is None) == (args.group is None):
        raise ValueError("give an experiment NAME or --group G (one of them)")
    if args.group is not None:
        return _cmd_run_group(args)
    result = E.run(
        args.name, profile=args.profile, progress=not args.no_progress, **_overrides(args)
    )
    print(result.summary())
    return 0


def _cmd_run_group(args: argparse.Namespace) -> int:
    from eos.experiments import parallel

    rows = parallel.run_group(
        args.group,
        profile=args.profile,
        jobs=args.jobs,
        executor=args.executor,
        devices_per_job=args.devices_per_job,
        slurm={
            "partition": args.partition,
            "gpus_per_job": args.gpus_per_job,
            "time_min": args.time_min,
        },  # fmt: skip
        progress=not args.no_progress,
        **_overrides(args),
    )
    print(parallel.summary_table(rows))
    return 0 if all(r.status == "done" for r in rows) else 1


def _cmd_show(args: argparse.Namespace) -> int:
    from eos import experiments as E
    from eos import profiles

    ov = _overrides(args)
    prof = (
        profiles.current_profile()
        if args.profile is None
        else profiles.validate_profile(args.profile)
    )
    print(E.describe(args.name, profile=prof, **ov))
    _print_show_departures(args.name, prof, ov)
    try:
        result = E.load(args.name, profile=prof, **ov)
    except FileNotFoundError as exc:
        print(f"status: not computed yet. {exc}")
        return 0
    print("status: computed")
    print(result.summary())
    if args.json:
        print(json.dumps({"provenance": result.provenance, "meta": result.meta}, indent=2))
    return 0


def _print_show_departures(name: str, prof: str, overrides: dict[str, Any]) -> None:
    """``show``: the paper's value next to this run's, for each field in which they differ."""
    from eos import experiments as E
    from eos.experiments import departures

    deps = departures.compare(
        E.get_config(name, profile="paper"), E.get_config(name, profile=prof, **overrides)
    )
    if not deps:
        print(f"as in the paper: the {prof!r} run has the paper's sizes and learning rate")
        return
    print(f"departs from the paper under {prof!r} (field: this run, paper):")
    for d in deps:
        print(f"  {d.field}: {d.profile}  (paper: {d.paper})")


def _cmd_publish(args: argparse.Namespace) -> int:
    from eos.experiments import published

    for name in args.names:
        path = published.publish(name, results_dir=args.results)
        print(f"published {name} -> {path} ({path.stat().st_size / 1024:.1f} KiB)")
    return 0


def _cmd_published(args: argparse.Namespace) -> int:
    from eos.experiments import published

    rows = published.published()
    if getattr(args, "timings", False):
        from eos.analysis.tables import markdown_table
        from eos.experiments.timings import timing_rows

        runs = {r["name"]: published.load_published(r["name"]) for r in rows}
        table = {t.pop("experiment"): t for t in timing_rows(runs)}
        print(markdown_table(table, index_name="experiment"))
        return 0
    print(f"{len(rows)} published run(s) in {published.bundle_dir()}:")
    for r in rows:
        print(
            f"  {r['name']:30s} {r['device']:12s} {r['finished'][:10]} commit {r['commit']} "
            f"instability {r['instability_step']} steps {r['steps']} stop {r['stop_reason']} "
            f"{r['kib']} KiB data {r['data']}"
        )
    return 0


def _cmd_figures(args: argparse.Namespace) -> int:
    from eos.figures import provenance
    from eos.profiles import current_profile, validate_profile

    prof = validate_profile(args.profile) if args.profile else current_profile()
    rows = provenance.list_figures(prof)
    print(f"{len(rows)} figure(s) of profile {prof} under {provenance.figure_root()}:")
    print(provenance.format_listing(rows))
    if args.bibtex:
        print("\n\n".join(provenance.bibtex(r) for r in rows))
    return 0


#: Environment variables naming the folders the commands read and write.
_FOLDER_VARS = ("EOS_RESULTS_DIR", "EOS_DATA_DIR", "EOS_FIGURE_DIR", "EOS_PUBLISHED_DIR")


def _os_error(exc: OSError) -> str:
    """One line for a file-system error: what failed, on which path, and what to change."""
    import errno
    import os

    path = exc.filename or "?"
    what = exc.strerror or str(exc)
    var = "EOS_RESULTS_DIR"  # where runs write, unless the path is under another folder
    for name in _FOLDER_VARS:
        folder = os.environ.get(name, "").strip()
        if folder and os.path.abspath(str(path)).startswith(os.path.abspath(folder)):
            var = name
            break
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = f"free space there, or set {var} to a folder on a disk with room"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        hint = f"make it writable for you, or set {var} to a folder you can write"
    else:
        hint = f"check the path, or set {var} to another folder"
    return f"{what}: {path}; {hint}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input or a file-system error, 130
    interrupted)."""
    args = _parser().parse_args(argv)
    handler = {
        "list": _cmd_list,
        "run": _cmd_run,
        "show": _cmd_show,
        "publish": _cmd_publish,
        "published": _cmd_published,
        "figures": _cmd_figures,
    }[args.command]
    try:
        return handler(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eos {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `eos list | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # disk full, read-only or unwritable folder, permissions
        print(f"eos {args.command}: error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"eos {args.command}: interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
