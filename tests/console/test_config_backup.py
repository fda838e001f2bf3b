"""Configuration backups end to end: what is archived, what is encrypted, the manifest, and a
restore into a new directory (files equal, secrets equal after decryption, nothing escaping)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from console.catalog import scan
from console.errors import ConfirmationRequired, CryptoError, ReadOnlyRefused, VerifyFailed
from console.kinds.base import BackupRequest
from console.kinds.config.restore import restore_config
from console.progress import CancelToken
from console.runner import execute
from console.status import Status
from tests.console.test_crypto import openssl_encrypt
from tests.servers import require_binary

KEY = "config-backup-key-4242"
SECRETS = {
    ".env": "DATABASE_PASSWORD=plaintext-db-secret-1\n",
    ".env.production": "STRIPE_KEY=plaintext-prod-secret-2\n",
    ".env.staging": "STAGING_TOKEN=plaintext-staging-secret-3\n",
    ".env.development": "DEV_TOKEN=plaintext-dev-secret-4\n",
    ".env.local": "LOCAL_TOKEN=plaintext-local-secret-5\n",
    "services/api/.env": "API_SECRET=plaintext-nested-secret-6\n",
    "config/credentials.json": '{"token": "plaintext-glob-secret-7"}\n',
    ".envs/prod.yaml": "token: plaintext-envdir-secret-8\n",
}
PLAIN_FILES = {
    "docker-compose.yml": "services: {}\n",
    "Dockerfile": "FROM debian:12\n",
    "nginx.conf": "server { listen 80; }\n",
    "config/app.yml": "name: app\n",
    "migrations/001_init.sql": "CREATE TABLE t (id int);\n",
    "scripts/deploy.sh": "#!/bin/sh\necho deploy\n",
}
EXCLUDED = {
    ".git/config": "[core]\n",
    "node_modules/lib/index.js": "module.exports = 1\n",
    "logs/app.log": "excluded by a configured glob\n",
    "tmp.swp": "excluded by a configured glob\n",
}


@pytest.fixture
def app_tree(tmp_path) -> Path:
    root = tmp_path / "app"
    for relative, text in {**SECRETS, **PLAIN_FILES, **EXCLUDED}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "scripts" / "deploy.sh").chmod(0o755)
    os.symlink("app.yml", root / "config" / "current.yml")
    return root


@pytest.fixture
def config_settings(make_settings, app_tree):
    def build(**extra):
        values = {"encryption.key": KEY, "config_backup.source_dir": str(app_tree),
                  "config_backup.exclude": ["logs", "*.swp"], "config_backup.encrypt": ["config/credentials.json"]}
        values.update({key.replace("__", "."): value for key, value in extra.items()})
        return make_settings(values)
    return build


def backup(settings, **options):
    result = execute(settings, BackupRequest("config", options=options))
    assert result.ok, result.message
    return result


def all_bytes_under(directory: Path) -> list[tuple[Path, bytes]]:
    return [(path, path.read_bytes()) for path in directory.rglob("*") if path.is_file()]


def test_backup_writes_tarball_encrypted_secrets_and_manifest(config_settings, backup_dir, app_tree):
    settings = config_settings()
    result = backup(settings)
    stamp = result.set_id.split("/")[1]
    config_dir = backup_dir / "config"
    names = sorted(path.name for path in config_dir.iterdir())
    expected_enc = sorted(f"{name.replace('/', '%2F')}_{stamp}.enc" for name in SECRETS)
    assert names == sorted([f"config_{stamp}.tar.gz", f"manifest_{stamp}.json", *expected_enc])
    with tarfile.open(config_dir / f"config_{stamp}.tar.gz") as tar:
        archived = sorted(member.name for member in tar.getmembers())
    assert archived == sorted([*PLAIN_FILES, "config/current.yml"])
    manifest = json.loads((config_dir / f"manifest_{stamp}.json").read_text())
    assert sorted(manifest["files_included"]) == archived
    assert sorted(manifest["encrypted_files"]) == sorted(SECRETS)
    assert manifest["git_commit"] is None and manifest["git_branch"] is None
    assert manifest["producer"].startswith("backup-console ")
    assert manifest["set_id"] == f"config/{stamp}" and manifest["verification_status"] == "pending"
    assert manifest["s3_uploaded"] is False and manifest["s3_bucket"] is None
    assert manifest["backup_timestamp"] == manifest["timestamp"] and "+" in manifest["timestamp"]
    roles = {artifact["role"]: artifact for artifact in manifest["artifacts"]}
    assert set(roles) == {"tarball", *(f"enc:{name.replace('/', '%2F')}" for name in SECRETS)}
    for artifact in manifest["artifacts"]:
        path = config_dir / artifact["name"]
        assert path.stat().st_size == artifact["size_bytes"]
        assert subprocess.run(["sha256sum", str(path)], capture_output=True, text=True).stdout.split()[0] == artifact["sha256"]
    for path in config_dir.glob("*.enc"):
        assert path.stat().st_mode & 0o777 == 0o600
    catalog_set = scan(backup_dir, ["config"]).latest("config")
    assert catalog_set is not None and catalog_set.set_id == result.set_id
    assert KEY not in json.dumps(manifest)


def test_no_plaintext_secret_anywhere_under_backup_dir(config_settings, backup_dir):
    backup(config_settings())
    files = all_bytes_under(backup_dir)
    assert len(files) >= 9
    for path, data in files:
        for secret in SECRETS.values():
            assert secret.strip().encode() not in data, f"plaintext secret in {path}"
        assert KEY.encode() not in data, f"key in {path}"


def test_round_trip_into_a_new_directory(config_settings, backup_dir, app_tree, tmp_path):
    settings = config_settings()
    result = backup(settings)
    backup_set = scan(backup_dir, ["config"]).find(result.set_id)
    target = tmp_path / "restored"
    restored = restore_config(settings, backup_set, target)
    for relative, text in {**PLAIN_FILES, **SECRETS}.items():
        assert (target / relative).read_text() == text, relative
    assert os.readlink(target / "config" / "current.yml") == "app.yml"
    assert (target / "scripts" / "deploy.sh").stat().st_mode & 0o100
    for relative in EXCLUDED:
        assert not (target / relative).exists()
    assert sorted(restored.secrets) == sorted(SECRETS)


def test_restore_refuses_to_overwrite_without_yes(config_settings, backup_dir, tmp_path):
    settings = config_settings()
    set_id = backup(settings).set_id
    backup_set = scan(backup_dir, ["config"]).find(set_id)
    target = tmp_path / "restored"
    target.mkdir()
    (target / ".env").write_text("LOCAL CHANGE\n")
    (target / "nginx.conf").write_text("local nginx\n")
    with pytest.raises(ConfirmationRequired, match="2 file"):
        restore_config(settings, backup_set, target)
    assert (target / ".env").read_text() == "LOCAL CHANGE\n"
    assert sorted(p.name for p in target.iterdir()) == [".env", "nginx.conf"]
    restore_config(settings, backup_set, target, overwrite=True)
    assert (target / ".env").read_text() == SECRETS[".env"]
    assert (target / "nginx.conf").read_text() == PLAIN_FILES["nginx.conf"]


def test_restore_with_wrong_key_writes_nothing(config_settings, backup_dir, tmp_path):
    set_id = backup(config_settings()).set_id
    backup_set = scan(backup_dir, ["config"]).find(set_id)
    target = tmp_path / "restored"
    with pytest.raises(CryptoError, match="wrong key"):
        restore_config(config_settings(**{"encryption.key": "wrong"}), backup_set, target)
    assert not target.exists()


def test_restore_refused_in_read_only_mode(config_settings, backup_dir, tmp_path):
    set_id = backup(config_settings()).set_id
    backup_set = scan(backup_dir, ["config"]).find(set_id)
    with pytest.raises(ReadOnlyRefused):
        restore_config(config_settings(read_only=True), backup_set, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def test_tampered_tarball_is_refused_by_checksum(config_settings, backup_dir, tmp_path):
    settings = config_settings()
    set_id = backup(settings).set_id
    backup_set = scan(backup_dir, ["config"]).find(set_id)
    tarball = backup_set.file("tarball").path
    blob = bytearray(tarball.read_bytes())
    blob[40] ^= 0xFF
    tarball.write_bytes(bytes(blob))
    with pytest.raises(VerifyFailed, match="sha256"):
        restore_config(settings, backup_set, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize("member", ["../escaped.txt", "/tmp/absolute.txt", "sub/../../escaped.txt", "link"])
def test_paths_escaping_the_destination_are_refused(make_settings, backup_dir, tmp_path, member):
    config_dir = backup_dir / "config"
    config_dir.mkdir(parents=True)
    with tarfile.open(config_dir / "config_20250101_020000.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo(member)
        if member == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "../../outside"
        else:
            info.size = 4
        tar.addfile(info, io.BytesIO(b"evil") if member != "link" else None)
    settings = make_settings()
    backup_set = scan(backup_dir, ["config"]).sets[0]
    target = tmp_path / "restored"
    with pytest.raises(VerifyFailed, match="refusing to restore"):
        restore_config(settings, backup_set, target)
    assert not (tmp_path / "escaped.txt").exists() and not target.exists()


def test_symlink_already_in_destination_cannot_be_used_to_escape(make_settings, backup_dir, tmp_path):
    config_dir = backup_dir / "config"
    config_dir.mkdir(parents=True)
    with tarfile.open(config_dir / "config_20250101_020000.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("through/evil.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    target = tmp_path / "restored"
    target.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", target / "through")
    with pytest.raises(VerifyFailed, match="outside"):
        restore_config(make_settings(), scan(backup_dir, ["config"]).sets[0], target, overwrite=True)
    assert not (tmp_path / "elsewhere" / "evil.txt").exists()


def test_legacy_manual_set_restores_with_openssl_env(make_settings, backup_dir, tmp_path):
    """The manual's set: config_<ts>.tar.gz plus .env.enc / .env.production.enc from openssl -k."""
    config_dir = backup_dir / "config"
    config_dir.mkdir(parents=True)
    source = tmp_path / "legacy-src"
    source.mkdir()
    (source / "redis.conf").write_text("maxmemory 1gb\n")
    subprocess.run([require_binary("tar"), "--create", "--gzip", "--file", str(config_dir / "config_20250101_020000.tar.gz"),
                    "-C", str(source), "redis.conf"], check=True)
    for name, text in ((".env", "A=legacy-secret\n"), (".env.production", "B=legacy-prod\n")):
        (source / name).write_text(text)
        openssl_encrypt(source / name, config_dir / f"{name}.enc", ["-md", "sha256"], key=KEY)
    settings = make_settings(**{"encryption.key": KEY})
    backup_set = scan(backup_dir, ["config"]).sets[0]
    target = tmp_path / "restored"
    restored = restore_config(settings, backup_set, target)
    assert (target / "redis.conf").read_text() == "maxmemory 1gb\n"
    assert (target / ".env").read_text() == "A=legacy-secret\n"
    assert (target / ".env.production").read_text() == "B=legacy-prod\n"
    assert sorted(restored.secrets) == [".env", ".env.production"]


def test_backup_dir_inside_the_tree_is_never_archived(make_settings, app_tree):
    inside = app_tree / "var" / "backups"
    settings = make_settings(**{"backup_dir": str(inside), "encryption.key": KEY,
                                "config_backup.source_dir": str(app_tree)})
    backup(settings)
    tarball = next((inside / "config").glob("config_*.tar.gz"))
    with tarfile.open(tarball) as tar:
        assert not [name for name in tar.getnames() if name.startswith("var/backups")]


def test_missing_key_fails_preflight_and_writes_nothing(config_settings, backup_dir):
    settings = config_settings(**{"encryption.key": ""})
    result = execute(settings, BackupRequest("config"))
    assert result.status == "failed"
    assert "no encryption key" in result.message
    assert not (backup_dir / "config").exists() or not list((backup_dir / "config").iterdir())


def test_no_secrets_means_no_key_needed(make_settings, tmp_path, backup_dir):
    source = tmp_path / "plain"
    source.mkdir()
    (source / "app.yml").write_text("a: 1\n")
    result = execute(make_settings(**{"config_backup.source_dir": str(source)}), BackupRequest("config"))
    assert result.ok, result.message
    check = next(c for c in result.checks if c.id == "config.encryption_key")
    assert check.status is Status.OK and "no key needed" in check.evidence


def test_cancelled_run_leaves_nothing(config_settings, backup_dir):
    token = CancelToken()
    token.cancel()
    result = execute(config_settings(), BackupRequest("config"), cancel=token)
    assert result.status == "cancelled"
    config_dir = backup_dir / "config"
    assert not config_dir.exists() or not list(config_dir.iterdir())


@pytest.fixture
def git_repo(app_tree, monkeypatch):
    git = shutil.which("git") or pytest.skip("git is not installed")
    for name, value in (("GIT_AUTHOR_NAME", "t"), ("GIT_AUTHOR_EMAIL", "t@example.com"),
                        ("GIT_COMMITTER_NAME", "t"), ("GIT_COMMITTER_EMAIL", "t@example.com")):
        monkeypatch.setenv(name, value)
    shutil.rmtree(app_tree / ".git")

    def run(*args: str) -> str:
        return subprocess.run([git, "-C", str(app_tree), *args], check=True, capture_output=True, text=True).stdout

    run("init", "-q", "-b", "main")
    run("add", "docker-compose.yml")
    run("commit", "-q", "-m", "initial")
    return run


def test_git_is_read_only_by_default_and_recorded(config_settings, backup_dir, git_repo):
    head = git_repo("rev-parse", "HEAD").strip()
    result = backup(config_settings())
    manifest = json.loads(result.metadata_path.read_text())
    assert manifest["git_commit"] == head and manifest["git_branch"] == "main"
    assert git_repo("rev-parse", "HEAD").strip() == head
    assert git_repo("status", "--porcelain")  # untracked files left alone


def test_git_commit_is_opt_in_and_never_commits_secrets(config_settings, backup_dir, git_repo, app_tree, monkeypatch):
    monkeypatch.setenv("BACKUP_ENCRYPTION_KEY", KEY)
    seen = app_tree.parent / "hook-saw.txt"
    hook = app_tree / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\n{{ env; cat /proc/$PPID/cmdline; echo \"$@\"; }} > {seen}\n")
    hook.chmod(0o755)
    head = git_repo("rev-parse", "HEAD").strip()
    result = backup(config_settings(), git_commit=True)
    saw = seen.read_bytes()
    assert b"GIT_" in saw and KEY.encode() not in saw  # the child's environment and argv: no key
    manifest = json.loads(result.metadata_path.read_text())
    new_head = git_repo("rev-parse", "HEAD").strip()
    assert new_head != head and manifest["git_commit"] == new_head and manifest["git_committed"] == new_head
    tracked = git_repo("ls-files").split()
    assert "nginx.conf" in tracked
    assert not [name for name in tracked if name.rsplit("/", 1)[-1].startswith(".env")]
    assert "config/credentials.json" not in tracked and not [n for n in tracked if n.startswith("node_modules")]


def test_links_leaving_the_tree_are_archived_as_content_or_skipped(make_settings, backup_dir, tmp_path):
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "shared.conf").write_text("shared outside the tree\n")
    source = tmp_path / "src"
    source.mkdir()
    (source / "local.conf").write_text("local\n")
    os.symlink(outside / "shared.conf", source / "shared.conf")
    os.symlink(outside / "dir", source / "outside-dir")
    os.symlink("local.conf", source / "alias.conf")
    settings = make_settings(**{"config_backup.source_dir": str(source)})
    result = backup(settings)
    manifest = json.loads(result.metadata_path.read_text())
    assert manifest["dereferenced_links"] == ["shared.conf"] and manifest["skipped_files"] == ["outside-dir"]
    target = tmp_path / "restored"
    restore_config(settings, scan(backup_dir, ["config"]).find(result.set_id), target)
    assert not (target / "shared.conf").is_symlink()
    assert (target / "shared.conf").read_text() == "shared outside the tree\n"
    assert os.readlink(target / "alias.conf") == "local.conf"
    assert not (target / "outside-dir").exists()



def test_a_run_in_a_second_already_used_waits_for_a_free_stamp(config_settings, backup_dir):
    import datetime as dt
    import shutil

    from console.catalog import scan

    settings = config_settings()
    first = backup(settings)
    primary = next(info.path for info in first.files if info.name.startswith("config_"))
    now = dt.datetime.now()
    taken = {(now + dt.timedelta(seconds=n)).strftime("%Y%m%d_%H%M%S") for n in range(3)}
    for stamp in taken:  # sets made this second and the next two, as a fast earlier run would leave
        if stamp != first.set_id.rsplit("/", 1)[1]:
            shutil.copy(primary, backup_dir / "config" / "config_{}.tar.gz".format(stamp))
    second = backup(settings)
    assert second.set_id.rsplit("/", 1)[1] not in taken | {first.set_id.rsplit("/", 1)[1]}
    assert second.set_id in [s.set_id for s in scan(backup_dir, ["config"]).sets]
