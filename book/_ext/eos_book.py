"""Sphinx hooks of the book (a local extension named in ``_config.yml``).

* Offline math: MathJax 2 is served from the copy that the ``jupyter-server-mathjax`` package
  installs (``_static/mathjax/``), not from a CDN, so equations render without internet.
* Launch buttons: ``EOS_REPOSITORY_URL`` (e.g. set by the deploy workflow to the repository it
  runs in) overrides the repository URL of ``_config.yml`` for the repository, issues, Colab and
  Binder buttons.
* The "Figures" page (``book/figures.md``) is read after every chapter (the chapters write the
  figures when they execute) and re-read on every build; its list is generated from the figure
  files on disk and the provenance they carry (:mod:`eos.figures.provenance`).
* Downloads: each chapter's ``.ipynb`` download holds the executed notebook with its outputs,
  and a ``.md`` (MyST Markdown notebook) download is added beside it.
* Paper numbering: a theorem-like environment whose title names the paper's number, e.g.
  ``{prf:lemma} Self-stabilization property (Lemma 2)``, is numbered as in the paper ("Lemma 2
  (Self-stabilization property)") instead of by chapter ("Lemma 2.1"), in its title and in
  every reference to it.
* One progress line per chapter with the time it took to read (execute or load from cache).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from docutils import nodes as docutils_nodes

FIGURES_DOC = "book/figures"
INTRO_DOC = "book/intro"  # shows a chapter's figure (``eos-key-figure``): read after the chapters
_STARTED: dict[str, float] = {}


# --------------------------------------------------------------------------------------------
# offline MathJax and the repository URL
# --------------------------------------------------------------------------------------------
def _configure(app, config) -> None:
    # the package's __init__ imports jupyter_server, which the book does not need: locate only
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("offline MathJax needs the jupyter-server-mathjax package (pip)")
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    staging = Path(app.outdir).parent / "mathjax-static"
    link = staging / "mathjax"
    if not link.exists():
        staging.mkdir(parents=True, exist_ok=True)
        link.symlink_to(static, target_is_directory=True)
    config.html_static_path = [*config.html_static_path, str(staging)]
    # the package ships the combined configuration with the HTML-CSS output jax bundled in
    # (config/TeX-AMS-MML_HTMLorMML-full.js; the separate jax/output/HTML-CSS/jax.js is absent)
    config.mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
    config.mathjax3_config = None
    config.mathjax2_config = {
        "tex2jax": {
            "inlineMath": [["\\(", "\\)"]],
            "displayMath": [["\\[", "\\]"]],
            "processEscapes": True,
            "processClass": "math|output_area",
            "ignoreClass": "tex2jax_ignore|mathjax_ignore|document",
        },
        "TeX": {"equationNumbers": {"autoNumber": "none"}},
    }
    url = os.environ.get("EOS_REPOSITORY_URL", "").strip()
    if url:
        config.html_theme_options = {**config.html_theme_options, "repository_url": url}


# --------------------------------------------------------------------------------------------
# the Figures page
# --------------------------------------------------------------------------------------------
def _figures_last(app, env, docnames: list[str]) -> None:
    for doc in (INTRO_DOC, FIGURES_DOC):
        if doc in docnames:
            docnames.remove(doc)
            docnames.append(doc)


def _figures_outdated(app, env, added, changed, removed) -> list[str]:
    return [d for d in (INTRO_DOC, FIGURES_DOC) if d in env.found_docs]


def _figures_markdown(docdir: Path) -> str:
    from eos.figures import provenance

    rows = provenance.list_figures()
    if not rows:
        return "\n\nNo figure has been written yet under this profile.\n"
    parts = []
    for r in rows:
        rel = {k: os.path.relpath(r[k], docdir) for k in ("pdf", "png") if r.get(k)}
        what = f" ({r['paper_figure']})" if r["paper_figure"] else ""
        files = " and ".join(f"{{download}}`{k.upper()} <{v}>`" for k, v in rel.items())
        chapter = f"{{doc}}`{r['chapter']}`" if r.get("chapter") else "?"
        parts.append(
            f"\n(figures-{r['figure']})=\n## `{r['figure']}`{what}\n\n"
            f"```{{image}} {rel['png']}\n:width: 360px\n:alt: {r['figure']}\n```\n\n"
            f"Files: {files}. Chapter: {chapter}. Profile `{r['profile']}` ({r['source']}); "
            f"experiments: {', '.join(f'`{e}`' for e in r['experiments']) or 'none'}; eos "
            f"{r['version']}, commit `{str(r['git_commit'])[:12]}`"
            f"{' (uncommitted changes)' if r.get('git_dirty') else ''}, drawn {r['date']}.\n\n"
            f"Regenerate:\n\n```bash\n{r['command']}\n```\n\n"
            f"Cite:\n\n```bibtex\n{provenance.bibtex(r)}\n```\n"
        )
    return "".join(parts)


def _key_figure(match: re.Match, docdir: Path) -> str:
    """``{eos-key-figure} NAME`` + caption -> a figure of the file this profile wrote."""
    from eos.figures.provenance import figure_folder

    png = figure_folder() / f"{match.group(1)}.png"
    if not png.is_file():
        return f"```{{note}}\nThe figure `{match.group(1)}` has not been drawn yet.\n```\n"
    rel = os.path.relpath(png, docdir)
    return f"```{{figure}} {rel}\n:name: fig-intro-{match.group(1)}\n\n{match.group(2)}```\n"


def _figures_source(app, docname: str, source: list[str]) -> None:
    _STARTED[docname] = time.perf_counter()
    if docname == INTRO_DOC:
        docdir = Path(app.srcdir) / Path(docname).parent
        pattern = r"```\{eos-key-figure\} (\S+)\n(.*?)```\n"
        source[0] = re.sub(pattern, lambda m: _key_figure(m, docdir), source[0], flags=re.S)
    if docname == FIGURES_DOC:
        docdir = Path(app.srcdir) / Path(docname).parent
        source[0] += _figures_markdown(docdir)


def _progress(app, doctree) -> None:
    docname = app.env.docname
    start = _STARTED.pop(docname, None)
    if start is not None and docname.startswith("book/"):
        print(f"[book] {docname}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# the paper's numbers for theorem-like environments
# --------------------------------------------------------------------------------------------
def paper_title(title: str, kind: str) -> tuple[str, str | None]:
    """``("(Self-stabilization property (Lemma 2))", "lemma")`` -> ``("(Self-stabilization
    property)", "2")``: the title without the paper's label, and the paper's number (``None``
    when the title names none of this kind)."""
    m = re.search(rf"\b{kind.title()} (\d+)\b", title)
    if m is None:
        return title, None
    text, prev = title[: m.start()] + title[m.end() :], None
    while text != prev:
        prev = text
        for old, new in (("(, ", "("), (", )", ")"), ("( ", "("), (" )", ")"), ("()", "")):
            text = text.replace(old, new)
    return re.sub(r"\s+", " ", text).rstrip() or " ", m.group(1)


def _paper_numbers_read(app, doctree) -> None:
    from sphinx_proof.nodes import NODE_TYPES

    numbers = app.env.__dict__.setdefault("eos_paper_numbers", {})
    numbers.pop(app.env.docname, None)
    for node in doctree.findall(lambda n: type(n) in NODE_TYPES.values()):
        kind = node.get("realtype", "")
        if not node.get("ids") or not isinstance(node.children[0], docutils_nodes.title):
            continue
        for text in node.children[0].findall(docutils_nodes.Text):
            new, number = paper_title(str(text), kind)
            if number is not None:
                text.parent.replace(text, docutils_nodes.Text(new))
                key = (node.get("countertype", kind), node["ids"][0])
                numbers.setdefault(app.env.docname, {})[key] = number
                break


def _paper_numbers_assign(app, env) -> list[str]:
    for docname, found in getattr(env, "eos_paper_numbers", {}).items():
        fignumbers = env.toc_fignumbers.get(docname, {})
        for (countertype, node_id), number in found.items():
            if node_id in fignumbers.get(countertype, {}):
                fignumbers[countertype][node_id] = (number,)
    return []


# --------------------------------------------------------------------------------------------
# downloads
# --------------------------------------------------------------------------------------------
def _download_buttons(app, pagename, templatename, context, doctree) -> None:
    if not str(context.get("sourcename", "")).endswith(".ipynb"):
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        url = f"{context['pathto']('_sources', 1)}/{pagename}.md"
        group["buttons"].insert(
            1,
            {
                "type": "link",
                "url": url,
                "text": ".md",
                "tooltip": "Download as a MyST Markdown notebook",
                "icon": "fas fa-file-lines",
                "label": "download-markdown-button",
            },
        )


def myst_markdown(nb: nbformat.NotebookNode) -> str:
    """A notebook as a MyST Markdown notebook (text only: code cells, their tags, prose)."""
    head = "---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n"
    head += "  name: python3\n  display_name: Python 3\n---\n"
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            tags = cell.metadata.get("tags", [])
            opts = f":tags: [{', '.join(tags)}]\n" if tags else ""
            cells.append(f"```{{code-cell}} ipython3\n{opts}{cell.source}\n```")
        else:
            cells.append(cell.source)
    return head + "\n\n+++\n\n".join(cells) + "\n"


def _executed_downloads(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    executed = Path(app.outdir).parent / "jupyter_execute"
    sources = Path(app.outdir) / "_sources"
    for docname in app.env.found_docs:
        if not app.env.doc2path(docname).endswith(".ipynb"):
            continue
        nb_path = executed / f"{docname}.ipynb"
        if not nb_path.is_file():
            continue
        target = sources / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(nb_path.read_bytes())
        nb = nbformat.read(nb_path, as_version=4)
        target.with_suffix(".md").write_text(myst_markdown(nb), encoding="utf-8")


def setup(app) -> dict:
    app.connect("config-inited", _configure)
    app.connect("env-before-read-docs", _figures_last)
    app.connect("env-get-outdated", _figures_outdated)
    app.connect("source-read", _figures_source)
    app.connect("doctree-read", _progress)
    app.connect("doctree-read", _paper_numbers_read)
    app.connect("env-get-updated", _paper_numbers_assign, priority=900)
    app.connect("html-page-context", _download_buttons, priority=900)
    app.connect("build-finished", _executed_downloads)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
