"""A ``backup-console`` the postgres OS user can run, for archive_command and restore_command.

The test runner is root and its Python lives under /root, which postgres cannot enter. So,
once per session: copy the worktree's ``console`` package and zstandard (a cp311 wheel, the
same ABI as the system's /usr/bin/python3) to a world-readable temp dir, byte-compile them
there (postgres cannot write __pycache__), and write a launcher running the system Python.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"


def build_launcher() -> Path:
    """Returns the path of an executable ``backup-console`` usable by any user."""
    base = Path(tempfile.mkdtemp(prefix="bc-walbin-"))
    lib = base / "lib"
    lib.mkdir()
    shutil.copytree(ROOT / "console", lib / "console", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(zstandard.__file__).parent, lib / "zstandard", ignore=shutil.ignore_patterns("__pycache__"))
    python = SYSTEM_PYTHON if Path(SYSTEM_PYTHON).exists() else sys.executable
    subprocess.run([python, "-m", "compileall", "-q", str(lib)], check=True, capture_output=True)
    launcher = base / "backup-console"
    launcher.write_text(f"#!/bin/sh\nPYTHONPATH={lib} exec {python} -s -m console.cli \"$@\"\n")
    for path in [base, *base.rglob("*")]:
        mode = os.stat(path).st_mode
        os.chmod(path, mode | stat.S_IRGRP | stat.S_IROTH | (stat.S_IXGRP | stat.S_IXOTH
                                                             if path.is_dir() or path == launcher else 0))
    launcher.chmod(0o755)
    return launcher
