#!/usr/bin/env bash
# Installs the Debian packages backup-console needs, only when something is missing.
#   system-deps.sh run    clients only: what the console itself calls (pg_dump, redis-cli, openssl)
#   system-deps.sh test   also the servers the test suite starts privately or talks to
set -euo pipefail
mode="${1:-test}"

need=()
have() { command -v "$1" >/dev/null 2>&1; }
pg_have() { have "$1" || ls /usr/lib/postgresql/*/bin/"$1" >/dev/null 2>&1; }

have python3 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
pg_have pg_dump || need+=(postgresql-client)
have redis-cli || need+=(redis-tools)
have openssl || need+=(openssl)
if [ "$mode" = test ]; then
  pg_have initdb || need+=(postgresql)
  have redis-server || need+=(redis-server)
  have rabbitmq-server || need+=(rabbitmq-server)
  have curl || need+=(curl)
  have runuser || need+=(util-linux)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
