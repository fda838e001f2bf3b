"""TitleLine: the top line of every screen, "backup-console — <the screen's sub-title>", as one widget.

What Textual's Header shows with no icon and no clock, and where it shows it (centred in the space
the Header leaves between its icon and clock columns), but as one Static instead of a container of
four widgets with their own stylesheets: the console's first frame pays for each widget and stylesheet
it draws (bench/README.md, "Start-up").
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


class TitleLine(Static):
    DEFAULT_CSS = """
    TitleLine {
        dock: top;
        width: 100%;
        height: 1;
        padding: 0 10 0 8;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        content-align: center middle;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", markup=False, **kwargs)

    def on_mount(self) -> None:
        self.watch(self.app, "title", self._show_title)
        self.watch(self.app, "sub_title", self._show_title)
        self.watch(self.screen, "title", self._show_title)
        self.watch(self.screen, "sub_title", self._show_title)

    def _show_title(self) -> None:
        screen = self.screen
        title = screen.title if screen.title is not None else self.app.title
        sub_title = screen.sub_title if screen.sub_title is not None else self.app.sub_title
        self.update(self.app.format_title(title, sub_title))
