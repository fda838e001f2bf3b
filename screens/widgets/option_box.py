"""OptionBox: a checkbox whose state shows by shape: ``[X]`` when on, ``[ ]`` when off.

Textual's Checkbox draws an ``X`` either way and tells on from off by colour alone, so without
colour (NO_COLOR) every option looks chosen.
"""

from __future__ import annotations

from textual.widgets import Checkbox


class OptionBox(Checkbox):
    BUTTON_LEFT = "["
    BUTTON_RIGHT = "]"

    def on_mount(self) -> None:
        self._show_state(self.value)

    def watch_value(self) -> None:
        self._show_state(self.value)
        super().watch_value()  # posts Checkbox.Changed

    def _show_state(self, value: bool) -> None:
        self.BUTTON_INNER = "X" if value else " "
        self.refresh()
