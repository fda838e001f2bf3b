"""Bench: what a fresh process imports, and what each heavy library costs on its own.

For each entry point (``import console.kinds.registry``, the CLI parser, ``status``'s code path ...)
runs ``python -X importtime`` in a fresh process and reports the total import time and which heavy
libraries (psycopg, redis, requests, boto3, cryptography, textual, yaml ...) it loaded, with the
chain of modules that pulled each one in. Then times each heavy library alone (``-c "import X"``,
minus a bare interpreter), which is the price paid the first time a function imports it lazily.
Every figure is a median of ``--runs`` fresh processes, all taken round-robin in one run.

    .venv/bin/python bench/imports.py [--runs 5] [--chains] [--before COMMIT]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("psycopg", "redis", "requests", "urllib3", "boto3", "botocore", "cryptography", "textual", "rich", "yaml",
         "anycrc", "isal", "zstandard", "asyncio", "ssl")

ENTRIES = {
    "console.kinds.registry": "import console.kinds.registry",
    "CLI parser (every verb registered)": "from console.cli import build_parser; build_parser()",
    "verify planning code (console.verify.run)": "import console.verify.run",
    "status code path (probes package, verify.state)": "import console.probes, console.verify.state",
    "retention plan code path": "import console.retention.plan",
}


def importtime(statement: str, tree: Path = ROOT) -> tuple[float, dict[str, tuple[int, list[str]]]]:
    """(total seconds of imports, {heavy top-level package: (cumulative us, chain)}) for one fresh process
    (``-c`` puts the working directory first on sys.path: ``tree``'s packages are the ones imported)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=tree, capture_output=True,
                          text=True, check=True)
    entries = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line.split("|")
        name = parts[2][1:]
        entries.append(((len(name) - len(name.lstrip())) // 2, name.strip(), int(parts[1])))
    total = sum(cumulative for depth, _, cumulative in entries if depth == 0) / 1e6
    found: dict[str, tuple[int, list[str]]] = {}
    for index, (depth, name, cumulative) in enumerate(entries):
        if name in HEAVY and name not in found:
            chain, level = [name], depth
            for later_depth, later_name, _ in entries[index + 1:]:
                if later_depth < level:
                    chain.append(later_name)
                    level = later_depth
            found[name] = (cumulative, chain)
    return total, found


def alone(module: str) -> float:
    """Seconds to import ``module`` in a fresh interpreter, the interpreter's own start excluded."""
    def run(statement: str) -> float:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, capture_output=True,
                              text=True, check=True)
        return sum(int(line.split("|")[1]) for line in proc.stderr.splitlines()
                   if line.startswith("import time:") and "self [us]" not in line
                   and not line.split("|")[2][1:].startswith(" ")) / 1e6
    return run(f"import {module}") - run("pass")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chains", action="store_true", help="print the chain that pulled in each heavy library")
    parser.add_argument("--before", metavar="COMMIT", help="also import each entry point as of this commit")
    args = parser.parse_args()
    trees = {"": ROOT}
    if args.before:
        before_root = Path(tempfile.mkdtemp(prefix="bc-bench-imports-"))
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(before_root)], input=archive.stdout, check=True)
        trees[f", as of {args.before}"] = before_root
    for tree in trees.values():  # as an installed package would have them (PYTHONDONTWRITEBYTECODE)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "console", "screens"], cwd=tree, check=True,
                       stdout=subprocess.DEVNULL)
    libraries = ["psycopg", "redis", "requests", "boto3", "cryptography.x509", "cryptography.hazmat.primitives.ciphers.aead",
                 "yaml", "anycrc", "isal.isal_zlib", "zstandard", "textual.app"]
    totals: dict[str, list[float]] = {}
    heavy: dict[str, dict[str, tuple[int, list[str]]]] = {}
    costs: dict[str, list[float]] = {name: [] for name in libraries}
    for _ in range(args.runs):
        for name, statement in ENTRIES.items():
            for label, tree in trees.items():
                total, found = importtime(statement, tree)
                totals.setdefault(name + label, []).append(total)
                heavy[name + label] = found
        for library in libraries:
            costs[library].append(alone(library))
    print(f"\n{args.runs} fresh processes each, round-robin, median\n")
    print("| entry point | imports | heavy libraries loaded |")
    print("|---|---|---|")
    for name in totals:
        loaded = ", ".join(f"{lib} ({cumulative / 1000:.0f} ms)" for lib, (cumulative, _) in heavy[name].items()) or "none"
        print(f"| {name} | {statistics.median(totals[name]) * 1000:.0f} ms | {loaded} |")
    print("\n| library, imported alone | cost |")
    print("|---|---|")
    for library in libraries:
        print(f"| `{library}` | {statistics.median(costs[library]) * 1000:.0f} ms |")
    if args.chains:
        for name in totals:
            for lib, (_, chain) in heavy[name].items():
                print(f"{name}: {' <- '.join(chain)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
