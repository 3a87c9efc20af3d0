"""The shape of `recsys`, read from its source (AST, nothing is imported): no import cycle between its
modules, counting imports inside functions; no backend module over 700 lines; no module importing
another module's underscore-private names; no Streamlit (or UI code) anywhere in it.

How an import is resolved to modules of the package:
  * `import recsys.a.b` imports `recsys.a.b`; `from recsys.a import x` imports the submodule
    `recsys.a.x` when there is one, else the package `recsys.a` (its `__init__`); relative imports
    are resolved against the importing module's package first.
  * importing a module also runs the `__init__` of every package above it that does not contain the
    importer (`recsys.serving` importing `recsys.evaluation.metrics` runs `recsys/evaluation/__init__.py`),
    so that counts as importing those packages too: a cycle through a package `__init__` fails at
    import time just like one between plain modules.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "recsys"
MAX_LINES = 700
FORBIDDEN = ("streamlit", "ui", "pages", "app")  # the Streamlit side of the studio


@dataclass(frozen=True)
class Import:
    """One import statement of `importer` (at `line`) that reaches `target`, a module of the package."""

    importer: str
    target: str
    line: int
    statement: str


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_sources(root: Path = ROOT, package: str = PACKAGE) -> dict[str, tuple[Path, str]]:
    """{module name: (path, source)} for every .py file of the package."""
    return {module_name(p, root): (p, p.read_text(encoding="utf-8")) for p in sorted((root / package).rglob("*.py"))}


def _is_package(name: str, sources: dict) -> bool:
    return sources[name][0].name == "__init__.py"


def _base_of(node: ast.ImportFrom, importer: str, sources: dict) -> str:
    if not node.level:
        return node.module or ""
    package = importer if _is_package(importer, sources) else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _with_packages(target: str, importer: str, sources: dict) -> list[str]:
    """`target` and each package above it that does not contain `importer` (their `__init__` runs too)."""
    out, parts = [target], target.split(".")
    for i in range(1, len(parts)):
        package = ".".join(parts[:i])
        if package in sources and not (importer == package or importer.startswith(package + ".")):
            out.append(package)
    return out


def imports_of(importer: str, source: str, sources: dict) -> tuple[list[Import], list[str], list[str]]:
    """(package imports, private names taken from other modules, forbidden imports) of one module.

    Every `import` / `from … import` node counts, wherever it stands (functions, methods, branches).
    """
    tree = ast.parse(source)
    found, private, forbidden = [], [], []
    module_aliases: dict[str, str] = {}  # local name -> package module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN:
                    forbidden.append(f"line {node.lineno}: import {alias.name}")
                target = alias.name
                while target and target not in sources:
                    target = target.rpartition(".")[0]
                if not target:
                    continue
                for t in _with_packages(target, importer, sources):
                    found.append(Import(importer, t, node.lineno, f"import {alias.name}"))
                if alias.asname:
                    module_aliases[alias.asname] = target
                if target.rpartition(".")[2].startswith("_") and not target.endswith("__"):
                    private.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            base = _base_of(node, importer, sources)
            if base.split(".")[0] in FORBIDDEN:
                forbidden.append(f"line {node.lineno}: from {base} import ...")
            if base not in sources:
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in sources else base
                statement = f"from {'.' * node.level}{node.module or ''} import {alias.name}"
                for t in _with_packages(target, importer, sources):
                    found.append(Import(importer, t, node.lineno, statement))
                if target == submodule:
                    module_aliases[alias.asname or alias.name] = submodule
                name = alias.name
                own_package = submodule in sources and (importer == base or importer.startswith(base + "."))
                if name.startswith("_") and not name.endswith("__") and not own_package:
                    private.append(f"line {node.lineno}: {statement}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases
                and node.attr.startswith("_") and not node.attr.endswith("__")):
            private.append(f"line {node.lineno}: {node.value.id}.{node.attr} ({module_aliases[node.value.id]})")
    return found, private, forbidden


def import_graph(sources: dict) -> dict[str, dict[str, Import]]:
    """{importer: {target: the first import that reaches it}} over the package's modules."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in sources}
    for name, (_, source) in sources.items():
        for imp in imports_of(name, source, sources)[0]:
            if imp.target != name:
                graph[name].setdefault(imp.target, imp)
    return graph


def strongly_connected(graph: dict[str, dict]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (each one is an import cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_cycle(graph: dict[str, dict], start: str, members: set[str]) -> list[str]:
    """A shortest import cycle from `start` back to itself inside `members` (breadth-first)."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph[node]):
            if succ == start:
                return paths[node] + [start]
            if succ in members and succ not in paths:
                paths[succ] = paths[node] + [succ]
                queue.append(succ)
    return [start]


def describe_cycle(graph: dict[str, dict], cycle: list[str], sources: dict) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        imp, path = graph[a][b], sources[a][0]
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        steps.append(f"    {a} -> {b}   ({where}:{imp.line}: {imp.statement})")
    return "  " + " -> ".join(cycle) + "\n" + "\n".join(steps)


def cycles_report(sources: dict) -> list[str]:
    """One paragraph per group of modules tied by imports: its members, then a shortest cycle through each."""
    graph = import_graph(sources)
    report = []
    for component in strongly_connected(graph):
        cycles, seen = [], set()
        for start in component:
            cycle = shortest_cycle(graph, start, set(component))
            key = frozenset(zip(cycle, cycle[1:]))
            if key not in seen:
                seen.add(key)
                cycles.append(describe_cycle(graph, cycle, sources))
        report.append(f"{len(component)} modules import each other: {', '.join(component)}\n" + "\n".join(cycles))
    return report


# ----------------------------------------------------------------------------- the checker itself

def _fake(tmp_path: Path, files: dict[str, str]) -> dict:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {module_name(p, tmp_path): (p, p.read_text()) for p in sorted((tmp_path / "pkg").rglob("*.py"))}


def test_the_checker_finds_cycles_inside_functions_through_submodules_and_package_inits(tmp_path):
    sources = _fake(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "def f():\n    from pkg.sub import b\n",          # a submodule by from-import
        "pkg/sub/__init__.py": "from pkg.sub.b import thing\n",
        "pkg/sub/b.py": "from . import c\nthing = 1\n",                   # relative, inside the package
        "pkg/sub/c.py": "import pkg.a\n",                                 # closes a -> sub.b -> sub.c -> a
        "pkg/d.py": "from pkg.sub.c import x\n",                          # runs pkg/sub/__init__ too
        "pkg/e.py": "from pkg.sub import thing\n",                        # a name: the package __init__
    })
    graph = import_graph(sources)
    assert set(graph["pkg.a"]) == {"pkg.sub.b", "pkg.sub"}
    assert set(graph["pkg.sub.b"]) == {"pkg.sub.c"}  # its own package's __init__ is not an edge
    assert set(graph["pkg.d"]) == {"pkg.sub.c", "pkg.sub"} and set(graph["pkg.e"]) == {"pkg.sub"}
    components = strongly_connected(graph)
    assert components == [["pkg.a", "pkg.sub", "pkg.sub.b", "pkg.sub.c"]]
    report = cycles_report(sources)[0]
    assert report.splitlines()[1] == "  pkg.a -> pkg.sub.b -> pkg.sub.c -> pkg.a", report
    assert "pkg/a.py:2: from pkg.sub import b" in report


def test_the_checker_finds_private_names_and_streamlit(tmp_path):
    sources = _fake(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "_hidden = 1\n",
        "pkg/sub/__init__.py": "from pkg.sub import _impl\n",     # its own private submodule: fine
        "pkg/sub/_impl.py": "",
        "pkg/b.py": "import pkg.a as a\nfrom pkg.a import _hidden\nprint(a._hidden)\n"
                    "def page():\n    import streamlit as st\n",
    })
    _, private, forbidden = imports_of("pkg.b", sources["pkg.b"][1], sources)
    assert private == ["line 2: from pkg.a import _hidden", "line 3: a._hidden (pkg.a)"]
    assert forbidden == ["line 5: import streamlit"]
    assert imports_of("pkg.sub", sources["pkg.sub"][1], sources)[1] == []


# ----------------------------------------------------------------------------- recsys

@pytest.fixture(scope="module")
def sources():
    return package_sources()


def test_recsys_has_no_import_cycle(sources):
    cycles = cycles_report(sources)
    assert not cycles, "import cycles in recsys (imports inside functions count):\n" + "\n\n".join(cycles)


def test_no_backend_module_is_over_700_lines(sources):
    long = {name: text.count("\n") + (not text.endswith("\n")) for name, (_, text) in sources.items()}
    long = {name: n for name, n in long.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by concept): {long}"


def test_no_module_imports_another_modules_private_names(sources):
    private = {name: found for name, (_, text) in sources.items() if (found := imports_of(name, text, sources)[1])}
    assert not private, f"underscore-private names used across modules (make them public or move them): {private}"


def test_recsys_never_imports_streamlit_or_the_ui(sources):
    forbidden = {name: found for name, (_, text) in sources.items() if (found := imports_of(name, text, sources)[2])}
    assert not forbidden, f"recsys must stay free of Streamlit and ui/pages: {forbidden}"
