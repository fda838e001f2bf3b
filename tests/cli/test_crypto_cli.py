"""``backup-console encrypt/decrypt`` and ``certs status``: exit codes, one-line errors, no output
left behind, and the key in no argv and no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from tests.certs_fixtures import build_cert_tree, ec_key, key_pem, make_cert, pem
from tests.console.test_crypto import openssl_encrypt

KEY = "cli-key-Zq8sV1xP0w"


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("BACKUP_ENCRYPTION_KEY", KEY)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert KEY not in captured.out and KEY not in captured.err
    return code, captured.out, captured.err


def test_encrypt_then_decrypt_round_trip(tmp_path, keyed, capsys):
    source = tmp_path / "settings.env"
    source.write_bytes(b"TOKEN=abc\n" * 1000)
    code, out, _err = run_cli(["encrypt", str(source)], capsys)
    assert code == 0 and "encrypted" in out
    encrypted = tmp_path / "settings.env.enc"
    assert encrypted.stat().st_mode & 0o777 == 0o600
    assert b"TOKEN" not in encrypted.read_bytes()
    code, out, _err = run_cli(["decrypt", str(encrypted), "-o", str(tmp_path / "back.env"), "--json"], capsys)
    assert code == 0
    document = json.loads(out)
    assert document["format"] == "backup-console" and document["bytes_out"] == 10_000
    assert (tmp_path / "back.env").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("damage", ["wrong-key", "truncated", "flipped"])
def test_damage_exits_1_with_one_line_and_no_output(tmp_path, keyed, capsys, monkeypatch, damage):
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(200_000))
    assert main(["encrypt", str(source)]) == 0
    encrypted = tmp_path / "data.bin.enc"
    blob = encrypted.read_bytes()
    if damage == "wrong-key":
        monkeypatch.setenv("BACKUP_ENCRYPTION_KEY", "another key entirely")
    elif damage == "truncated":
        encrypted.write_bytes(blob[: 72 + 65536 + 16])  # exactly one whole chunk kept
    else:
        flipped = bytearray(blob)
        flipped[100_000] ^= 0x01
        encrypted.write_bytes(bytes(flipped))
    capsys.readouterr()
    output = tmp_path / "restored.bin"
    code, out, err = run_cli(["decrypt", str(encrypted), "-o", str(output)], capsys)
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backup-console: error: ")
    expected = {"wrong-key": "wrong key or corrupt file", "truncated": "truncated", "flipped": "corrupt"}[damage]
    assert expected in lines[0]
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", "data.bin.enc", "home"]


def test_legacy_file_decrypts_and_names_the_variant(tmp_path, keyed, capsys):
    plain = tmp_path / ".env"
    plain.write_text("API_KEY=zzz\n")
    openssl_encrypt(plain, tmp_path / ".env.enc", ["-md", "md5"], key=KEY)
    plain.unlink()
    code, out, _err = run_cli(["decrypt", str(tmp_path / ".env.enc")], capsys)
    assert code == 0
    assert "-md md5" in out and "content checked as text" in out
    assert plain.read_text() == "API_KEY=zzz\n"


def test_existing_output_and_missing_key_are_usage_errors(tmp_path, capsys, monkeypatch):
    source = tmp_path / "a.txt"
    source.write_text("x")
    (tmp_path / "a.txt.enc").write_text("already here")
    monkeypatch.setenv("BACKUP_ENCRYPTION_KEY", KEY)
    code, _out, err = run_cli(["encrypt", str(source)], capsys)
    assert code == 2 and "refusing to overwrite" in err
    assert (tmp_path / "a.txt.enc").read_text() == "already here"
    monkeypatch.delenv("BACKUP_ENCRYPTION_KEY")
    code, _out, err = run_cli(["encrypt", str(source), "-o", str(tmp_path / "b.enc")], capsys)
    assert code == 2 and "no encryption key" in err
    assert not (tmp_path / "b.enc").exists()


def test_key_file_is_used(tmp_path, capsys, monkeypatch):
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    (tmp_path / "cfg.yaml").write_text(f"encryption:\n  key_file: {key_file}\n")
    source = tmp_path / "a.txt"
    source.write_text("hello")
    assert run_cli(["--config", str(tmp_path / "cfg.yaml"), "encrypt", str(source)], capsys)[0] == 0
    monkeypatch.setenv("BACKUP_ENCRYPTION_KEY", KEY)
    assert run_cli(["decrypt", str(tmp_path / "a.txt.enc"), "-o", str(tmp_path / "b.txt")], capsys)[0] == 0
    assert (tmp_path / "b.txt").read_text() == "hello"


def test_real_process_keeps_the_key_out_of_argv_and_output(tmp_path):
    source = tmp_path / "doc.txt"
    source.write_text("content\n")
    env = {**os.environ, "BACKUP_ENCRYPTION_KEY": KEY}
    for argv in (["encrypt", str(source)], ["decrypt", str(tmp_path / "doc.txt.enc"), "-o", str(tmp_path / "o.txt")]):
        command = [sys.executable, "-m", "console.cli", *argv]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes() if Path(f"/proc/{process.pid}").exists() else b""
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert KEY.encode() not in cmdline and KEY not in " ".join(command)
        assert KEY.encode() not in out + err
    assert (tmp_path / "o.txt").read_text() == "content\n"


# --- certs status ---------------------------------------------------------------------------------


def test_certs_status_exits_1_on_expired_or_critical(tmp_path, capsys, monkeypatch):
    tree = build_cert_tree(tmp_path / "certs")
    monkeypatch.setenv("CERT_DIR", str(tree.root))
    code, out, err = run_cli(["certs", "status"], capsys)
    assert code == 1
    assert "EXPIRED" in out and "CRITICAL" in out and "soon.example.com" in out
    assert "notes.pem" in err and "stray.key" in err
    code, out, _err = run_cli(["certs", "status", "--json"], capsys)
    assert code == 1
    document = json.loads(out)
    assert document["summary"]["expired"] == 1 and document["summary"]["expiring_critical"] == 1


def test_certs_status_exits_0_when_only_fine_or_warning(tmp_path, capsys, monkeypatch):
    good = tmp_path / "good"
    good.mkdir()
    key = ec_key()
    (good / "site.crt").write_bytes(pem(make_cert("site.example.com", key, days_valid=20)))
    (good / "site.key").write_bytes(key_pem(key))
    code, out, _err = run_cli(["certs", "status", "--cert-dir", str(good)], capsys)
    assert code == 0
    assert "WARN" in out and "site.example.com" in out and "yes" in out
    code, _out, err = run_cli(["certs", "status", "--cert-dir", str(tmp_path / "missing")], capsys)
    assert code == 2 and "not a directory" in err


def _run_on_a_terminal(argv: list[str], answers: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run the real command on a pseudo-terminal, answering each prompt; returns (exit code, transcript)."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command, with the pty as its controlling terminal
        os.execve(sys.executable, [sys.executable, "-m", "console.cli", *argv], env)
    transcript = b""
    pending = list(answers)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                break
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            transcript += data
            if pending and data.rstrip().endswith(b":"):  # a fresh prompt, not the newline after an answer
                os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), transcript


def test_prompt_on_a_terminal_is_not_echoed(tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("prompted\n")
    env = {key: value for key, value in os.environ.items() if key != "BACKUP_ENCRYPTION_KEY"}
    code, transcript = _run_on_a_terminal(["encrypt", str(source)], [KEY, KEY], env)
    assert code == 0, transcript
    assert b"Encryption key:" in transcript and b"Repeat the key:" in transcript
    assert KEY.encode() not in transcript
    code, transcript = _run_on_a_terminal(["decrypt", str(tmp_path / "notes.txt.enc"), "-o", str(tmp_path / "o.txt")],
                                          [KEY], env)
    assert code == 0 and KEY.encode() not in transcript
    assert (tmp_path / "o.txt").read_text() == "prompted\n"
    code, transcript = _run_on_a_terminal(["encrypt", str(source), "-o", str(tmp_path / "x.enc")], [KEY, "different"], env)
    assert code == 2 and b"the two keys differ" in transcript and not (tmp_path / "x.enc").exists()


def test_decrypt_to_stdout_with_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`decrypt -o -` writes the plaintext to stdout (as filters do), never a file named '-'."""
    plain = tmp_path / "notes.txt"
    plain.write_bytes(b"line one\nline two\n")
    env = {**os.environ, "BACKUP_ENCRYPTION_KEY": "k3y-for-stdout", "PYTHONPATH": str(Path(__file__).parents[2])}
    encrypt = subprocess.run([sys.executable, "-m", "console.cli", "encrypt", str(plain)], cwd=tmp_path, env=env,
                             capture_output=True)
    assert encrypt.returncode == 0, encrypt.stderr
    done = subprocess.run([sys.executable, "-m", "console.cli", "decrypt", str(plain) + ".enc", "-o", "-"],
                          cwd=tmp_path, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"line one\nline two\n"
    assert not (tmp_path / "-").exists()
