"""The headless engine and CLI never import Textual or rich (cron hosts need neither)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys, io, contextlib
import console
for module in pkgutil.walk_packages(console.__path__, "console."):
    if module.name == "console.cli.__main__":
        continue
    importlib.import_module(module.name)
from console.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["status", "--json", "--service", "storage"])
assert code == 0, code
leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("textual", "rich", "screens"))
print(",".join(leaked))
"""


def test_console_and_headless_status_do_not_import_textual():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


HEAVY = ("psycopg", "redis", "boto3", "botocore", "cryptography", "requests")
"""Libraries that cost 0.05-0.2 s each to import (bench/README.md, "Imports"): imported where a
server is talked to, never by loading the kinds, the probes or the CLI's parser."""

LIGHT_ENTRIES = {
    "the kind registry": "import console.kinds.registry",
    "the probes package": "import console.probes",
    "the CLI parser": "from console.cli import build_parser; build_parser()",
    "verify planning": "import console.verify.run, console.verify.state",
    "retention planning": "import console.retention.plan",
}


def test_kinds_probes_and_parser_load_without_heavy_libraries():
    code = "import sys\n{}\nprint(','.join(sorted({{n.split('.')[0] for n in sys.modules}} & set({!r}))))"
    for what, statement in LIGHT_ENTRIES.items():
        proc = subprocess.run([sys.executable, "-c", code.format(statement, HEAVY)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "", f"importing {what} loads {proc.stdout.strip()}"


CONSOLE_ONLY = """
import sys
from console.cli import build_parser, needs_verbs
from console.cli.targets import command_of
for given in ([], ["--config", "/etc/backup-console/config.yaml"], ["--read-only", "--debug"]):
    assert not needs_verbs(given, command_of(given)), given
    args = build_parser(verbs=False).parse_args(given)
    assert args.command is None, given
assert needs_verbs(["--help"], None) and needs_verbs(["status"], "status")
print(",".join(sorted(name for name in sys.modules if name.startswith(("console.cli.verbs", "console.kinds.registry")))))
"""


def test_the_console_alone_with_its_options_loads_no_verb():
    """`backup-console --config FILE` opens the console like `backup-console`: before, any argument
    built the parser with every verb (the kind registry and 40 modules, 50 ms before the first frame)."""
    proc = subprocess.run([sys.executable, "-c", CONSOLE_ONLY], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


FIRST_FRAME = """
import sys
from console.config import load_settings
from screens.app import BackupConsoleApp
from screens.dashboard import DashboardScreen

WATCHED = {watched!r}
loaded = []


def first_round(self):  # the dashboard starts its first round once its first frame is drawn
    loaded.extend(sorted(WATCHED & set(sys.modules)))
    self.app.exit()


DashboardScreen.refresh_now = first_round
settings = load_settings(None, env={{}}, overrides={{"backup_dir": sys.argv[1]}})
BackupConsoleApp(settings, prober=lambda *args, **kwargs: []).run(headless=True, size=(80, 24))
print(",".join(loaded) or "none")
"""

AFTER_THE_FIRST_FRAME = ("console.probes", "console.drill", "console.catalog", "console.verify.state",
                         "console.backup_summary", "console.kinds.registry", "humanize",
                         "textual.widgets._data_table", "textual.widgets._footer", "textual.widgets._header")
"""What the dashboard loads in its workers once it is drawn: the probes (every client's code), the
drills, the catalog pass (catalog, verification state, monitor) and the kinds (bench/README.md,
"Start-up"): 30-60 ms that the first frame does not wait for. Nor humanize (the first numbers come
with the first results), the instance table's DataTable (mounted when the panels do not fit), or
Textual's Header and Footer (screens/widgets/title_line.py and key_line.py draw those lines)."""


def test_the_dashboards_first_frame_waits_for_no_probe_catalog_or_drill_code(tmp_path):
    script = FIRST_FRAME.format(watched=set(AFTER_THE_FIRST_FRAME))
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "none"
