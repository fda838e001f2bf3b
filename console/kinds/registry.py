"""The one list of kinds. Adding a kind is one package and one line here (docs/adding-a-kind.md)."""

from __future__ import annotations

import difflib

from console import preflight
from console.errors import UsageError
from console.kinds.base import Kind
from console.kinds.certs.kind import KIND as CERTS
from console.kinds.config.kind import KIND as CONFIG
from console.kinds.postgres.kind import KIND as POSTGRES
from console.kinds.rabbitmq.kind import KIND as RABBITMQ
from console.kinds.redis.kind import KIND as REDIS
from console.preflight import COMMON_CHECKS, Check, CheckContext, CheckResult

KINDS: dict[str, Kind] = {kind.name: kind for kind in (POSTGRES, REDIS, RABBITMQ, CONFIG, CERTS)}
"""In the order the faces list them."""


def get(name: str) -> Kind:
    """The kind called ``name``; UsageError naming the choices (and the nearest) otherwise."""
    kind = KINDS.get(name)
    if kind is None:
        close = difflib.get_close_matches(name, list(KINDS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(f"unknown backup kind '{name}'{hint}: choose from {', '.join(KINDS)}")
    return kind


def check_providers() -> dict[str, dict[str, Check]]:
    """Check-id prefix -> its checks: one per kind, plus ``common``."""
    providers = {kind.name: dict(kind.checks) for kind in KINDS.values()}
    for kind in KINDS.values():
        providers.update({prefix: dict(checks) for prefix, checks in kind.extra_checks.items()})
    return {**providers, "common": dict(COMMON_CHECKS)}


def get_check(check_id: str) -> Check:
    """Look a check up by id (``postgres.healthy``); KeyError when no kind defines it."""
    provider, _, name = check_id.partition(".")
    checks = check_providers().get(provider)
    if checks is None or name not in checks:
        raise KeyError(check_id)
    return checks[name]


def known_check_ids() -> list[str]:
    return [f"{provider}.{name}" for provider, checks in check_providers().items() for name in checks]


def run_checks(check_ids: list[str], context: CheckContext) -> list[CheckResult]:
    """Run checks by id, concurrently; results in the given order."""
    return preflight.run_checks([get_check(check_id) for check_id in check_ids], context)
