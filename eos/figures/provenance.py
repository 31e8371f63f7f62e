"""Citable figures: where each figure file lives and the provenance it carries.

A figure of the book is cited by its *stable name* (``fig2-four-stages``) and its profile. Every
file is written to ``<root>/<profile>/<name>.pdf`` and ``.png`` (``<root>`` is ``EOS_FIGURE_DIR``,
else ``figures/`` at the repository root), so a ``smoke`` or ``quick`` build never overwrites a
``paper`` figure. Figures drawn from the published ``paper``-profile bundle
(:mod:`eos.experiments.published`) land under ``<root>/paper/`` whatever the current profile.

Each file carries its provenance in its own metadata, the PDF info dictionary and PNG text chunks:
the figure id, the paper's figure (or lemma, appendix) it reproduces, the chapter, the profile,
the experiments it draws (``python -m eos list``), the package version, the git commit, the date
and the command that regenerates it. :func:`read_provenance` reads it back from either file, so a
figure in someone's paper can be traced to the run and code that drew it. :data:`FIGURES` is the
registry of the book's figures; :func:`list_figures` lists the files on disk (the book's
"Figures" page and ``python -m eos figures``), :func:`bibtex` gives the entry citing the
companion at that version and commit.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

__all__ = [
    "FIGURES",
    "FigureSpec",
    "bibtex",
    "figure_folder",
    "figure_root",
    "figure_provenance",
    "list_figures",
    "pdf_metadata",
    "png_metadata",
    "read_provenance",
    "spec_for",
]

FIGURE_ENV = "EOS_FIGURE_DIR"
#: The key of the provenance record (JSON) in the PDF info dictionary and the PNG text chunks.
PDF_KEY = "EosProvenance"
PNG_KEY = "eos:provenance"
PAPER = "Damian, Nichani, Lee, ICLR 2023"
PUBLISHED_PROFILE = "paper"
#: The figures :func:`eos.figures.style.savefig` wrote in this process, in order (a chapter lists
#: them at its end, :func:`chapter_footer`).
WRITTEN: list[dict[str, Any]] = []


@dataclass(frozen=True)
class FigureSpec:
    """One entry of the registry: the figures whose stable name matches ``pattern``.

    ``experiments``: experiment names or groups (``eos.experiments.GROUPS``, resolved to the
    names the profile runs); the token ``{setting}`` is replaced by the setting slug that the
    name's ``*`` part abbreviates (``appE-mlp-mse`` -> ``mlp-mse-cifar10``). ``published``: drawn
    from the published ``paper``-profile bundle, not from runs of the current profile.
    """

    pattern: str
    chapter: str
    paper: str
    experiments: tuple[str, ...] = ()
    published: bool = False


#: The book's figures, in reading order (first match wins).
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("fig1-progressive-sharpening-paper", "progressive_sharpening", "Fig. 1", ("fig1-mlp",), True),
    FigureSpec("fig1-progressive-sharpening", "progressive_sharpening", "Fig. 1", ("fig1",)),
    FigureSpec("fig2-four-stages", "four_stages", "Fig. 2"),
    FigureSpec("fig2-iterates", "four_stages", "Fig. 2, eq. (3)"),
    FigureSpec("fig3-orbits", "conserved_quantity", "Fig. 3"),
    FigureSpec("fig3-drift", "conserved_quantity", "Lemma 3"),
    FigureSpec("fig3-lotka-volterra", "conserved_quantity", "eq. (4)"),
    FigureSpec("fig3-corollary1", "conserved_quantity", "Corollary 1"),
    FigureSpec("fig3-period", "conserved_quantity", "Sec. 4.2, eq. (4)"),
    FigureSpec("thm1-mlp-mse", "coupling_theorem", "Theorem 1", ("mlp-mse-cifar10-lr0.02",)),
    FigureSpec("appE-*", "coupling_theorem", "App. E", ("{setting}",)),
    FigureSpec("thm1-scaling", "theorem1_scaling", "Theorem 1, Definition 6", ("theorem1-scaling",)),
    FigureSpec("fig4-mlp-mse-paper", "architectures", "Fig. 4", ("mlp-mse-cifar10",), True),
    FigureSpec("fig4-resnet18-*", "architectures", "App. G", ("{setting}",)),
    FigureSpec("fig4-*", "architectures", "Fig. 4", ("{setting}",)),
    FigureSpec("appG-generalized-*", "generalized_dynamics", "App. G.2", ("{setting}",)),
    FigureSpec("appG-*", "architectures", "App. G", ("{setting}",)),
    FigureSpec("appF-quartic-example", "generalized_dynamics", "App. F"),
    FigureSpec("appF-line-profiles", "generalized_dynamics", "App. F.1", ("app-g",)),
    FigureSpec("appF-classification", "generalized_dynamics", "App. F.1", ("app-g",)),
    FigureSpec("appF-limiting-sharpness", "generalized_dynamics", "App. F.2", ("app-g",)),
    FigureSpec("fig5-*", "implications", "Fig. 5", ("fig5",)),
    FigureSpec("fig6-*", "implications", "Fig. 6", ("fig6",)),
    FigureSpec("warmup", "implications", "Sec. 7 (warmup)", ("warmup",)),
    FigureSpec("sam-sharpness", "implications", "Sec. 7 (SAM)", ("sam", "fig6")),
    FigureSpec("scale-invariant-gd-weight-decay", "scale_invariant", "App. H"),
    FigureSpec("scale-invariant-lemma9", "scale_invariant", "Lemma 9 (App. H)"),
    FigureSpec("central-dagger-order", "central_flow", "Eq. (2) vs the central flow (beyond the paper)"),
    FigureSpec("fig-central-*", "central_flow", "Figs. 4, 5 vs the central flow (beyond the paper)", ("central",)),
)  # fmt: skip


def spec_for(name: str) -> FigureSpec | None:
    """The registry entry of the figure ``name`` (``None`` for an unregistered figure)."""
    return next((s for s in FIGURES if fnmatchcase(name, s.pattern)), None)


def project_root(start: Path | None = None) -> Path:
    """The repository root (the folder holding ``_config.yml``), else ``start``/cwd."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "eos").is_dir():
            return folder
    return here


def figure_root() -> Path:
    """The root of the figure folders: ``EOS_FIGURE_DIR``, else ``<repo>/figures``."""
    env = os.environ.get(FIGURE_ENV, "").strip()
    return Path(env).expanduser() if env else project_root() / "figures"


def figure_folder(profile: str | None = None) -> Path:
    """``<root>/<profile>``: the folder of one profile's figures (created)."""
    from eos.profiles import current_profile, validate_profile

    prof = current_profile() if profile is None else validate_profile(profile)
    folder = figure_root() / prof
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --------------------------------------------------------------------------------------------
# the provenance record
# --------------------------------------------------------------------------------------------
def _setting_for(name: str, spec: FigureSpec) -> str | None:
    from eos.experiments import SETTINGS

    stem = spec.pattern.rstrip("*")
    short = name[len(stem) :] if spec.pattern.endswith("*") else ""
    if spec.pattern.startswith("fig4-resnet18-"):
        short = "resnet18-" + short
    return next((s for s in SETTINGS if s == short or s.startswith(short + "-")), None)


def _experiments(name: str, spec: FigureSpec | None, profile: str) -> list[str]:
    """The experiment names ``spec`` names for ``name`` under ``profile``."""
    from eos.experiments import GROUPS, selected
    from eos.experiments import published as pub

    if spec is None:
        return []
    out: list[str] = []
    for item in spec.experiments:
        if item == "{setting}":
            item = _setting_for(name, spec) or ""
        if item in GROUPS:
            names = selected(item, PUBLISHED_PROFILE if spec.published else profile)
        else:
            names = [item] if item else []
        if spec.published:
            names = [n for n in names if pub.available(n)]
        out += [n for n in names if n not in out]
    return out


def regenerate_command(chapter: str, profile: str, *, published: bool = False) -> str:
    """The shell command (from the repository root) that redraws a chapter's figures."""
    env = "" if published else f"EOS_PROFILE={profile} "
    return f"{env}jupyter execute book/{chapter}.ipynb"


def figure_provenance(
    name: str,
    *,
    profile: str | None = None,
    paper: str | None = None,
    experiments: Sequence[str] | None = None,
    chapter: str | None = None,
) -> dict[str, Any]:
    """The provenance record of the figure ``name`` drawn now under ``profile``.

    Registered figures (:data:`FIGURES`) take their paper figure, chapter and experiments from
    the registry; the keyword arguments override it (new chapters pass them to ``savefig``).
    A figure drawn from the published bundle gets profile ``paper`` and the commits its runs
    were computed at (``runs_commit``).
    """
    from eos import __version__
    from eos.profiles import current_profile, validate_profile
    from eos.results import git_info, utc_now

    spec = spec_for(name)
    published = bool(spec and spec.published)
    prof = PUBLISHED_PROFILE if published else (profile or current_profile())
    prof = validate_profile(prof)
    chap = chapter or (spec.chapter if spec else "")
    exps = list(experiments) if experiments is not None else _experiments(name, spec, prof)
    git = git_info()
    record: dict[str, Any] = {
        "figure": name,
        "paper_figure": paper or (spec.paper if spec else ""),
        "chapter": chap,
        "profile": prof,
        "source": "published bundle (published/)" if published else f"runs of profile {prof}",
        "experiments": exps,
        "package": "eos",
        "version": __version__,
        "git_commit": git.get("commit", "unknown"),
        "git_dirty": git.get("dirty"),
        "date": utc_now(),
        "command": regenerate_command(chap, prof, published=published) if chap else "",
    }
    if published:
        record["runs_commit"] = _published_commits(exps)
    return record


def _published_commits(names: Sequence[str]) -> dict[str, str]:
    from eos.experiments import published as pub

    out = {}
    for n in names:
        prov = pub.load_published(n).provenance
        out[n] = str(prov.get("git", {}).get("commit", "unknown"))
    return out


def _summary(record: dict[str, Any]) -> str:
    what = f" (reproduces {record['paper_figure']} of {PAPER})" if record["paper_figure"] else ""
    return f"{record['figure']}{what}, profile {record['profile']}"


def pdf_metadata(record: dict[str, Any]) -> dict[str, str]:
    """The PDF info dictionary: the standard keys for readers, the full record as JSON."""
    return {
        "Title": record["figure"],
        "Subject": _summary(record),
        "Keywords": f"profile={record['profile']}; experiments={','.join(record['experiments'])}",
        "Creator": f"eos {record['version']} (commit {record['git_commit']}): {record['command']}",
        PDF_KEY: json.dumps(record, sort_keys=True),
    }


def png_metadata(record: dict[str, Any]) -> dict[str, str]:
    """The PNG text chunks: the standard keys for readers, the full record as JSON."""
    return {
        "Title": record["figure"],
        "Description": _summary(record),
        "Source": f"eos {record['version']} commit {record['git_commit']}",
        "Comment": record["command"],
        PNG_KEY: json.dumps(record, sort_keys=True),
    }


# --------------------------------------------------------------------------------------------
# reading it back
# --------------------------------------------------------------------------------------------
_PDF_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _pdf_string(data: bytes, i: int) -> tuple[bytes, int]:
    """The literal string starting after the ``(`` at ``i``; returns (bytes, index after)."""
    out, depth = bytearray(), 1
    while True:
        c = data[i : i + 1]
        if c == b"\\":
            nxt = data[i + 1 : i + 2]
            if nxt.isdigit():
                octal = re.match(rb"[0-7]{1,3}", data[i + 1 : i + 4]).group()
                out.append(int(octal, 8))
                i += 1 + len(octal)
                continue
            out += _PDF_ESCAPES.get(nxt, nxt)
            i += 2
            continue
        if c == b"(":
            depth += 1
        elif c == b")":
            depth -= 1
            if depth == 0:
                return bytes(out), i + 1
        out += c
        i += 1


def _decode_pdf_text(raw: bytes) -> str:
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be")
    return raw.decode("latin-1")


def read_pdf_info(path: str | os.PathLike) -> dict[str, str]:
    """The string entries of a PDF's info dictionary (an uncompressed ``/Info`` object, as
    matplotlib writes it)."""
    data = Path(path).read_bytes()
    ref = re.findall(rb"/Info\s+(\d+)\s+0\s+R", data)
    if not ref:
        return {}
    start = re.search(rb"(?<![0-9])" + ref[-1] + rb"\s+0\s+obj\s*<<", data)
    if start is None:
        return {}
    i, info = start.end(), {}
    while True:
        m = re.compile(rb"\s*(>>|/([A-Za-z0-9_.:-]+)\s*)").match(data, i)
        if m is None or m.group(1) == b">>":
            return info
        key, i = m.group(2).decode(), m.end()
        if data[i : i + 1] == b"(":
            raw, i = _pdf_string(data, i + 1)
            info[key] = _decode_pdf_text(raw)
        elif data[i : i + 1] == b"<":
            j = data.index(b">", i)
            info[key] = _decode_pdf_text(bytes.fromhex(data[i + 1 : j].decode()))
            i = j + 1
        else:  # a name or number value, e.g. /Trapped /False
            m = re.compile(rb"/?[^\s/>]+").match(data, i)
            info[key] = m.group().decode("latin-1")
            i = m.end()


def read_png_text(path: str | os.PathLike) -> dict[str, str]:
    """The text chunks (tEXt, iTXt, zTXt) of a PNG file."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return dict(getattr(im, "text", {}) or im.info)


def read_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance record stored in a figure file (``.pdf`` or ``.png``), else ``None``."""
    path = Path(path)
    if path.suffix.lower() == ".pdf":
        text = read_pdf_info(path).get(PDF_KEY)
    else:
        text = read_png_text(path).get(PNG_KEY)
    return json.loads(text) if text else None


# --------------------------------------------------------------------------------------------
# listing and citing
# --------------------------------------------------------------------------------------------
def _order(record: dict[str, Any]) -> tuple[int, str]:
    idx = next((i for i, s in enumerate(FIGURES) if fnmatchcase(record["figure"], s.pattern)), None)
    chapters = list(dict.fromkeys(s.chapter for s in FIGURES))
    ch = chapters.index(record["chapter"]) if record.get("chapter") in chapters else len(chapters)
    return (ch * 1000 + (idx if idx is not None else 999), record["figure"])


def list_figures(
    profile: str | None = None, *, root: str | os.PathLike | None = None
) -> list[dict[str, Any]]:
    """Every figure file pair under ``<root>/<profile>`` and the published ones under
    ``<root>/paper``: one dict per figure (its provenance record, read from the PNG, plus
    ``pdf``/``png`` paths), in the book's reading order."""
    from eos.profiles import current_profile, validate_profile

    prof = current_profile() if profile is None else validate_profile(profile)
    base = Path(root) if root is not None else figure_root()
    rows = []
    for folder in dict.fromkeys((base / prof, base / PUBLISHED_PROFILE)):
        for png in sorted(folder.glob("*.png")):
            rec = read_provenance(png)
            if rec is None or (folder.name != prof and "published" not in rec.get("source", "")):
                continue
            pdf = png.with_suffix(".pdf")
            rows.append({**rec, "png": png, "pdf": pdf if pdf.is_file() else None})
    return sorted(rows, key=_order)


def bibtex(record: dict[str, Any]) -> str:
    """A BibTeX entry citing the companion at the version and commit that drew the figure."""
    commit = str(record.get("git_commit", "unknown"))
    key = f"eos_{record['figure'].replace('-', '_')}_{record['profile']}"
    what = f", reproducing {record['paper_figure']} of {PAPER}" if record["paper_figure"] else ""
    return (
        f"@software{{{key},\n"
        f"  title   = {{eos: an executable companion to `Self-Stabilization: The Implicit Bias of "
        f"Gradient Descent at the Edge of Stability'}},\n"
        f"  author  = {{{{The eos companion authors}}}},\n"
        f"  version = {{{record['version']}}},\n"
        f"  note    = {{Figure {record['figure']}{what}; profile {record['profile']}; "
        f"commit {commit[:12]}}},\n"
        f"  year    = {{{str(record.get('date', ''))[:4]}}}\n"
        f"}}"
    )


def format_listing(rows: Sequence[dict[str, Any]]) -> str:
    """The plain-text list that ``python -m eos figures`` prints."""
    lines = []
    for r in rows:
        lines.append(f"{r['figure']}  [{r['paper_figure'] or '-'}]  profile {r['profile']}")
        lines.append(f"    files: {r['pdf'] or '(no pdf)'}  {r['png']}")
        lines.append(
            f"    chapter {r['chapter'] or '?'}; experiments: {', '.join(r['experiments']) or '-'}"
        )
        lines.append(
            f"    eos {r['version']}, commit {str(r['git_commit'])[:12]}"
            f"{' (dirty)' if r.get('git_dirty') else ''}, {r['date']}"
        )
        if r.get("command"):
            lines.append(f"    regenerate: {r['command']}")
    return "\n".join(lines)


def written_markdown(rows: Sequence[dict[str, Any]], relative_to: str | os.PathLike) -> str:
    """MyST Markdown listing figures (e.g. :data:`eos.figures.style.WRITTEN`): each with its
    entry on the book's Figures page and its PDF/PNG downloads (paths relative to the page)."""
    if not rows:
        return "This chapter wrote no figure file."
    lines = []
    for r in rows:
        files = ", ".join(
            f"{{download}}`{k.upper()} <{os.path.relpath(r[k], relative_to)}>`"
            for k in ("pdf", "png")
            if r.get(k)
        )
        what = f" ({r['paper_figure']})" if r["paper_figure"] else ""
        lines.append(
            f"- {{ref}}`{r['figure']} <figures-{r['figure']}>`{what}, profile `{r['profile']}`, "
            f"commit `{str(r['git_commit'])[:12]}`: {files}"
        )
    return "\n".join(dict.fromkeys(lines))


def chapter_footer() -> None:
    """The end of a chapter: glue its profile (``chapter-profile``, quoted by the chapter's
    opening box) and show the figures it wrote, with links to their provenance and files."""
    from IPython.display import Markdown, display
    from myst_nb import glue

    from eos.profiles import current_profile

    glue("chapter-profile", current_profile(), display=False)
    display(Markdown(written_markdown(WRITTEN, Path.cwd())))
