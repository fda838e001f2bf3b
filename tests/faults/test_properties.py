"""Property-based tests: whatever the input, the parsers answer or refuse with a ConsoleError,
never an internal error. Inputs are generated (hypothesis) around each parser's real format."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from console.catalog import BackupFile, BackupSet, parse_metadata, scan
from console.errors import ConsoleError
from tests.faults.conftest import FIGURES

PROPERTY = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def tried() -> None:
    FIGURES["generated_inputs"] = FIGURES.get("generated_inputs", 0) + 1


# --- config loader -----------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
KEYS = ["backup_dir", "timeout_seconds", "read_only", "postgres", "redis", "ui", "alerts", "s3", "retension_days",
        "port", "databases", "keymap", "scheduled_kinds"]
documents = st.dictionaries(st.sampled_from(KEYS), st.one_of(values, st.dictionaries(st.sampled_from(KEYS), values,
                                                                                        max_size=4)), max_size=5)


@PROPERTY
@given(document=documents)
def test_config_loader_never_fails_internally_on_structures(document: dict) -> None:
    from console.config import load_settings

    tried()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "config.yaml"
        path.write_text(yaml.safe_dump(document))
        try:
            load_settings(path, env={})
        except ConsoleError:
            pass


@PROPERTY
@given(text=st.text(alphabet=st.sampled_from(list("abkp_:-?[]{},.!&*#|>'\"\n 0123456789")), max_size=120))
def test_config_loader_never_fails_internally_on_text(text: str) -> None:
    from console.config import load_settings

    tried()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "config.yaml"
        path.write_text(text)
        try:
            load_settings(path, env={})
        except ConsoleError:
            pass


# --- metadata reader ---------------------------------------------------------------------------

FIELDS = ["artifacts", "files", "database_stats", "timestamp", "producer", "verification_status", "duration_seconds",
          "keys_count", "s3", "set_id", "keyspace"]


@PROPERTY
@given(document=st.dictionaries(st.sampled_from(FIELDS), values, max_size=6), raw=st.binary(max_size=64),
       use_raw=st.booleans())
def test_metadata_reader_and_its_consumers_never_fail_internally(document: dict, raw: bytes, use_raw: bool) -> None:
    from console.errors import VerifyFailed
    from console.monitor import _target_state
    from console.provenance import recorded_checksums

    tried()
    data = raw if use_raw else json.dumps(document, allow_nan=True).encode()
    read = parse_metadata(data, "x.json")
    assert (read.document is None) != (read.error is None)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "redis" / "snapshot_20250101_020000.json"
        path.parent.mkdir()
        path.write_bytes(data)
        backup_set = BackupSet("redis", "", __import__("datetime").datetime(2025, 1, 1).astimezone(),
                               (BackupFile(path, "metadata", None),))
        _target_state("redis", "default", "", backup_set)
        try:
            recorded_checksums(backup_set, action="upload")
        except VerifyFailed:
            pass  # our set (producer named) without usable checksums: refused in one line, as it should be


# --- catalog name parser -----------------------------------------------------------------------

name_parts = st.sampled_from(["backup_", "snapshot_", "aof_", "definitions_", "config_", "manifest_", "certificates_",
                              "cert_inventory_", "queues_", ".env", "app_", "_", "x"])
stamps = st.builds(lambda y, mo, d, h, mi, s: f"{y:04d}{mo:02d}{d:02d}_{h:02d}{mi:02d}{s:02d}",
                   st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
                   st.integers(0, 61), st.integers(0, 61))
suffixes = st.sampled_from([".dump", ".dump.zst", ".sql.gz", ".json", ".rdb.gz", ".tar.gz", ".json.gz.enc", ".enc",
                            ".txt.gz", ".tar.gz.enc", ".partial", ""])


@PROPERTY
@given(names=st.lists(st.tuples(st.sampled_from(["postgres", "redis", "rabbitmq", "config", "certs"]), name_parts,
                                stamps, suffixes), min_size=1, max_size=6))
def test_catalog_never_fails_internally_on_names(names: list) -> None:
    tried()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for kind, prefix, stamp, suffix in names:
            (root / kind).mkdir(exist_ok=True)
            (root / kind / f"{prefix}{stamp}{suffix}").write_bytes(b"x")
        catalog = scan(root)
        catalog.latest_per_target()
        for backup_set in catalog.sets:
            backup_set.set_id, backup_set.age_seconds()


# --- checklist loader --------------------------------------------------------------------------

@PROPERTY
@given(document=st.one_of(values, st.dictionaries(st.sampled_from(["name", "service", "items", "title", "check",
                                                                    "id", "manual", "blocking", "steps"]),
                                                   st.one_of(values, st.lists(st.dictionaries(
                                                       st.sampled_from(["id", "title", "check", "manual", "help"]),
                                                       values, max_size=4), max_size=3)), max_size=5)))
def test_checklist_loader_never_fails_internally(document: object) -> None:
    from console.checklists import parse_checklist_file

    tried()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "list.yaml"
        path.write_text(yaml.safe_dump(document))
        try:
            parse_checklist_file(path)
        except ConsoleError:
            pass


# --- legacy decryptor --------------------------------------------------------------------------

@PROPERTY
@given(body=st.binary(max_size=300), salted=st.booleans())
def test_legacy_decryptor_never_fails_internally(body: bytes, salted: bool) -> None:
    from console.crypto import decrypt_stream

    tried()
    data = (b"Salted__" + body) if salted else body
    try:
        decrypt_stream(io.BytesIO(data), io.BytesIO(), "key", where="x.enc")
    except ConsoleError:
        pass


# --- tar planner -------------------------------------------------------------------------------

member_names = st.sampled_from(["a", "a/b", "b/../..", "../x", "/etc/passwd", "x", "x/y", ".", "./c", "d/", "e\x00f",
                                "l", "l/z", "deep/deeper/file"])
member_types = st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                                tarfile.FIFOTYPE])
link_targets = st.sampled_from([".", "..", "../", "/", "/etc", "a", "x", "l", "../../etc", "deep"])


@PROPERTY
@given(members=st.lists(st.tuples(member_names, member_types, link_targets, st.sampled_from([0o644, 0o4755, 0o777])),
                        max_size=6), cut=st.integers(0, 4000), compress=st.booleans())
def test_tar_planner_never_fails_internally(members: list, cut: int, compress: bool) -> None:
    from console.extraction import ExtractionPlan, plan_archive

    tried()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, link, mode in members:
            info = tarfile.TarInfo(name.replace("\x00", "_"))
            info.type, info.linkname, info.mode = kind, link, mode
            data = b"content" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    raw = gzip.compress(raw) if compress else raw
    raw = raw[:cut] if cut < len(raw) and cut % 3 == 0 else raw
    with tempfile.TemporaryDirectory() as scratch:
        destination = Path(scratch) / "dest"
        destination.mkdir()
        try:
            plan_archive(io.BytesIO(raw), destination, ExtractionPlan(destination))
        except ConsoleError:
            pass
        assert sorted(os.listdir(destination)) == []
