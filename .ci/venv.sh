#!/usr/bin/env bash
# Creates .venv and installs backup-console (editable, with test extras) into it; does nothing
# when the install is newer than pyproject.toml. Says what it does: the first run downloads
# Textual, boto3, psycopg and the test tools, which takes a minute or two.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
stamp="$VENV/.installed"
here="$(pwd -P)"
# an editable install names one checkout: a venv shared with (or copied from) another one would
# run that checkout's code, or none once it is deleted, so its package must resolve to this tree
installed_here() {
  (cd / && "$here/$VENV/bin/python" -c 'import console, sys; sys.exit(not console.__file__.startswith(sys.argv[1] + "/"))' \
     "$here") 2>/dev/null
}
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && installed_here; then
  exit 0
fi
say() { echo "backup-console setup: $*" >&2; }
if [ ! -x "$VENV/bin/python" ]; then
  say "creating the virtual environment $VENV"
  python3 -m venv "$VENV"
fi
say "upgrading pip in $VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
say "installing backup-console and its dependencies into $VENV (first run: a minute or two) ..."
started=$(date +%s)
"$VENV/bin/pip" install --quiet --disable-pip-version-check -e '.[test]'
say "installed in $(( $(date +%s) - started )) s"
touch "$stamp"
