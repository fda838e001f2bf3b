"""Base backups the server compresses (``postgres.base_compression: server-lz4`` / ``server-zstd``):
pg_basebackup writes the tar and the manifest into the set's directory, the console checks them in
one pass. Restores to moments return exactly the rows, with the new base backup and with an older
one compressed here (zstd), ``verify --physical`` passes and catches a changed byte.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from console.cli import main
from tests.pitr.conftest import (ArchivedCluster, archiving_cluster, cancel_a_base_backup,
                                 copy_with_a_changed_data_file, half_tar_copy, stop_restored)


def _backup(state: ArchivedCluster, compression: str) -> dict:
    from console.kinds.base import BackupRequest
    from console.runner import execute

    state.config.write_text(state.extra["config"] + f"  base_compression: {compression}\n")
    result = execute(state.settings(), BackupRequest("postgres", None, options={"physical": True}))
    assert result.ok, result.message
    return result.extra


def _commit(state: ArchivedCluster, row: int) -> None:
    with state.cluster.connect() as conn:
        before = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("INSERT INTO marker VALUES (%s)", (row,))
        after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    state.commits.append((row, before, after))


@pytest.fixture(scope="module")
def bases(wal_launcher: Path) -> Iterator[ArchivedCluster]:
    """zstd base (as before), rows 1-2, the default (auto: server-lz4 on PostgreSQL 15+) base, rows 3-4,
    server-zstd base, row 5."""
    with archiving_cluster(wal_launcher, "pitr") as state:
        cluster = state.cluster
        with cluster.connect() as conn:
            conn.execute("CREATE TABLE marker (id int PRIMARY KEY)")
            conn.execute("CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 20000) g")
        state.wait_archived()
        for compression, rows in (("zstd", (1, 2)), ("auto", (3, 4)), ("server-zstd", (5,))):
            state.extra["server-lz4" if compression == "auto" else compression] = _backup(state, compression)
            time.sleep(1.0)  # the next row commits a second after the stop time: targets fit between them
            for row in rows:
                _commit(state, row)
                time.sleep(0.3)
            state.wait_archived()
        yield state


def _restore_rows(state: ArchivedCluster, capsys: pytest.CaptureFixture[str], moment: datetime) -> tuple[list[int], str]:
    to = state.work / f"restored-{time.monotonic_ns()}"
    capsys.readouterr()
    code = main(["restore", "postgres", "--pitr", "--target-time", moment.isoformat(), "--to", str(to), "--program",
                 str(state.launcher), "--config", str(state.config), "--json", "--wait", "120", "--start"])
    out = capsys.readouterr()
    try:
        assert code == 0, out.err
        document = json.loads(out.out)
        assert document["result"]["reached"] is True
        with psycopg.connect(host="127.0.0.1", port=document["result"]["port"], user="postgres", dbname="postgres",
                             connect_timeout=5) as conn:
            rows = [row[0] for row in conn.execute("SELECT id FROM marker ORDER BY id").fetchall()]
        return rows, json.dumps(document)
    finally:
        stop_restored(to)
        shutil.rmtree(to, ignore_errors=True)


def _between(after: datetime, before: datetime) -> datetime:
    return after + (before - after) / 2


def test_server_compressed_sets_name_their_tar_and_keep_the_manifest_beside_it(bases):
    from console.pitr.layout import list_base_backups

    found = {base.metadata["base_compression"]: base for base in list_base_backups(bases.backup_dir)}
    assert sorted(found) == ["server-lz4", "server-zstd", "zstd"]
    assert found["server-lz4"].tar_path.name == "base.tar.lz4"
    assert found["server-zstd"].tar_path.name == "base.tar.zst"
    for name, base in found.items():
        assert sorted(p.name for p in base.directory.iterdir()) == sorted(
            ["backup.json", "backup_manifest", base.tar_path.name]), name
        assert base.metadata["manifest_in_tar"] is (name == "zstd")
        assert base.metadata["raw_bytes"] > 20_000_000 and base.metadata["manifest_files_checked"] > 900
    assert found["server-lz4"].metadata["compression"] == "lz4, by the server"
    assert found["server-lz4"].metadata["base_compression_chosen_by"].startswith("auto: ")
    assert found["zstd"].metadata["base_compression_chosen_by"] == "postgres.base_compression"
    assert "--compress=server-zstd:level=1,workers=2" in found["server-zstd"].metadata["backup_method"]


def test_restores_to_moments_use_the_right_base_and_return_exactly_the_rows(bases, capsys):
    commits = bases.commits  # rows 1-2 after the zstd base, 3-4 after server-lz4, 5 after server-zstd
    lz4_stop = datetime.fromisoformat(bases.extra["server-lz4"]["stop_time"])
    zstd_stop = datetime.fromisoformat(bases.extra["server-zstd"]["stop_time"])
    cases = [(_between(commits[0][2], commits[1][1]), [1], "zstd"),  # an old zstd set still restores
             (_between(lz4_stop, commits[2][1]), [1, 2], "server-lz4"),
             (_between(commits[2][2], commits[3][1]), [1, 2, 3], "server-lz4"),
             (_between(zstd_stop, commits[4][1]), [1, 2, 3, 4], "server-zstd")]
    for moment, rows, base in cases:
        got, document = _restore_rows(bases, capsys, moment)
        assert got == rows, (moment, base)
        assert bases.extra[base]["directory"].rsplit("/", 1)[-1] in document, base


def test_verify_physical_passes_and_catches_a_changed_byte_in_a_server_lz4_set(bases, tmp_path):
    from console.pitr.layout import list_base_backups
    from console.pitr.verify import verify_base_backup

    assert main(["verify", "--physical", "--config", str(bases.config)]) == 0
    base = next(b for b in list_base_backups(bases.backup_dir) if b.metadata["base_compression"] == "server-lz4")
    report = verify_base_backup(base)
    assert report.ok and [c["check"] for c in report.checks] == ["sha256", "sha256", "unpack", "manifest",
                                                                 "pg_verifybackup"]

    # one byte flipped in the compressed file: its sha256, and the LZ4 stream, say so
    flipped_dir = tmp_path / "flipped" / "postgres" / "base" / base.stamp
    shutil.copytree(base.directory, flipped_dir)
    tar = flipped_dir / "base.tar.lz4"
    data = bytearray(tar.read_bytes())
    data[len(data) // 2] ^= 0x01
    tar.write_bytes(bytes(data))
    report = verify_base_backup(list_base_backups(tmp_path / "flipped")[0])
    failed = {c["check"]: c["message"] for c in report.checks if c["status"] == "failed"}
    assert not report.ok and "base.tar.lz4: sha256 DIFFERS" in failed["sha256"]

    # one byte changed inside a data file, re-compressed with a matching sha256: pg_verifybackup catches it
    changed = copy_with_a_changed_data_file(base, tmp_path / "damaged")
    report = verify_base_backup(list_base_backups(tmp_path / "damaged")[0])
    failed = [c for c in report.checks if c["status"] == "failed"]
    assert not report.ok and [c["check"] for c in failed] == ["pg_verifybackup"]
    assert changed in failed[0]["message"]


def test_a_truncated_server_lz4_tar_is_not_restored(bases, tmp_path, capsys):
    from console.pitr.layout import list_base_backups

    base = next(b for b in list_base_backups(bases.backup_dir) if b.metadata["base_compression"] == "server-lz4")
    config = half_tar_copy(bases, base, "base.tar.lz4", tmp_path)
    to = bases.work / "half"
    capsys.readouterr()
    moment = _between(bases.commits[2][2], bases.commits[3][1])
    assert main(["restore", "postgres", "--pitr", "--target-time", moment.isoformat(), "--to", str(to),
                 "--program", str(bases.launcher), "--config", str(config)]) == 1
    assert "cannot be unpacked" in capsys.readouterr().err
    assert not to.exists()


def test_a_cancelled_server_side_backup_leaves_nothing(bases):
    bases.config.write_text(bases.extra["config"] + "  base_compression: server-lz4\n")
    cancel_a_base_backup(bases)


@pytest.mark.parametrize(("setting", "server", "client", "chosen"), [
    ("auto", 150004, 15, "server-lz4"), ("auto", 140011, 15, "zstd"), ("auto", 160000, 14, "zstd"),
    ("zstd", 160000, 16, "zstd"), ("server-zstd", 150000, 15, "server-zstd")])
def test_auto_is_server_lz4_only_where_server_and_pg_basebackup_are_15(setting, server, client, chosen):
    from console.config import PostgresSettings
    from console.kinds.postgres.client import Tool
    from console.pitr.basebackup import choose_compression

    tool = Tool("/usr/bin/pg_basebackup", f"pg_basebackup (PostgreSQL) {client}.1", client)
    got, why = choose_compression(PostgresSettings(base_compression=setting), tool,
                                  {"server_version_num": server, "server_version": str(server)})
    assert got == chosen
    assert why.startswith("auto: ") == (setting == "auto")


def test_an_explicit_server_side_compression_on_postgresql_14_fails_before_anything_is_written():
    from console.config import PostgresSettings
    from console.errors import BackupFailed
    from console.kinds.postgres.client import Tool
    from console.pitr.basebackup import choose_compression

    tool = Tool("/usr/bin/pg_basebackup", "pg_basebackup (PostgreSQL) 14.9", 14)
    with pytest.raises(BackupFailed, match="server-lz4 needs PostgreSQL 15 or later") as caught:
        choose_compression(PostgresSettings(base_compression="server-lz4"), tool,
                           {"server_version_num": 140009, "server_version": "14.9"})
    assert "base_compression: zstd" in (caught.value.hint or "")
