"""Certificates probe: the dashboard's Certificates panel (count, soonest expiry, states).

Up when every certificate is fine, degraded when one is within certs.warn_days, down when one is
critical or expired; unconfigured when CERT_DIR is not set or holds no certificate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.probes.result import ProbeResult, ServiceState, Stopwatch

if TYPE_CHECKING:
    from console.config import Settings


def probe(settings: Settings) -> ProbeResult:
    watch = Stopwatch()
    if settings.sources.get("certs.cert_dir", "default") == "default":
        # The manual's default CERT_DIR is ".", the whole working tree: too much to walk every few seconds.
        return ProbeResult("certs", "x509", ServiceState.UNCONFIGURED, "set CERT_DIR (certs.cert_dir) to watch expiry")
    from console.kinds.certs.inventory import build_inventory, cert_dir_of  # cryptography: 0.08 s, only when watched
    directory = cert_dir_of(settings)
    if not directory.is_dir():
        return ProbeResult("certs", "x509", ServiceState.UNCONFIGURED, f"{directory} is not a directory (CERT_DIR)",
                           watch.ms, {"cert_dir": str(directory)})
    inventory = build_inventory(directory, settings)
    summary = inventory.summary()
    metrics = {"cert_dir": str(directory), **{key: summary[key] for key in
               ("count", "soonest_days", "expiring_warn", "expiring_critical", "expired", "keys", "problems")}}
    if not inventory.certificates:
        return ProbeResult("certs", "x509", ServiceState.UNCONFIGURED, f"no certificates under {directory}",
                           watch.ms, metrics)
    soonest = inventory.soonest
    assert soonest is not None
    name = soonest.common_name or soonest.subject
    if soonest.state == "expired":
        when = f"{name} expired {-soonest.days_left} days ago" if soonest.days_left < 0 else f"{name} expired"
        detail = f"{summary['count']} certificates, {summary['expired']} expired ({when})"
    else:
        detail = f"{summary['count']} certificates, next expiry in {soonest.days_left} days ({name})"
    state = {"ok": ServiceState.UP, "warn": ServiceState.DEGRADED}.get(inventory.worst_state, ServiceState.DOWN)
    return ProbeResult("certs", "x509", state, detail, watch.ms, metrics)
