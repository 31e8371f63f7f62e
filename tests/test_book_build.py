"""The book builds strictly under the smoke profile, and its rendered pages are a publication.

One build per session (``make test`` runs this module after the notebooks, under the same
``EOS_RESULTS_DIR``, so its experiments are cache hits): ``jupyter-book build -W -n
--keep-going``, the command of ``make book`` and of the deploy workflow, with every notebook
executed (no execution cache: a stale cached output could hide a failure). Then the rendered
HTML is checked: every chapter has the repository, issues, Colab and Binder buttons pointing at
its own notebook, downloads of the executed notebook (with outputs) and of its MyST Markdown,
links to its figures' entries on the Figures page; the Figures page shows each figure with its
files and provenance; math is served from the local MathJax copy, not a CDN.
"""

from __future__ import annotations

import html as html_module
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from eos.figures.provenance import FIGURES

ROOT = Path(__file__).resolve().parents[1]


def _chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f for f in files if (ROOT / f"{f}.ipynb").is_file()]


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    pytest.importorskip("jupyter_book", reason="the book extra (pip install -e '.[book]')")
    work = tmp_path_factory.mktemp("book")
    cfg = _config()
    cfg["execute"]["execute_notebooks"] = "force"  # never a cached output of another source
    cfg["sphinx"]["local_extensions"] = {
        k: str(ROOT / v) for k, v in cfg["sphinx"]["local_extensions"].items()
    }
    (work / "_config.yml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "EOS_PROFILE": "smoke"}
    env.pop("EOS_REPOSITORY_URL", None)  # the links must be those of _config.yml
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]
    cmd += ["build", str(ROOT)]
    cmd += ["--config", str(work / "_config.yml"), "--path-output", str(work)]
    cmd += ["--all", "-W", "-n", "--keep-going", "--quiet"]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"strict smoke build failed:\n{log[-6000:]}"
    chapters = re.findall(r"^\[book\] (\S+): [0-9.]+ s$", log, flags=re.M)
    assert set(_chapters()) <= set(chapters), log[-3000:]  # one progress line per chapter
    return work / "_build" / "html"


def _links(page: str) -> list[str]:
    return [unquote(h) for h in re.findall(r'href="([^"]+)"', page)]


def test_every_chapter_has_launch_and_download_buttons(html):
    repo = _config()["repository"]
    url, branch = repo["url"].rstrip("/"), repo["branch"]
    owner_repo = url.split("github.com/")[1]
    for chapter in _chapters():
        page = (html / f"{chapter}.html").read_text()
        links = _links(page)
        nb = f"{chapter}.ipynb"
        assert url in links, chapter  # repository button
        assert any(h.startswith(f"{url}/issues/new") for h in links), chapter
        colab = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{nb}"
        assert colab in links, (chapter, [h for h in links if "colab" in h])
        binder = [h for h in links if h.startswith(f"https://mybinder.org/v2/gh/{owner_repo}/")]
        assert binder and binder[0].endswith(f"/{branch}?urlpath=lab/tree/{nb}"), (chapter, binder)
        depth = chapter.count("/")
        for suffix in (".ipynb", ".md"):
            href = "../" * depth + f"_sources/{chapter}{suffix}"
            assert href in links, (chapter, suffix)
            assert (html / "_sources" / f"{chapter}{suffix}").is_file()
        executed = json.loads((html / "_sources" / nb).read_text())
        outputs = [c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code"]
        assert any(outputs), f"{nb}: the download holds no outputs"
        md = (html / "_sources" / f"{chapter}.md").read_text()
        assert md.startswith("---\njupytext:") and "```{code-cell} ipython3" in md


def test_chapters_link_their_figures_and_the_figures_page_has_provenance(html):
    figures_page = (html / "book" / "figures.html").read_text()
    anchors = set(re.findall(r'id="(figures-[^"]+)"', figures_page))
    assert anchors, "the Figures page lists no figure"
    linked = set()
    for chapter in _chapters():
        page = (html / f"{chapter}.html").read_text()
        assert "What this chapter reproduces" in page and "hide-input" in page, chapter
        targets = re.findall(r'href="figures\.html#(figures-[^"]+)"', page)
        # a chapter with registered figures links them (the Scorecard page draws none)
        draws = any(spec.chapter == chapter.split("/")[-1] for spec in FIGURES)
        assert bool(targets) == draws, f"{chapter}: figure links {targets}, registered {draws}"
        assert set(targets) <= anchors, (chapter, set(targets) - anchors)
        linked |= set(targets)
    assert linked == anchors  # every listed figure is one a chapter wrote
    # the page's text (code blocks are split into highlighting spans) and its image sources
    text = html_module.unescape(re.sub(r"<[^>]+>", "", figures_page))
    for needle in ("EOS_PROFILE=smoke jupyter execute book/", "@software{eos_"):
        assert needle in text, needle
    assert "_images/" in figures_page
    assert len(re.findall(r'href="[^"]*_downloads/[^"]+\.pdf"', figures_page)) == len(anchors)


def test_math_is_served_locally(html):
    page = (html / "book" / "four_stages.html").read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page)
    assert any(s.startswith("../_static/mathjax/MathJax.js") for s in scripts), scripts
    assert not [s for s in scripts if "mathjax" in s.lower() and "://" in s]
    assert (html / "_static" / "mathjax" / "MathJax.js").is_file()
    # the combined configuration the page asks for exists and bundles the HTML-CSS output jax
    config = re.search(r"mathjax/MathJax\.js\?config=([\w-]+)", " ".join(scripts)).group(1)
    bundle = html / "_static" / "mathjax" / "config" / f"{config}.js"
    assert bundle.is_file(), bundle
    assert 'OutputJax["HTML-CSS"]' in bundle.read_text()
    assert r"\(" in page  # inline math is left to MathJax


def test_theorems_carry_the_papers_numbers(html):
    text = re.sub(r"<[^>]+>", "", (html / "book" / "four_stages.html").read_text())
    assert re.search(r"Lemma 2\s+\(Self-stabilization property\)", text)
    assert "Lemma 2.1" not in text and "(Lemma 2)" not in text


def test_paper_title_moves_the_papers_label_into_the_number():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from eos_book import paper_title

    cases = {
        (" (Self-stabilization property (Lemma 2))", "lemma"): (" (Self-stabilization property)", "2"),
        (" (Lemma 6)", "lemma"): (" ", "6"),
        (" ((Assumption 3))", "assumption"): (" ", "3"),
        (" (Predicted dynamics (Definition 7, eq. (6)))", "definition"): (" (Predicted dynamics (eq. (6)))", "7"),
        (" (Coupling theorem (Theorem 1))", "lemma"): (" (Coupling theorem (Theorem 1))", None),
    }  # fmt: skip
    for args, expected in cases.items():
        assert paper_title(*args) == expected
