"""Verifying a base backup: the artefacts' sha256 against the metadata, the manifest kept beside
the tar against the one inside it, then ``pg_verifybackup`` on the unpacked copy (every file's
size and checksum, and the WAL the backup needs)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.artifacts import sha256_file
from console.errors import ConsoleError
from console.kinds.postgres.client import find_tool
from console.pitr.extract import extract
from console.pitr.layout import MANIFEST_NAME, BaseBackup


@dataclass(frozen=True)
class BaseVerifyReport:
    set_id: str
    ok: bool
    checks: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"set_id": self.set_id, "ok": self.ok, "checks": self.checks}


def verify_base_backup(base: BaseBackup, bin_dir: str = "", scratch: Path | None = None) -> BaseVerifyReport:
    """Run every check; a failed check is reported, not raised."""
    checks: list[dict[str, Any]] = []

    def record(name: str, ok: bool, message: str) -> bool:
        checks.append({"check": name, "status": "passed" if ok else "failed", "message": message})
        return ok

    for artifact in base.metadata.get("artifacts", []):
        path = base.directory / artifact["name"]
        if not path.is_file():
            record("sha256", False, f"{artifact['name']} is missing")
            continue
        actual = sha256_file(path)
        record("sha256", actual == artifact["sha256"],
               f"{artifact['name']}: sha256 {'matches' if actual == artifact['sha256'] else 'DIFFERS from'} the metadata")
    workdir = Path(tempfile.mkdtemp(prefix="bc-verify-base-", dir=scratch))
    try:
        data = workdir / "data"
        try:
            extract(base.tar_path, data)
        except ConsoleError as exc:
            record("unpack", False, exc.message)
            return BaseVerifyReport(base.set_id, False, checks)
        record("unpack", True, f"unpacked {base.tar_path.name}")
        inner = data / MANIFEST_NAME
        if not base.manifest_in_tar and not inner.exists():  # the server compressed the tar: no copy inside
            kept = next((a for a in base.metadata.get("artifacts", []) if a.get("name") == MANIFEST_NAME), None)
            same = kept is not None and base.manifest_path.is_file() and \
                sha256_file(base.manifest_path) == kept.get("sha256")
            record("manifest", same, "backup_manifest beside the tar matches its sha256 in the metadata (the server "
                   "compressed the tar, which carries no copy)" if same
                   else "backup_manifest beside the tar is missing or differs from the metadata's sha256")
        else:
            same = inner.is_file() and base.manifest_path.is_file() and \
                inner.read_bytes() == base.manifest_path.read_bytes()
            record("manifest", same, "backup_manifest beside the tar equals the one inside it" if same
                   else "backup_manifest beside the tar differs from the one inside it (or is missing)")
        tool = find_tool("pg_verifybackup", bin_dir)
        done = subprocess.run([tool.path, "--manifest-path", str(base.manifest_path), str(data)],
                              capture_output=True, text=True, timeout=3600)
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        record("pg_verifybackup", done.returncode == 0,
               lines[-1] if done.returncode == 0 and lines else "; ".join(lines[:5]) or f"exit {done.returncode}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return BaseVerifyReport(base.set_id, all(check["status"] == "passed" for check in checks), checks)
