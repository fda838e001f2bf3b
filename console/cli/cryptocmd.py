"""``backup-console encrypt FILE`` and ``decrypt FILE``: our authenticated format, and the manual's
legacy ``openssl enc`` files (detected automatically when decrypting).

The key is never taken from the command line: BACKUP_ENCRYPTION_KEY / encryption.key,
encryption.key_file, or a prompt when stdin is a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console.errors import ConfigError, ExitCode, UsageError
from console.formatting import size

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings

KEY_HELP = ("The key comes from BACKUP_ENCRYPTION_KEY (encryption.key), encryption.key_file, or a prompt when "
            "run on a terminal; never from the command line.")


@dataclass(frozen=True)
class CryptoOptions:
    action: str
    """"encrypt" or "decrypt"."""
    input: Path
    output: Path | None
    expect: str
    json: bool


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    encrypt = subparsers.add_parser(
        "encrypt", parents=parents, help="encrypt a file (authenticated, streaming)",
        description="Encrypt FILE into OUT (default FILE.enc) with backup-console's format: scrypt + AES-256-GCM "
                    "in 64 KiB chunks (docs/encryption-format.md). " + KEY_HELP +
                    " Exit 0 done, 1 failed (nothing left behind), 2 usage/config error.",
    )
    encrypt.add_argument("file", type=Path, metavar="FILE")
    encrypt.add_argument("-o", "--output", type=Path, metavar="OUT", help="output file (must not exist)")
    encrypt.set_defaults(handler=lambda args, settings, printer: run_crypto(
        CryptoOptions("encrypt", args.file, args.output, "auto", args.json), settings, printer))

    decrypt = subparsers.add_parser(
        "decrypt", parents=parents, help="decrypt a file (ours or the manual's openssl files)",
        description="Decrypt FILE into OUT (default FILE without .enc). Detects backup-console's format and the "
                    "manual's `openssl enc -aes-256-cbc -k KEY` files (MD5, SHA-256 and -pbkdf2 key derivation). "
                    "A legacy file has no MAC, so its plaintext is checked to be gzip, tar or text. " + KEY_HELP +
                    " Exit 0 done, 1 wrong key / truncated / corrupt (no output left), 2 usage/config error.",
    )
    decrypt.add_argument("file", type=Path, metavar="FILE")
    decrypt.add_argument("-o", "--output", type=Path, metavar="OUT",
                         help="output file (must not exist); - writes to stdout (the summary then goes to stderr)")
    decrypt.add_argument("--expect", choices=("auto", "gzip", "tar", "text", "any"), default="auto",
                         help="what a legacy file's plaintext must be (default: from the name, else gzip/tar/text); "
                              "'any' checks the padding only")
    decrypt.set_defaults(handler=lambda args, settings, printer: run_crypto(
        CryptoOptions("decrypt", args.file, args.output, args.expect, args.json), settings, printer))


def cli_passphrase(settings: Settings, confirm: bool = False) -> str:
    """The configured passphrase, or one typed at a terminal prompt (never echoed, never logged)."""
    from console.crypto import passphrase_from_settings

    passphrase = passphrase_from_settings(settings)
    if passphrase is not None:
        return passphrase
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise ConfigError("no encryption key configured",
                          hint="set BACKUP_ENCRYPTION_KEY or encryption.key_file, or run on a terminal to be prompted")

    typed = getpass.getpass("Encryption key: ")
    if not typed:
        raise UsageError("empty encryption key")
    if confirm and getpass.getpass("Repeat the key: ") != typed:
        raise UsageError("the two keys differ")
    return typed


def default_output(action: str, source: Path) -> Path:
    if action == "encrypt":
        return source.with_name(source.name + ".enc")
    if source.name.endswith(".enc") and len(source.name) > 4:
        return source.with_name(source.name[:-4])
    return source.with_name(source.name + ".dec")


def _decrypt_to_stdout(options: CryptoOptions, settings: Settings, printer: Printer, source: Path) -> int:
    """``decrypt -o -``: the plaintext on stdout, as usual for a filter; the summary on stderr."""
    from console import crypto

    if crypto.detect_format(source) is None:
        raise UsageError(f"{source} is not an encrypted file (neither backup-console's format nor openssl's "
                         "'Salted__' header)")
    passphrase = cli_passphrase(settings)
    expect = crypto.expected_content(source.name) if options.expect == "auto" else options.expect
    sink = getattr(printer.out, "buffer", printer.out)
    with open(source, "rb") as handle:
        result = crypto.decrypt_stream(handle, sink, passphrase, where=str(source), expect=expect)
    sink.flush()
    summary = {"action": "decrypt", "input": str(source), "output": "-", "format": result.format,
               "scheme": result.scheme, "content": result.content, "bytes_out": result.bytes_out}
    if options.json:
        printer.err.write(json.dumps(summary) + "\n")
    else:
        printer.info(f"decrypted {source} -> stdout ({size(result.bytes_out)}; {result.scheme})")
    return ExitCode.OK


def run_crypto(options: CryptoOptions, settings: Settings, printer: Printer) -> int:
    from console import crypto

    source = options.input
    if not source.is_file():
        raise UsageError(f"{source} does not exist or is not a file")
    if options.action == "decrypt" and options.output is not None and str(options.output) == "-":
        return _decrypt_to_stdout(options, settings, printer, source)
    output = options.output or default_output(options.action, source)
    if output.exists():
        raise UsageError(f"{output} already exists; refusing to overwrite it", hint="choose another path with -o")
    if output.absolute() == source.absolute():
        raise UsageError("the output must differ from the input")
    if options.action == "decrypt" and crypto.detect_format(source) is None:
        raise UsageError(f"{source} is not an encrypted file (neither backup-console's format nor openssl's "
                         "'Salted__' header)")
    passphrase = cli_passphrase(settings, confirm=options.action == "encrypt")
    # A live bar on a terminal only: in scripts a failure must be exactly one line on stderr.
    progress = printer.progress() if printer.err.isatty() else None
    if options.action == "encrypt":
        count = crypto.encrypt_file(source, output, passphrase, on_progress=progress)
        document = {"action": "encrypt", "input": str(source), "output": str(output), "format": crypto.FORMAT_NAME,
                    "bytes_in": count, "bytes_out": output.stat().st_size}
        message = f"encrypted {source} -> {output} ({size(count)})"
    else:
        expect = options.expect
        if expect == "auto":
            expect = crypto.expected_content(source.name)
        result = crypto.decrypt_file(source, output, passphrase, expect=expect, on_progress=progress)
        document = {"action": "decrypt", "input": str(source), "output": str(output), "format": result.format,
                    "scheme": result.scheme, "content": result.content, "bytes_out": result.bytes_out}
        checked = "authenticated" if result.format == "backup-console" else f"legacy, content checked as {result.content}"
        message = f"decrypted {source} -> {output} ({size(result.bytes_out)}; {result.scheme}; {checked})"
    if options.json:
        printer.data(document)
    else:
        printer.line(message)
    return ExitCode.OK
