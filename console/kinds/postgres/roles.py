"""The roles of a custom-format dump on restore: its owners (from the table of contents), the
``--role-map OLD=NEW`` parser, and the ownership and privilege statements replayed under a map.

pg_restore cannot rename roles. Under a map the data is restored with ``--no-owner
--no-privileges``, then pg_restore's own ``ALTER ... OWNER TO`` and GRANT/REVOKE statements
(printed from the same table of contents) are run with each mapped role replaced, so every
object type pg_restore knows keeps an owner and its privileges.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from console.errors import UsageError
from console.kinds.postgres.client import pg_restore_text

if TYPE_CHECKING:
    import psycopg

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
# where pg_restore prints a role in a privilege statement: grantee, grantor, default-privileges role
_ROLE_SLOTS = (
    re.compile(rf"( OWNER TO )({_IDENT})(;)$"),
    re.compile(rf"(?<! OWNER)( TO )({_IDENT})((?: WITH GRANT OPTION)?;)$"),
    re.compile(rf"( FROM )({_IDENT})(;)$"),
    re.compile(rf"^(SET SESSION AUTHORIZATION )({_IDENT})(;)$"),
    re.compile(rf"^(ALTER DEFAULT PRIVILEGES FOR ROLE )({_IDENT})( )"),
)
_OWNER_STATEMENT = re.compile(rf"^ALTER .* OWNER TO {_IDENT};$")
# what an ACL entry prints; psql meta-commands (\restrict) and comments after the last entry are not kept
_PRIVILEGE_STATEMENT = re.compile(r"^(GRANT|REVOKE|SET SESSION AUTHORIZATION|RESET SESSION AUTHORIZATION"
                                  r"|ALTER DEFAULT PRIVILEGES) .*;$|^RESET SESSION AUTHORIZATION;$")
_PRIVILEGE_TYPES = ("ACL", "DEFAULT ACL")
# entries that carry rows, not definitions: left out of the statements pass (it then never reads the data)
_DATA_TYPES = ("TABLE DATA", "BLOBS", "LARGE OBJECTS", "SEQUENCE SET", "MATERIALIZED VIEW DATA")


def parse_role_map(pairs: list[str] | tuple[str, ...] | None) -> tuple[tuple[str, str], ...]:
    """``["old=new", ...]`` as pairs; a role mapped twice or a pair without both names is a usage error."""
    mapped: dict[str, str] = {}
    for pair in pairs or ():
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise UsageError(f"--role-map {pair!r}: expected OLD=NEW (the dump's role = a role on the target server)")
        old, new = old.strip(), new.strip()
        if old in mapped and mapped[old] != new:
            raise UsageError(f"--role-map maps '{old}' twice ({mapped[old]}, {new})")
        mapped[old] = new
    return tuple(mapped.items())


def read_toc(pg_restore: str, dump: Path) -> list[str]:
    """The dump's table of contents (``pg_restore --list``) as lines.

    Reading it also proves the file is a custom-format dump before any database is touched.

    Raises:
        VerifyFailed: the file is not a (readable) custom-format dump, or its compression is damaged.
    """
    return pg_restore_text([pg_restore, "--list"], dump)


def owners_of(toc: list[str]) -> set[str]:
    """The roles owning objects in a table of contents."""
    return {owner for _, owner in _entries(toc) if owner}


def dump_owners(pg_restore: str, dump: Path) -> set[str]:
    """The roles owning objects in ``dump`` (see :func:`read_toc` for what it raises)."""
    return owners_of(read_toc(pg_restore, dump))


@dataclass(frozen=True)
class OwnershipPlan:
    """The statements giving the restored objects their (mapped) owners and privileges, in dump order."""

    statements: tuple[str, ...]
    roles: frozenset[str]
    """Every role the statements name (after mapping): each must exist on the target."""
    dump_roles: frozenset[str]
    """Every role the dump names (before mapping)."""

    def apply(self, conn: psycopg.Connection) -> None:
        """Run the statements in one transaction of ``conn`` (a connection to the restored database)."""
        with conn.transaction():
            for statement in self.statements:
                conn.execute(statement.encode())
            conn.execute(b"RESET SESSION AUTHORIZATION")


def ownership_plan(pg_restore: str, dump: Path, toc: list[str], role_map: tuple[tuple[str, str], ...]) -> OwnershipPlan:
    """Print the dump's definitions once (no data) and keep its owner and privilege statements, mapped.

    Raises:
        VerifyFailed: pg_restore could not print the definitions.
    """
    mapping = dict(role_map)
    wanted = [line for line, _ in _entries(toc, keep_data=False)]
    with tempfile.NamedTemporaryFile("w", prefix="bc-toc-", suffix=".list") as use_list:
        use_list.write("\n".join(wanted) + "\n")
        use_list.flush()
        script = pg_restore_text([pg_restore, f"--use-list={use_list.name}", "--file=-"], dump)
    statements: list[str] = []
    named: set[str] = set()
    dump_roles: set[str] = set()
    for entry_type, body in _script_entries(script):
        lines = [line for line in body if line.strip()]
        if entry_type in _PRIVILEGE_TYPES:
            kept = [line for line in lines if _PRIVILEGE_STATEMENT.match(line)]
        else:
            # pg_restore ends an owned object's definition with its owner statement (SETs may follow)
            kept = [line for line in lines if _OWNER_STATEMENT.match(line)][-1:]
        for line in kept:
            mapped, before, after = _map_roles(line, mapping)
            statements.append(mapped)
            dump_roles.update(before)
            named.update(after)
    return OwnershipPlan(tuple(statements), frozenset(named), frozenset(dump_roles))


def _map_roles(line: str, mapping: dict[str, str]) -> tuple[str, set[str], set[str]]:
    before: set[str] = set()
    after: set[str] = set()
    for slot in _ROLE_SLOTS:
        found = slot.search(line)
        if not found:
            continue
        role = _unquote(found.group(2))
        if role.upper() == "PUBLIC" and not found.group(2).startswith('"'):
            continue
        before.add(role)
        new = mapping.get(role, role)
        after.add(new)
        if new != role:
            line = line[:found.start(2)] + _quote(new) + line[found.end(2):]
    return line, before, after


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def _quote(role: str) -> str:
    return '"' + role.replace('"', '""') + '"'


def _entries(toc: list[str], keep_data: bool = True) -> Iterator[tuple[str, str]]:
    """(line, owner) per entry of a ``--list`` output."""
    for line in toc:
        if not line or line.startswith(";") or not line.split(" ", 1)[0].endswith(";"):
            continue
        if not keep_data and any(f" {kind} " in line for kind in _DATA_TYPES):
            continue
        # "<id>; <tableoid> <oid> <TYPE...> <schema> <name> <owner>": the owner is the last field, and
        # empty (the line ends in a space) for entries without one (BLOBS, ENCODING, ...)
        owner = line.rsplit(" ", 1)[-1]
        yield line, owner if owner and len(line.split()) >= 6 else ""


def _script_entries(script: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(type, body lines) per entry of a pg_restore SQL script, split at its ``-- Name: ...; Type: ...`` headers."""
    entry_type: str | None = None
    body: list[str] = []
    for line in script:
        if line.startswith("-- Name: ") and "; Type: " in line:
            if entry_type is not None:
                yield entry_type, body
            entry_type = line.split("; Type: ", 1)[1].rsplit("; Schema: ", 1)[0]
            body = []
        elif entry_type is not None and not line.startswith("--"):
            body.append(line)
    if entry_type is not None:
        yield entry_type, body
