"""YAML files that operators write (config, checklists, the retention policy, themes), read with
their line numbers.

pyyaml's ``safe_load`` forgets where a value came from, so an error could only name the file.
Every file an operator edits is read here instead, as nodes that remember their line: a mistake
is one line naming ``file:line``, what is wrong and, for a misspelt key, the nearest valid one.
The rules are the same for every file: keys are plain names, given once, from a known set.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from console.errors import ConfigError

_NULLS = ("", "~", "null", "Null", "NULL")
_MAX_LISTED_KEYS = 12
"""An unknown key lists the valid ones when there are few enough to read on one line."""


@contextmanager
def read_yaml(path: Path, what: str) -> Iterator[YamlNode | None]:
    """The file's root node (None when the file is empty); any YAML error, also one raised while the
    caller walks the nodes, becomes a ConfigError naming ``file:line``.

    ``what`` names the file in a read error: ``cannot read <what> <path>: <reason>``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read {what} {path}: {reason}") from None
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # reads the first characters already: a control character fails here
        root = loader.get_single_node()
        yield None if root is None else YamlNode(path, loader, root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.reason} (character #x{exc.character:04x})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    finally:
        if loader is not None:
            loader.dispose()


@dataclass(frozen=True)
class YamlNode:
    """One node of a file being read: its value on demand, and where it is."""

    path: Path
    loader: yaml.SafeLoader
    node: yaml.Node

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def is_null(self) -> bool:
        """``key:`` with nothing after it (or ``~`` / ``null``)."""
        return isinstance(self.node, yaml.ScalarNode) and self.node.value in _NULLS \
            and self.node.tag == "tag:yaml.org,2002:null"

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.node, yaml.SequenceNode)

    def value(self) -> Any:
        """The plain Python value (dicts, lists, scalars), as ``safe_load`` would give it."""
        return self.loader.construct_object(self.node, deep=True)

    def items(self) -> list[YamlNode]:
        """The entries of a sequence node."""
        return [YamlNode(self.path, self.loader, item) for item in self.node.value]

    def fields(self, allowed: Sequence[str] | None = None, what: str | None = None) -> Fields:
        """The keys of a mapping node, in file order; a key outside ``allowed``, given twice or
        not a plain name is an error naming its line and ``what`` (``section 'postgres'``)."""
        return Fields(self, allowed, what)

    def __str__(self) -> str:
        return self.where


class Fields:
    """The checked keys of one mapping node, each with its own node (and so its own line)."""

    def __init__(self, mapping: YamlNode, allowed: Sequence[str] | None, what: str | None) -> None:
        self.mapping = mapping
        self.what = what
        self.keys: dict[str, YamlNode] = {}
        self.values: dict[str, YamlNode] = {}
        in_what = f" in {what}" if what else ""
        for key_node, value_node in mapping.node.value:
            key = YamlNode(mapping.path, mapping.loader, key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise ConfigError(f"{key.where}: a key{in_what} must be a plain name, not a {kind}")
            name = str(key.value())
            if allowed is not None and name not in allowed:
                raise ConfigError(unknown_key(key.where, name, allowed, what))
            if name in self.keys:
                raise ConfigError(f"{key.where}: '{name}'{in_what} is given twice (first at line "
                                  f"{self.keys[name].line}); keep one of them")
            self.keys[name] = key
            self.values[name] = YamlNode(mapping.path, mapping.loader, value_node)

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def node(self, key: str) -> YamlNode:
        return self.values[key]

    def value(self, key: str, default: Any = None) -> Any:
        return self.values[key].value() if key in self.values else default

    def line(self, key: str) -> int:
        """The key's line, or the mapping's own line when the key is missing (where it belongs)."""
        return (self.keys[key] if key in self.keys else self.mapping).line

    def where(self, key: str) -> str:
        return f"{self.mapping.path}:{self.line(key)}"

    def text(self, key: str, default: Any, nullable: bool = False) -> Any:
        """A text value, stripped; numbers are read as their text (``version: 15``)."""
        if key not in self.values:
            return default
        value = self.value(key)
        if value is None and nullable:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            got = "nothing" if value is None else type(value).__name__
            raise ConfigError(f"{self.where(key)}: '{key}' must be text, got {got}")
        return value.strip()


def unknown_key(where: str, name: str, valid: Sequence[str], what: str | None = None) -> str:
    """``file:line: unknown key 'x' in <what>. Did you mean 'y'?`` (or the valid keys, when few)."""
    message = f"{where}: unknown key '{name}'{f' in {what}' if what else ''}."
    close = difflib.get_close_matches(name, list(valid), n=1)
    if close:
        return f"{message} Did you mean '{close[0]}'?"
    if len(valid) <= _MAX_LISTED_KEYS:
        return f"{message} Valid keys: {', '.join(valid)}."
    return message
