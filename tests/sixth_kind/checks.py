from pathlib import Path

from console.preflight import Check, CheckContext
from console.status import Status


def source_readable(context: CheckContext) -> tuple[Status, str]:
    source = Path(context.target or "")
    if source.is_file():
        return Status.OK, f"{source} is readable"
    return Status.FAIL, f"{source} is not a file"


CHECKS = {"source_readable": Check("notes.source_readable", "The notes file is readable", source_readable)}
