"""The verbs of ``backup-console``, in the order ``--help`` lists them. Add a verb by adding its module here.

Each entry names the module and the sub-commands it registers, so that a command line naming one
of them loads and registers only that module: ``status`` or ``retention plan`` then pay for neither
the other verbs' imports nor the kind registry (0.15 s of CPU per run; bench/README.md, "Catalog at
scale"). ``tests/cli/test_verbs.py`` checks the names against what each module registers.
"""

from __future__ import annotations

import importlib
from types import ModuleType

VERB_MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("status", ("status",)),
    ("configcmd", ("config",)),
    ("backup", ("backup",)),
    ("restore", ("restore",)),
    ("wal", ("wal",)),
    ("cryptocmd", ("encrypt", "decrypt")),
    ("certs", ("certs",)),
    ("retention", ("retention",)),
    ("monitor", ("monitor",)),
    ("schedule", ("schedule",)),
    ("troubleshoot", ("troubleshoot",)),
    ("checklist", ("checklist",)),
    ("drill", ("drill",)),
    ("upload", ("upload", "s3")),
    ("verify", ("verify", "reports")),
)


def verb_modules(command: str | None = None) -> list[ModuleType]:
    """Every verb's module, or only the one registering ``command`` when it names one."""
    chosen = [module for module, commands in VERB_MODULES if command in commands] or \
        [module for module, _ in VERB_MODULES]
    return [importlib.import_module(f"console.cli.{module}") for module in chosen]
