from pathlib import Path

from console.preflight import Check, CheckContext, CheckStatus


def source_readable(context: CheckContext) -> tuple[CheckStatus, str]:
    source = Path(context.target or "")
    if source.is_file():
        return CheckStatus.PASS, f"{source} is readable"
    return CheckStatus.FAIL, f"{source} is not a file"


CHECKS = {"source_readable": Check("notes.source_readable", "The notes file is readable", source_readable)}
