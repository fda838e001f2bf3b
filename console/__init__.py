"""backup-console's engine: configuration, probes, backups, verification and retention.

Nothing in this package imports Textual or prints: it returns data and raises
:class:`console.errors.ConsoleError`. The CLI (``console.cli``) and the TUI (``screens``)
are the two faces that show it.
"""

from __future__ import annotations

__version__ = "0.1.0"
