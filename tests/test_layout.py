"""The package's shape (issue 17): no import cycle inside ``eos``, no module over 600 lines, no
function over 80 lines unless its docstring says why, and a README layout table that names
only paths that exist and leaves no module of the package out.

These tests read the source with :mod:`ast`; nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "eos"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every ``eos/**/*.py``."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _import_graph() -> dict[str, set[str]]:
    """Module -> the ``eos`` modules it imports at module level or inside functions.

    ``from eos.pkg import name`` counts as an import of ``eos.pkg.name`` when that is a module,
    else of ``eos.pkg``. Imports under ``if TYPE_CHECKING:`` are ignored (they never run).
    """
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = _resolve(name, node, path.name == "__init__.py")
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod
                           for a in node.names]  # fmt: skip
            for t in targets:
                while t and t not in modules:  # `import eos.a.b` imports eos.a.b
                    t = t.rpartition(".")[0]
                if t and t != name and t.startswith("eos"):
                    graph[name].add(t)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among modules (a package's ``__init__`` importing its own submodules
    is not a cycle: Python runs the submodule while the package is being initialised)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def edges(m: str) -> set[str]:
        # a submodule importing its parent package is fine when the parent is only a face
        return {t for t in graph[m] if not m.startswith(t + ".")}

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges(m)):
            if state.get(t) == 1:
                return stack[stack.index(t) :] + [t]
            if t not in state and (found := visit(t)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle():
    cycle = _cycle(_import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    # the check above must be able to fail
    assert _cycle({"eos.a": {"eos.b"}, "eos.b": {"eos.c"}, "eos.c": {"eos.a"}}) == [
        "eos.a", "eos.b", "eos.c", "eos.a",
    ]  # fmt: skip
    assert _cycle({"eos.a": {"eos.b"}, "eos.b": set()}) is None


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_size(name):
    lines = len(_modules()[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines (> {MAX_MODULE_LINES}): split it"


def _long_functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            doc = ast.get_docstring(node) or ""
            if length > MAX_FUNCTION_LINES and "cannot be split" not in doc:
                out.append((node.name, length))
    return out


def test_function_size():
    long = {
        str(p.relative_to(ROOT)): found
        for p in sorted(PACKAGE.rglob("*.py"))
        if (found := _long_functions(p))
    }
    assert not long, (
        f"functions over {MAX_FUNCTION_LINES} lines (split them, or say in the docstring why "
        f"they 'cannot be split'): {long}"
    )


def _layout_paths() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Layout", 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [p for row in rows for p in re.findall(r"`([^`]+)`", row.split("|")[1])]


def test_readme_layout_paths_exist():
    paths = _layout_paths()
    assert paths, "README.md has no layout table"
    missing = [p for p in paths if not (ROOT / p.rstrip("/")).exists()]
    assert not missing, f"README layout names paths that do not exist: {missing}"


def test_readme_layout_covers_the_package():
    named = {p.rstrip("/") for p in _layout_paths()}
    uncovered = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        parents = [rel] + [p.as_posix() for p in path.relative_to(ROOT).parents][:-1]
        if path.name in ("__init__.py", "__main__.py") or path.name.startswith("_"):
            continue
        if not any(p in named for p in parents):
            uncovered.append(rel)
    assert not uncovered, f"README layout table leaves out: {uncovered}"
