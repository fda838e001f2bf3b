"""An import inside a function must say why it is there: it loads a library that costs start-up
time the module does not already pay, or it would close an import cycle. Everything else is a
module-level import, so the top of a module shows what it stands on.

Heavy means a library that costs tens of milliseconds to import (bench/README.md, "Imports"):
the server clients, crypto, Textual, and the few standard modules that pull much in. A deferred
import is justified when the module it names reaches a heavy library the importing module does
not reach at load time, or when importing it at load time would make a cycle. ``try: import x
except ImportError`` (an optional accelerator) is exempt, as are ``if TYPE_CHECKING:`` blocks.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.test_import_graph import absolute_module

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("console", "screens", "themes")

HEAVY = frozenset({
    "psycopg", "redis", "boto3", "botocore", "s3transfer", "requests", "urllib3", "cryptography", "moto",
    "textual", "rich", "asyncio", "ssl", "http", "email", "urllib",
    "textual.widgets.Markdown", "textual.widgets.MarkdownViewer", "textual.widgets._markdown",
    "textual.widgets.DataTable", "textual.widgets._data_table",
    "yaml", "humanize", "zstandard", "isal", "anycrc", "tarfile", "zipfile", "concurrent", "multiprocessing",
    "statistics", "difflib", "sqlite3", "xml", "csv", "decimal",
})
"""What a module pays for when it loads one of these (bench/README.md, "Imports", measured alone):
the server clients 0.1-0.4 s each (psycopg, redis, boto3, requests), cryptography.x509 65 ms,
Textual 0.14 s and its Markdown widget another 0.2 s (markdown-it, Pygments), its DataTable 3 ms
(and a stylesheet to parse: the dashboard mounts its table only when the panels do not fit), asyncio 40 ms,
urllib.request 30 ms. The data-path libraries (yaml, humanize, zstandard, isal, anycrc, tarfile,
concurrent.futures ...) cost 1-15 ms each; they count too, because they mark the code that reads
and writes backups, which the dashboard's first frame and a probe should not load: hoisting them
(tried) put 60 engine modules in front of the console's first frame (+60 ms importing screens.app)
and 40 ms on every `status`."""

HEAVY_MODULES = frozenset({"console.kinds.registry", "console.backup_summary", "console.catalog",
                           "console.verify.state", "console.drill"})
"""Our own modules that cost as much: the registry loads every kind's code (0.15 s, bench/README.md,
"Imports"), so the console's first frame and a probe do not wait for it; the dashboard's catalog
pass (the catalog, the monitor and the verification state: 20-25 ms) runs in its worker, after the
first frame, and so does the search for the newest drill (console.drill and what it reads with:
artifacts, locks, layouts, 5-10 ms); tests/test_import_hygiene.py checks the first frame loads none."""

KEPT_LIGHT = frozenset({"console.cli", "console.cli.__main__", "console.pitr.walcmd", "console.pitr.archive"})
"""Entry points whose every import is counted: the CLI's front door (which verb loads what is
decided per run) and the per-segment ``wal push`` path PostgreSQL starts once per 16 MB of WAL."""


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@dataclass(frozen=True)
class Deferred:
    module: str
    path: Path
    node: ast.Import | ast.ImportFrom
    function: str


class ImportMap:
    """The first-party modules, what each imports when it loads, and every deferred import."""

    def __init__(self, root: Path = ROOT) -> None:
        self.paths = {module_name(path, root): path for package in PACKAGES for path in (root / package).rglob("*.py")}
        self.edges: dict[str, set[str]] = {}
        self.external: dict[str, set[str]] = {}
        self.deferred: list[Deferred] = []
        for name, path in self.paths.items():
            tree = ast.parse(path.read_text(encoding="utf-8"))
            is_package = path.name == "__init__.py"
            self.edges[name], self.external[name] = set(), set()
            for node in self._load_time_imports(tree):
                first, other = self.targets(node, name, is_package)
                self.edges[name] |= first
                self.external[name] |= other
            self.deferred.extend(self._deferred(tree, name, path))
        self._reach: dict[str, frozenset[str]] = {}

    @staticmethod
    def _load_time_imports(tree: ast.Module):
        def walk(body):
            for node in body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node
                elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                    yield from walk(node.body)
                    yield from walk(node.orelse)
                elif isinstance(node, ast.Try):
                    yield from walk(node.body)
        yield from walk(tree.body)

    def _deferred(self, tree: ast.Module, name: str, path: Path):
        found: list[Deferred] = []

        def visit(node, function: str | None, exempt: bool):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit(child, child.name if function is None else f"{function}.{child.name}", exempt)
                elif isinstance(child, ast.Try):
                    guarded = any(handler.type is not None and "ImportError" in ast.unparse(handler.type)
                                  for handler in child.handlers)
                    for part in (child.body, child.handlers, child.orelse, child.finalbody):
                        for item in part:
                            visit_one(item, function, exempt or guarded)
                elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                else:
                    visit_one(child, function, exempt)

        def visit_one(child, function, exempt):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                if function is not None and not exempt:
                    found.append(Deferred(name, path, child, function))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name if function is None else f"{function}.{child.name}", exempt)
            else:
                visit(child, function, exempt)

        visit(tree, None, False)
        return found

    def targets(self, node: ast.Import | ast.ImportFrom, name: str, is_package: bool) -> tuple[set[str], set[str]]:
        """(first-party modules, other top-level packages) loading ``node`` imports, parents
        included; packages ``name`` sits in are loaded before it and do not count."""
        wanted: set[str] = set()
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
        else:
            base = absolute_module(node, name, is_package)
            wanted.add(base)
            wanted.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in self.paths)
        first: set[str] = set()
        other: set[str] = set()
        mine = set(_ancestors(name)) | ({name} if is_package else set())
        for module in wanted:
            top = module.split(".")[0]
            if top not in PACKAGES:
                other.add(module)
                if isinstance(node, ast.ImportFrom):
                    other.update(f"{module}.{alias.name}" for alias in node.names)
                continue
            for candidate in [*_ancestors(module), module]:
                if candidate in self.paths and candidate not in mine and candidate != name:
                    first.add(candidate)
        return first, other

    def reach(self, module: str) -> frozenset[str]:
        """Every first-party module loading ``module`` loads, itself included."""
        if module not in self._reach:
            seen: set[str] = set()
            stack = [module]
            while stack:
                current = stack.pop()
                if current in seen:
                    continue
                seen.add(current)
                stack.extend(self.edges.get(current, ()))
                stack.extend(a for a in _ancestors(current) if a in self.paths)
            self._reach[module] = frozenset(seen)
        return self._reach[module]

    def heavy(self, module: str) -> set[str]:
        reached = self.reach(module)
        return ({key for each in reached for lib in self.external[each] if (key := heavy_key(lib))}
                | (reached & HEAVY_MODULES))

    def reason_to_defer(self, item: Deferred) -> str | None:
        """Why ``item`` may stay inside its function, or None when it belongs at the top."""
        if item.module in KEPT_LIGHT:
            return "an entry point kept light"
        first, other = self.targets(item.node, item.module, item.path.name == "__init__.py")
        own = self.heavy(item.module)
        added = {key for lib in other if (key := heavy_key(lib))} - own
        for target in first:
            added |= self.heavy(target) - own
        if added:
            return "loads " + ", ".join(sorted(added))
        cyclic = sorted(target for target in first if item.module in self.reach(target))
        if cyclic:
            return "would close a cycle through " + ", ".join(cyclic)
        return None

    def hoist(self, item: Deferred) -> None:
        """Record ``item`` as a load-time import (the hoisting tool calls this as it moves one)."""
        first, other = self.targets(item.node, item.module, item.path.name == "__init__.py")
        self.edges[item.module] |= first
        self.external[item.module] |= other
        self._reach.clear()


def heavy_key(name: str) -> str | None:
    """The costly thing importing ``name`` (a module or module.attribute) loads, if any: the
    longest HEAVY entry it lies in, or its top-level package when that is not in the standard
    library (third-party packages count as heavy unless shown otherwise)."""
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        if ".".join(parts[:length]) in HEAVY:
            return ".".join(parts[:length])
    return None if parts[0] in sys.stdlib_module_names else parts[0]


def test_every_deferred_import_has_a_reason() -> None:
    imports = ImportMap()
    unexplained = [f"{item.path.relative_to(ROOT)}:{item.node.lineno} {item.function}: {ast.unparse(item.node)}"
                   for item in imports.deferred if imports.reason_to_defer(item) is None]
    assert not unexplained, "move to the top of the module:\n" + "\n".join(unexplained)


def test_a_light_import_in_a_function_is_found(tmp_path: Path) -> None:
    package = tmp_path / "console"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import json\n\ndef f():\n    import os\n    import redis\n    from console import b\n")
    (package / "b.py").write_text("from console import a\n")
    imports = ImportMap(tmp_path)
    reasons = {ast.unparse(item.node): imports.reason_to_defer(item) for item in imports.deferred}
    assert reasons == {"import os": None, "import redis": "loads redis",
                       "from console import b": "would close a cycle through console.b"}
