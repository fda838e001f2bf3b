"""The RabbitMQ kind: definitions and listings through the management API (no message bodies)."""

from __future__ import annotations

from console.kinds.base import Kind
from console.kinds.rabbitmq import backup, checks, verify
from console.kinds.rabbitmq.layout import LAYOUT

KIND = Kind(
    name="rabbitmq",
    title="RabbitMQ",
    help=("RabbitMQ: definitions (exchanges, queues, bindings, policies, users, permissions) and listings "
          "via the management API; message counts only, not message bodies"),
    layout=LAYOUT,
    preflight=("rabbitmq.management_api", "rabbitmq.healthy", "rabbitmq.nodes", "rabbitmq.alarms",
               "rabbitmq.pending_operations", "rabbitmq.disk_space", "common.s3_reachable"),
    checks=checks.CHECKS,
    run=backup.run,
    lock_name=backup.lock_name,
    verifier=verify,
    s3_type="rabbitmq",
    daily=True,
    cli_epilog=backup.MESSAGES_NOTE[0].upper() + backup.MESSAGES_NOTE[1:] + ".",
)
