"""ScopeBar: the dashboard's top line: the `/` filter field while it is typed and, in words, what the
filter and context show ("context env=prod · filter "ana" · 2 of 24 shown · esc clears")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Static

from screens.instance_scope import Scope

if TYPE_CHECKING:
    from textual.app import ComposeResult


class ScopeChanged(Message):
    """The filter text or the context changed, or the filter field opened or closed."""


class ScopeBar(Horizontal):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(id="dashboard-scope-bar", **kwargs)
        self.scope = Scope()
        self._field: Input | None = None
        """The filter field, mounted the first time `/` opens it: composed hidden, it made the first frame
        parse an Input's stylesheet and mount and style one that most sessions never show."""

    def compose(self) -> ComposeResult:
        yield Static("", id="dashboard-scope", markup=False)

    @property
    def editing(self) -> bool:
        return self._field is not None and self._field.display

    def _mounted_field(self) -> Input:
        if self._field is None:
            self._field = Input(placeholder="name, kind or tag=value", compact=True, id="dashboard-filter")
            self.mount(self._field, before=0)
        return self._field

    @property
    def in_use(self) -> bool:
        """Something to clear: a filter, a context, or the field open."""
        return self.scope.active or self.editing

    def show_counts(self, shown: int, total: int) -> None:
        words = self.query_one("#dashboard-scope", Static)
        words.display = self.in_use
        words.update(self.scope.words(shown, total, self.editing))

    def open_filter(self) -> None:
        field = self._mounted_field()
        field.display = True
        field.value = self.scope.text
        field.focus()
        self.post_message(ScopeChanged())

    def set_context(self, selector: str) -> None:
        self.scope = Scope(self.scope.text, selector)
        self.post_message(ScopeChanged())

    def clear(self) -> None:
        self.scope = Scope()
        if self._field is not None:
            with self._field.prevent(Input.Changed):
                self._field.value = ""
        self._close()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.display:
            self.scope = Scope(event.value, self.scope.context)
            self.post_message(ScopeChanged())

    @on(Input.Submitted)
    def _kept(self, event: Input.Submitted) -> None:
        event.stop()
        self._close()

    def _close(self) -> None:
        if self._field is not None:
            self._field.display = False
        self.post_message(ScopeChanged())
