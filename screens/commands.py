"""Command palette entries: every action reachable by name (ctrl+p), keyboard only."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class PaletteEntry:
    title: str
    help: str
    action: str
    """An action string run on the app, e.g. "open('backup')" or "screen.refresh_now"."""


PALETTE: list[PaletteEntry] = [
    PaletteEntry("Dashboard: refresh now", "Probe every service now", "screen.refresh_now"),
    PaletteEntry("Dashboard: pause / resume refresh", "Stop or restart the periodic probes", "screen.toggle_pause"),
    PaletteEntry("Dashboard: filter instances", "Show the instances whose name, kind or tag contains a text (/)",
                 "screen.start_filter"),
    PaletteEntry("Dashboard: switch context", "Show one tag value, kind or instance only (:)", "screen.switch_context"),
    PaletteEntry("Help", "Keys and help for the current screen", "help"),
    PaletteEntry("Checklist: pre-backup checklists", "Walk a service's checklist, then start its backup",
                 "open('checklist')"),
    PaletteEntry("Drill: start an incident drill", "Timer, checklists, backup and verification, every step stamped",
                 "open('drill')"),
    PaletteEntry("Drills: past drills", "List past drills and open their transcripts", "open('drills')"),
    PaletteEntry("Retention: state and plan", "Per kind sets, sizes, expiry, lifecycle; apply the plan",
                 "open('retention')"),
    PaletteEntry("Troubleshooting: common issues", "Long transactions, disk usage, Redis snapshots",
                 "open('troubleshoot')"),
    PaletteEntry("Reports: verification reports", "Past verifications, their sets and checks; verify now",
                 "open('reports')"),
    PaletteEntry("Backup: run a backup", "Pick a kind and target, see its pre-flight checks, run it with progress",
                 "open('backup')"),
    PaletteEntry("Certificates: inventory and expiry", "Every TLS certificate, soonest expiry first, key present",
                 "open('certificates')"),
    PaletteEntry("PITR: restore PostgreSQL to a moment", "The recovery window, a target, pre-flight, restore",
                 "open('pitr')"),
    PaletteEntry("Fleet: every backup host", "Each host's targets from the bucket: result, age, verification, stale",
                 "open('fleet')"),
    # --- add entries here: PaletteEntry("Title", "what it does", "open('screen-name')") ---
]


class ConsoleCommands(Provider):
    """Offers PALETTE entries; actions run on the app so they work from any screen."""

    async def discover(self) -> Hits:
        for entry in PALETTE:
            yield DiscoveryHit(entry.title, partial(self._run, entry.action), help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in PALETTE:
            score = matcher.match(entry.title)
            if score > 0:
                yield Hit(score, matcher.highlight(entry.title), partial(self._run, entry.action), help=entry.help)

    async def _run(self, action: str) -> None:
        if action.startswith("screen."):
            await self.app.screen.run_action(action.removeprefix("screen."))
        else:
            await self.app.run_action(action)
