from console.catalog import BackupFile
from console.verify.checks import check_stream
from console.verify.model import SetContext


def check_file(ctx: SetContext, item: BackupFile) -> None:
    check_stream(ctx, item)
