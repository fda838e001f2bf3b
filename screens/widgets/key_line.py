"""KeyLine: the bottom line of every screen, its keys and what they do, drawn as one widget.

It shows what Textual's compact Footer shows, in the same cells ("b Backup c Checks v Reports ...";
a disabled key dimmed; ctrl+p, the palette, is listed in help, not here), but the
Footer is a container of one widget per key that it unmounts and mounts again whenever the screen's
bindings are re-evaluated, which is on every focus move: each arrow key on the dashboard paid for a
dozen widgets mounted, styled and laid out, and the first frame for their stylesheets (bench/README.md,
"Key latency" and "Start-up"). Here the keys are text, drawn again only when what is shown changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from rich.text import Text
from textual.widget import Widget

if TYPE_CHECKING:
    from textual import events
    from textual.screen import Screen


class ShownKey(NamedTuple):
    key: str
    """The key as bound (what a click on it presses)."""
    display: str
    """The key as shown ("b", "^p", "/")."""
    description: str
    enabled: bool


def shown_keys(screen: Screen) -> tuple[ShownKey, ...]:
    """Each binding of the screen that is shown, once per action (the first of its keys), in order."""
    seen: set[str] = set()
    keys: list[ShownKey] = []
    for _node, binding, enabled, _tooltip in screen.active_bindings.values():
        if not binding.show or binding.action in seen:
            continue
        seen.add(binding.action)
        keys.append(ShownKey(binding.key, screen.app.get_key_display(binding), binding.description, enabled))
    return tuple(keys)


class KeyLine(Widget, can_focus=False):
    COMPONENT_CLASSES = {"key-line--key", "key-line--description"}
    DEFAULT_CSS = """
    KeyLine {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        text-wrap: nowrap;
        .key-line--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .key-line--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._keys: tuple[ShownKey, ...] = ()
        self._spans: list[tuple[int, int, ShownKey]] = []
        """(first column, end column, key) of each key as drawn: what a click presses."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        keys = shown_keys(screen)
        if keys != self._keys:
            self._keys = keys
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-line--key")
        description_style = self.get_component_rich_style("key-line--description")
        line = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []
        for shown in self._keys:
            start = line.cell_len
            item = Text.assemble((shown.display, key_style), (f" {shown.description}", description_style))
            if not shown.enabled:
                item.stylize("dim")
            line.append_text(item)
            self._spans.append((start, line.cell_len, shown))
            line.append(" ")
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, shown in self._spans:
            if start <= event.x < end:
                if shown.enabled:
                    self.app.simulate_key(shown.key)
                else:
                    self.app.bell()
                return
