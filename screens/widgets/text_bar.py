"""TextBar: a progress bar whose done and remaining parts differ in shape, not only in colour.

Textual's ProgressBar draws both parts with the same ``━`` in two shades, which reads as one
line without colour (NO_COLOR, a monochrome terminal). Here done is ``█`` and remaining ``░``;
an unknown total shows a moving block, a stopped bar stays where it stopped.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

DONE, REST = "█", "░"


class TextBar(Widget):
    DEFAULT_CSS = """
    TextBar { height: 1; width: 1fr; }
    TextBar > .text-bar--done { color: $success; }
    TextBar > .text-bar--rest { color: $panel-lighten-2; }
    TextBar.-stopped > .text-bar--done { color: $error; }
    """
    COMPONENT_CLASSES = {"text-bar--done", "text-bar--rest"}

    total: reactive[float | None] = reactive(None)
    progress: reactive[float] = reactive(0.0)
    _tick: reactive[int] = reactive(0)

    def update(self, *, total: float | None = None, progress: float | None = None) -> None:
        """Like ProgressBar.update: ``total=None`` keeps (or sets, when given as keyword) an unknown total."""
        self.total = total
        if progress is not None:
            self.progress = progress
        if total is None:
            self._tick += 1

    @property
    def percentage(self) -> float | None:
        """Done as a fraction 0..1, None while the total is unknown."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.progress / self.total))

    def render(self) -> Text:
        width = max(1, self.size.width)
        done_style = self.get_component_rich_style("text-bar--done")
        rest_style = self.get_component_rich_style("text-bar--rest")
        fraction = self.percentage
        if fraction is None:  # unknown total: a short block moving along the rest
            start = self._tick % width
            block = min(3, width)
            cells = [DONE if start <= index < start + block else REST for index in range(width)]
            text = Text()
            for cell in cells:
                text.append(cell, done_style if cell == DONE else rest_style)
            return text
        done = round(width * fraction)
        return Text.assemble((DONE * done, done_style), (REST * (width - done), rest_style))
