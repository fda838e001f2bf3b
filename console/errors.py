"""The two kinds of error: ConsoleError (expected, one line + hint) and everything else (a bug).

Exit codes are mapped here and nowhere else, so the CLI, cron and the docs agree.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of every sub-command (documented in README)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    PARTIAL = 3
    LOCKED = 11
    INTERRUPTED = 130


class ConsoleError(Exception):
    """An expected failure: carries a one-line message and an optional hint."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(ConsoleError):
    """The command line asks for something impossible (missing argument, bad combination)."""

    exit_code = ExitCode.USAGE


class ConfigError(ConsoleError):
    """The configuration file or environment is wrong; the message names file:line and key."""

    exit_code = ExitCode.USAGE


class ReadOnlyRefused(ConsoleError):
    """A destructive action was asked for while the console runs in read-only mode."""

    exit_code = ExitCode.USAGE

    def __init__(self, action: str) -> None:
        super().__init__(
            f"refused: {action} is not allowed in read-only mode",
            hint="drop --read-only (or set read_only: false) to allow it",
        )


class ConfirmationRequired(ConsoleError):
    """A destructive action needs an explicit --yes after its preview."""

    exit_code = ExitCode.USAGE


class ServiceUnreachable(ConsoleError):
    """A service did not answer, refused the connection or rejected the credentials."""


class LockHeld(ConsoleError):
    """Another run of the same backup holds its lock."""

    exit_code = ExitCode.LOCKED


class BackupFailed(ConsoleError):
    """A backup did not complete; its partial files were removed."""


class NotConfigured(ConfigError):
    """A setting an action needs is empty: the message names the setting and its environment variable."""


class PreflightFailed(ConsoleError):
    """A required pre-flight check failed and no --force --reason was given."""


class VerifyFailed(ConsoleError):
    """A verification found a damaged, missing or inconsistent backup."""


class RestoreFailed(ConsoleError):
    """A restore did not complete (the target was left as it was where the kind can promise it)."""


class CryptoError(ConsoleError):
    """Decryption failed: wrong key, truncated or corrupt file."""


class Cancelled(ConsoleError):
    """The operator cancelled a running action."""

    exit_code = ExitCode.INTERRUPTED


def exit_code_for(error: BaseException) -> ExitCode:
    """Return the process exit code for an error raised by a command."""
    if isinstance(error, ConsoleError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.FAILED


def describe_unexpected(error: BaseException) -> str:
    """One line for an error that is not a ConsoleError, naming what failed and where.

    A file-system error names its path (``No space left on device: /backups/x.partial``);
    anything else its type and message, cut to one line.
    """
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        also = f" -> {error.filename2}" if error.filename2 else ""
        return f"{error.strerror}{where}{also}"
    text = " ".join(str(error).split())
    text = text[:300] + "..." if len(text) > 300 else text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def as_console_error(error: Exception, what: str) -> ConsoleError:
    """``error`` itself when it is a ConsoleError, else a RestoreFailed naming ``what`` failed and why."""
    if isinstance(error, ConsoleError):
        return error
    return RestoreFailed(f"{what} failed: {describe_unexpected(error)}",
                         hint="run again with --debug for the traceback")


def one_line(error: BaseException) -> str:
    """How an error reads on a screen: a ConsoleError's own message, anything else named by its type."""
    if isinstance(error, ConsoleError):
        return error.message
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
