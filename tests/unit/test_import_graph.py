"""The shape of the package, read from its source: import cycles and module sizes (issue 11).

The import graph is built with `ast`, without importing anything. Runtime imports count, also
those inside a function (they run, only later: a function-local import is how a cycle hides);
imports under `if TYPE_CHECKING:` never run and are left out of the runtime graph. A type-only
graph (those included) is checked too, so a new cycle cannot hide there either.

The size allow-list below only shrinks: when an oversized module is split, take it off.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "moodle_wizard"
CORE = "moodle_wizard.core"
MAX_LINES = 400

# Modules over MAX_LINES, with the most lines each may have. Empty since issue 11's splits;
# it only shrinks: never add one (split the module instead).
OVERSIZE: dict[str, int] = {}


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the package under `root`, by dotted name (a package by its own name)."""
    out: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    nodes: Iterable[ast.AST], *, type_checking: bool
) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test) and not type_checking:
            yield from _import_nodes(node.orelse, type_checking=type_checking)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node), type_checking=type_checking)


def imports_of(name: str, path: Path, modules: Iterable[str], *, type_checking: bool) -> set[str]:
    """The package's modules that module `name` imports. `from pkg import x` is an edge to
    the module pkg.x when there is one, else to pkg (whose __init__ defines x)."""
    known = set(modules)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in _import_nodes([tree], type_checking=type_checking):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


def import_graph(root: Path = ROOT, *, type_checking: bool = False) -> dict[str, set[str]]:
    modules = module_files(root)
    return {
        name: imports_of(name, path, modules, type_checking=type_checking)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work.append((start, iter(sorted(graph[start]))))
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def _describe(graph: dict[str, set[str]], component: set[str]) -> str:
    edges = [f"{a} -> {b}" for a in sorted(component) for b in sorted(graph[a] & component)]
    return "; ".join(edges)


def test_no_runtime_import_cycle() -> None:
    """None anywhere since issue 11 (the last: tui/app.py <-> the screens)."""
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(_describe(graph, c) for c in found)


def test_no_type_only_cycle_in_core() -> None:
    """core is layered for the type checker too (the last such cycle, context -> moodle_config
    -> steps.base -> context, went with StepError's move to core/errors.py). The TUI still has
    type-only cycles (screens name the app for their annotations)."""
    graph = import_graph(type_checking=True)
    found = [c for c in cycles(graph) if any(m.startswith(CORE) for m in c)]
    assert not found, "cycles through core (TYPE_CHECKING imports counted): " + " | ".join(
        _describe(graph, c) for c in found
    )


def test_the_graph_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    """The checks above can fail: a cycle closed by a function-local import is found, one
    closed only under TYPE_CHECKING is not a runtime cycle but is a type-only one."""
    pkg = tmp_path / PACKAGE / "core"
    pkg.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from moodle_wizard.core import b\n")
    (pkg / "b.py").write_text("def f() -> None:\n    from moodle_wizard.core.a import x\n")
    (pkg / "c.py").write_text("from . import d\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import y\n"
    )
    runtime = cycles(import_graph(tmp_path))
    assert runtime == [{"moodle_wizard.core.a", "moodle_wizard.core.b"}]
    typed = cycles(import_graph(tmp_path, type_checking=True))
    assert {"moodle_wizard.core.c", "moodle_wizard.core.d"} in typed


def test_modules_stay_under_the_size_limit() -> None:
    too_big: list[str] = []
    for path in module_files(ROOT).values():
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > OVERSIZE.get(rel, MAX_LINES):
            allowed = OVERSIZE.get(rel)
            note = f" (allow-listed at {allowed})" if allowed else ""
            too_big.append(f"{rel}: {lines} lines{note}")
    assert not too_big, f"modules over {MAX_LINES} lines; split them: " + ", ".join(too_big)
