#!/usr/bin/env bash
# Starts what the tests need and is not running: PostgreSQL binaries are enough for the private
# clusters the tests create, Redis likewise; RabbitMQ is the machine's broker with its
# management plugin on 127.0.0.1:15672.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

api_up() { curl -fsS -o /dev/null -u guest:guest http://127.0.0.1:15672/api/overview 2>/dev/null; }

if ! $SUDO rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting rabbitmq-server"
  $SUDO rabbitmq-server -detached
  for _ in $(seq 1 60); do $SUDO rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
fi
if ! api_up; then
  echo "enabling rabbitmq_management"
  $SUDO rabbitmq-plugins enable rabbitmq_management >/dev/null
  for _ in $(seq 1 60); do api_up && break; sleep 1; done
fi
api_up || { echo "RabbitMQ management API did not come up on 127.0.0.1:15672" >&2; exit 1; }

# The local services `bash .ci/console` shows on the dashboard: start them if they are installed and down.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "starting PostgreSQL"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  fi
fi
if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/backup-console.log || true
fi
exit 0
