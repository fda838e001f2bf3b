"""The headless engine and CLI never import Textual or rich (cron hosts need neither)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys, io, contextlib
import console
for module in pkgutil.walk_packages(console.__path__, "console."):
    if module.name == "console.cli.__main__":
        continue
    importlib.import_module(module.name)
from console.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["status", "--json", "--service", "storage"])
assert code == 0, code
leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("textual", "rich", "screens"))
print(",".join(leaked))
"""


def test_console_and_headless_status_do_not_import_textual():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
