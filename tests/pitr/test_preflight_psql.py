"""A base backup's pre-flight asks through psql (no psycopg in a one-second process): what psql prints
is parsed back exactly, a stopped server is one reason, and pg_hba.conf refusing replication is named."""

from __future__ import annotations

import json
import subprocess
import sys

import hypothesis.strategies as st
import pytest
from hypothesis import given

from console.kinds.postgres.psql_query import FIELD_SEPARATOR, NULL, RECORD_SEPARATOR, PsqlFailed, ask, parse_rows

_TEXT = st.text(st.characters(blacklist_characters=FIELD_SEPARATOR + RECORD_SEPARATOR + NULL,
                              blacklist_categories=("Cs",)))


@given(st.lists(st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=6), max_size=5))
def test_rows_come_back_as_psql_printed_them(rows):
    printed = RECORD_SEPARATOR.join(FIELD_SEPARATOR.join(NULL if field is None else field for field in row)
                                    for row in rows) + "\n"
    # one row of one empty field prints as nothing at all, as no row does: psql cannot tell them apart
    assert parse_rows(printed) == ([] if rows == [[""]] else rows)


def test_ask_returns_text_nulls_and_every_row(pg_cluster, make_settings):
    pg = make_settings(pg_cluster.overrides()).postgres
    rows = ask(pg, "SELECT n, CASE WHEN n = 2 THEN NULL ELSE 'line ' || n || E'\\nnext' END, n > 1 "
                   "FROM generate_series(1, 3) AS n", 5.0)
    assert rows == [["1", "line 1\nnext", "f"], ["2", None, "t"], ["3", "line 3\nnext", "t"]]
    with pytest.raises(PsqlFailed, match="division by zero"):
        ask(pg, "SELECT 1 / 0", 5.0)


def _physical_preflight(settings):  # noqa: ANN001, ANN202
    from console.kinds.base import BackupRequest
    from console.runner import execute

    result = execute(settings, BackupRequest("postgres", None, options={"physical": True}))
    return result, {check.id: check for check in result.checks}


def test_a_stopped_server_is_one_reason_and_the_run_is_logged(own_pg_cluster, make_settings, backup_dir):
    from console.runlog import read_runs

    settings = make_settings(own_pg_cluster.overrides())
    own_pg_cluster.stop()
    result, checks = _physical_preflight(settings)
    assert result.status == "failed"
    where = f"{own_pg_cluster.host}:{own_pg_cluster.port}"
    assert checks["pitr.server"].status.value == "fail"
    assert checks["pitr.server"].evidence == f"cannot ask the server: connection refused at {where}"
    needing_it = ("pitr.wal_level", "pitr.archiving", "pitr.disk_space", "pitr.replication")
    assert {checks[name].evidence for name in needing_it} == {f"not checked: connection refused at {where}"}
    assert {checks[name].status.value for name in needing_it} == {"skip"}
    assert "pg_hba.conf" not in result.message  # a server that is down is not a pg_hba.conf problem
    assert read_runs(backup_dir)[0].status == "failed"


def test_pg_hba_refusing_replication_is_named(own_pg_cluster, make_settings):
    hba = own_pg_cluster.data / "pg_hba.conf"
    rules = hba.read_text()
    subprocess.run(["sh", "-c", f"printf 'host replication all all reject\\n' > {hba}.new && cat {hba} >> {hba}.new"
                                f" && cat {hba}.new > {hba}"], check=True)
    assert hba.read_text().startswith("host replication all all reject") and rules in hba.read_text()
    with own_pg_cluster.connect() as conn:
        conn.execute("SELECT pg_reload_conf()")
    _, checks = _physical_preflight(make_settings(own_pg_cluster.overrides()))
    assert checks["pitr.server"].status.value == "ok"
    replication = checks["pitr.replication"]
    assert replication.status.value == "fail"
    assert "pg_hba.conf" in replication.evidence and "replication connection" in replication.evidence


def test_the_preflight_and_the_facts_do_not_import_psycopg(pg_cluster, make_settings):
    """The point of asking through psql: a base backup's process never loads the driver."""
    code = ("import sys, json\n"
            "from console.config import load_settings\n"
            "from console.preflight import CheckContext\n"
            "from console.kinds import registry\n"
            "from console.pitr import checks\n"
            "from console.pitr.basebackup import _server_facts\n"
            f"settings = load_settings(None, env={{}}, overrides={pg_cluster.overrides()!r})\n"
            "results = registry.run_checks(checks.PREFLIGHT, CheckContext(settings))\n"
            "facts = _server_facts(settings.postgres, 5.0)\n"
            "print(json.dumps({'server': results[0].status.value, 'version': facts['server_version_num'], "
            "'psycopg': 'psycopg' in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    with pg_cluster.connect() as conn:
        version_num = int(conn.execute("SHOW server_version_num").fetchone()[0])
    assert json.loads(done.stdout) == {"server": "ok", "version": version_num, "psycopg": False}
