"""Every key a screen's help text names is a key of that screen: help that says `w` where the
binding is `m` sends an operator to a key that does nothing."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from textual.binding import Binding
from textual.screen import Screen

import screens
from screens.app import BackupConsoleApp

KEY_NAMES = {"enter", "escape", "esc", "tab", "space", "up", "down", "left", "right", "home", "end", "pageup",
             "pagedown", "delete", "backspace", "f1", "?", "/", ":"}
ALIASES = {"?": "question_mark", "/": "slash", ":": "colon", "esc": "escape", "↑": "up", "↓": "down"}


NOT_KEYS = {"PitrScreen": {"Z"}}
"""Backticked text that is not a key: the PITR help's `Z` is the UTC suffix of a typed time."""


def _screen_classes() -> list[type[Screen]]:
    found = {}
    for info in pkgutil.walk_packages(screens.__path__, "screens."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Screen) and cls.__module__ == info.name and getattr(cls, "HELP", None):
                found[cls.__qualname__] = cls
    return sorted(found.values(), key=lambda cls: cls.__qualname__)


def _bound_keys(cls: type) -> set[str]:
    keys: set[str] = set()
    for klass in [*cls.__mro__, BackupConsoleApp]:
        for binding in getattr(klass, "BINDINGS", []) or []:
            text = binding.key if isinstance(binding, Binding) else binding[0]
            keys.update(part.strip() for part in text.split(","))
    return keys


def named_keys(help_text: str) -> set[str]:
    """The keys a help text names: single characters and key names in backticks (`m`, `enter`, `ctrl+r`)."""
    found = set()
    for token in re.findall(r"`([^`\s]{1,12})`", help_text):
        if len(token) == 1 or token in KEY_NAMES or token.startswith(("ctrl+", "shift+")):
            found.add(ALIASES.get(token, token))
    return found


def test_named_keys_reads_the_keys_of_a_help_text() -> None:
    assert named_keys("`r` probes again; `m` opens PITR; `esc` goes back; `ctrl+r` restores; `BACKUP_DIR`") == {
        "r", "m", "escape", "ctrl+r"}


@pytest.mark.parametrize("cls", _screen_classes(), ids=lambda cls: cls.__qualname__)
def test_every_key_a_help_text_names_is_bound_on_its_screen(cls: type[Screen]) -> None:
    everywhere = {"up", "down", "left", "right", "tab", "enter", "escape", "space", "home", "end", "pageup", "pagedown"}
    unbound = named_keys(cls.HELP) - _bound_keys(cls) - everywhere - NOT_KEYS.get(cls.__qualname__, set())
    assert not unbound, f"{cls.__qualname__}'s help names keys it does not bind: {sorted(unbound)}"
