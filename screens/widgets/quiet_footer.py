"""QuietFooter: Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer recomposes (unmounts and mounts every key) whenever the screen's bindings are
re-evaluated, and that happens on every focus move. On the dashboard an arrow key moves the focus,
so each press paid for a dozen widgets mounted, styled and laid out: most of its cost
(bench/README.md, "Key latency"). The keys shown are the same before and after such a move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen


def shown_bindings(screen: Screen) -> tuple[object, ...]:
    """What the footer would show: each visible binding's key, action, words, state and group."""
    return tuple((binding.key, binding.key_display, binding.action, binding.description, enabled, tooltip,
                  binding.group)
                 for (_node, binding, enabled, tooltip) in screen.active_bindings.values() if binding.show)


class QuietFooter(Footer):
    _shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen) -> None:
        current = screen.app.app_focus and self.is_attached and screen is self.screen
        shown = shown_bindings(screen) if current else None
        if current and shown == self._shown:
            self._bindings_ready = True
            return
        if current:
            self._shown = shown
        super().bindings_changed(screen)
