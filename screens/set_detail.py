"""SetDetailScreen: one backup set as it is now: files, sizes, SHA-256, metadata and S3 keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from console.catalog import read_metadata, scan
from console.formatting import size
from screens import keys
from screens.widgets.key_line import KeyLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.verify.model import SetVerification

MAX_METADATA_LINES = 400


@dataclass(frozen=True)
class SetDetail:
    files: list[dict[str, Any]]
    metadata_text: str
    s3_keys: list[str]
    s3_bucket: str | None


class SetDetailLoaded(Message):
    def __init__(self, detail: SetDetail) -> None:
        super().__init__()
        self.detail = detail


def load_detail(settings: Any, verified: SetVerification) -> SetDetail:
    """Read the set's files and metadata from disk (worker thread)."""
    backup_set = scan(settings.backup_dir, [verified.kind]).find(verified.set_id)
    recorded = {str(item.get("name")): item for item in verified.files}
    files: list[dict[str, Any]] = []
    document: dict[str, Any] | None = None
    error: str | None = "the set is no longer on disk"
    if backup_set is not None:
        read = read_metadata(backup_set)
        document, error = read.document, read.error
        artifacts = {str(entry.get("name")): entry for entry in (document or {}).get("artifacts") or []
                     if isinstance(entry, dict)}
        for item in backup_set.files:
            name = item.path.name
            sha = artifacts.get(name, {}).get("sha256") or recorded.get(name, {}).get("sha256")
            files.append({"name": name, "role": item.role, "size_bytes": item.size_bytes, "sha256": sha})
    else:
        files = [dict(item) for item in verified.files]
    if document is not None:
        shown = {key: value for key, value in document.items() if key != "verification"}
        lines = json.dumps(shown, indent=2, default=str).splitlines()
        if len(lines) > MAX_METADATA_LINES:
            lines = lines[:MAX_METADATA_LINES] + [f"... {len(lines) - MAX_METADATA_LINES} more lines"]
        text = "\n".join(lines)
    else:
        # The manual's certificate inventory is a bare JSON array, not metadata of ours: the kind's verifier
        # reads it, so say what verify made of it rather than the catalog's complaint about its shape.
        judged = next((check for check in verified.checks if check.check == "metadata"), None)
        legacy = backup_set is not None and judged is not None and _is_json_array(backup_set.metadata_path)
        text = f"metadata: {judged.message}" if legacy and judged is not None else f"metadata: {error}"
    s3 = (document or {}).get("s3") if isinstance((document or {}).get("s3"), dict) else verified.s3
    keys = [str(key) for key in (s3 or {}).get("keys") or []]
    return SetDetail(files, text, keys, (s3 or {}).get("bucket"))


def _is_json_array(path: Path | None) -> bool:
    """Whether ``path`` holds a JSON array (the manual's inventory), read afresh."""
    try:
        return path is not None and isinstance(json.loads(path.read_bytes()), list)
    except (OSError, ValueError):
        return False


class SetDetailScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "reports.tcss"

    HELP = """\
## Backup set
The set's files with their sizes and SHA-256 (as recorded in its metadata), its S3 keys when it
was uploaded, and its metadata document.
"""

    BINDINGS = [keys.bind("back", "app.pop_screen", id="back")]

    def __init__(self, verified: SetVerification) -> None:
        super().__init__()
        self.verified = verified

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield DataTable(id="set-files", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="set-detail-scroll"):
            yield Static("", id="set-s3", markup=False)
            yield Static("loading...", id="set-metadata", markup=False)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = f"{self.verified.set_id} ({self.verified.status.upper()})"
        table = self.query_one("#set-files", DataTable)
        for label in ("file", "role", "size", "sha256"):
            table.add_column(label, key=label)
        table.focus()
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="set-detail")
    def _load(self) -> None:
        self.post_message(SetDetailLoaded(load_detail(self.app.settings, self.verified)))  # type: ignore[attr-defined]

    @on(SetDetailLoaded)
    def _show(self, message: SetDetailLoaded) -> None:
        detail = message.detail
        table = self.query_one("#set-files", DataTable)
        with self.app.batch_update():
            table.clear()
            for item in detail.files:
                sha = item.get("sha256")
                table.add_row(str(item.get("name")), str(item.get("role", "-")), size(item.get("size_bytes")),
                              f"{sha[:16]}..." if sha else "-", key=str(item.get("name")))
        s3 = self.query_one("#set-s3", Static)
        if detail.s3_keys:
            s3.update(f"S3 (s3://{detail.s3_bucket}/):\n" + "\n".join(f"  {key}" for key in detail.s3_keys))
        else:
            s3.update("S3: not uploaded")
        self.query_one("#set-metadata", Static).update(detail.metadata_text)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.query_one("#set-metadata", Static).update(f"ERROR: {event.worker.error}")
