"""The engine's import graph has no cycles: a module's module-level imports show what it stands on.

Only imports executed when a module loads count (``if TYPE_CHECKING:`` blocks and imports inside
functions do not); an import of a package counts as an import of its ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def absolute_module(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The module ``from ... import`` names in module ``name``, relative dots resolved."""
    base = node.module or ""
    if node.level:
        package = name if is_package else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return base


def _load_time_imports(tree: ast.Module, name: str, is_package: bool, known: set[str]) -> set[str]:
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in [node] if isinstance(node, (ast.Import, ast.ImportFrom)) else []:
            if isinstance(sub, ast.Import):
                found.update(alias.name for alias in sub.names)
            else:
                base = absolute_module(sub, name, is_package)
                submodules = {f"{base}.{alias.name}" for alias in sub.names}
                found.update(submodules)
                if not submodules <= known:  # names defined in the package itself, not only its submodules
                    found.add(base)
    return found


def import_graph(package: str = "console") -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {target for target in _load_time_imports(tree, name, path.name == "__init__.py", set(modules))
                       if target in modules and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_engine_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph("console"))
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_cli_reaches_textual_in_one_place_only() -> None:
    hits = [path.relative_to(ROOT).as_posix() for path in (ROOT / "console").rglob("*.py")
            if "screens" in {node.module.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                             if isinstance(node, ast.ImportFrom) and node.module}
            or any(alias.name.split(".")[0] == "screens" for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.Import) for alias in node.names)]
    assert hits == ["console/cli/tui.py"], hits
