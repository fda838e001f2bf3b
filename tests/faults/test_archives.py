"""Malicious and broken archives: a refused restore leaves its target exactly as it was."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from tests.faults.conftest import Console, count_fault


def _tree(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Everything under ``root``: kind and content (or link target), to compare before and after."""
    found: dict[str, tuple[str, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            found[relative] = ("link", os.readlink(path))
        elif path.is_dir():
            found[relative] = ("dir", "")
        else:
            found[relative] = ("file", path.read_bytes())
    return found


def _archive(path: Path, members: list[tuple[str, bytes, str, int]]) -> None:
    """(name, type, link target, mode) members, written as the manual's config tarball."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, link, mode in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, mode
            data = f"content of {name}\n".encode() if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


F, D, S, H, C = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE
REFUSED = {
    "dot-dot": [("ok.txt", F, "", 0o644), ("../evil.txt", F, "", 0o644)],
    "absolute": [("ok.txt", F, "", 0o644), ("/tmp/bc-evil.txt", F, "", 0o644)],
    "symlink-chain": [("ok.txt", F, "", 0o644), ("x", S, ".", 0o777), ("x/y", S, "../", 0o777),
                      ("x/y/escaped.txt", F, "", 0o644)],
    "file-then-below-it": [("ok.txt", F, "", 0o644), ("a", F, "", 0o644), ("a/b", F, "", 0o644)],
    "absolute-symlink": [("ok.txt", F, "", 0o644), ("etc", S, "/etc", 0o777)],
    "symlink-out": [("ok.txt", F, "", 0o644), ("up", S, "../../..", 0o777)],
    "hardlink-out": [("ok.txt", F, "", 0o644), ("passwd", H, "/etc/passwd", 0o644)],
    "hardlink-dot-dot": [("ok.txt", F, "", 0o644), ("passwd", H, "../../etc/passwd", 0o644)],
    "hardlink-to-nothing": [("ok.txt", F, "", 0o644), ("ghost", H, "not-in-archive", 0o644)],
}


@pytest.fixture
def legacy_config_set(backup_dir: Path) -> Path:
    directory = backup_dir / "config"
    directory.mkdir(parents=True)
    return directory / "config_20250101_020000.tar.gz"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    root = tmp_path / "target"
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "app.yaml").write_text("keep me\n")
    (root / "ok.txt").write_text("the old ok.txt\n")
    return root


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_malicious_archive_is_refused_before_anything_is_written(console: Console, legacy_config_set: Path,
                                                                     target: Path, case: str) -> None:
    _archive(legacy_config_set, REFUSED[case])
    before = _tree(target)
    count_fault()
    done = console.run("restore", "config", str(legacy_config_set), "--to", str(target), "--yes")
    assert done.code == 1, done.err
    assert "refusing to restore" in done.err and "Traceback" not in done.err
    assert len([line for line in done.err.splitlines() if "error:" in line]) == 1  # one line (progress aside)
    assert _tree(target) == before
    assert not Path("/tmp/bc-evil.txt").exists()
    assert not (target.parent / "evil.txt").exists()


def test_a_truncated_archive_leaves_the_target_as_it_was(console: Console, legacy_config_set: Path,
                                                          target: Path) -> None:
    _archive(legacy_config_set, [(f"file{n}.txt", F, "", 0o644) for n in range(50)] + [("ok.txt", F, "", 0o644)])
    legacy_config_set.write_bytes(legacy_config_set.read_bytes()[:-40])
    before = _tree(target)
    count_fault()
    done = console.run("restore", "config", str(legacy_config_set), "--to", str(target), "--yes")
    assert done.code == 1 and "damaged archive" in done.err, done.err
    assert _tree(target) == before


def test_devices_are_skipped_and_setuid_is_dropped(console: Console, legacy_config_set: Path, target: Path) -> None:
    _archive(legacy_config_set, [("ok.txt", F, "", 0o644), ("null", C, "", 0o666), ("tool", F, "", 0o4755)])
    count_fault()
    done = console.run("restore", "config", str(legacy_config_set), "--to", str(target), "--yes")
    assert done.code == 0, done.err
    assert not (target / "null").exists()
    mode = (target / "tool").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID)
    assert (target / "ok.txt").read_text() == "content of ok.txt\n"
    assert not [p for p in target.iterdir() if p.name.startswith(".bc-restore-")]
