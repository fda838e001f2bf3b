"""Runs every bench with quick settings and prints their tables (``make bench``).

For the figures in bench/README.md run each script by hand with the sizes named there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = [
    ["startup_status.py", "--runs", "3"],
    ["crypto_stream.py", "--megabytes", "256"],
    ["pg_backup.py", "--scale", "0.05", "--runs", "1"],
    ["s3_upload.py", "--megabytes", "96", "--runs", "1"],
]


def main() -> int:
    failed = 0
    for script, *args in QUICK:
        print(f"\n## {script} {' '.join(args)}\n", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *args]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
