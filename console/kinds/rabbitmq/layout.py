"""Where RabbitMQ sets live: ``definitions_<ts>.json.gz`` (``.enc`` when encrypted), listings, metadata."""

from console.layout import Layout, Template

LISTINGS = ("queues", "exchanges", "bindings", "policies", "users", "permissions", "vhosts",
            "message_counts", "api_queues", "overview", "nodes", "parameters")

LAYOUT = Layout(
    kind="rabbitmq",
    templates=(
        Template("definitions", "definitions_{ts}.json", (".gz", "", ".enc", ".gz.enc")),
        Template("{listing}", "{listing}_{ts}.", ("txt.gz", "txt", "json", "json.gz"),
                 fields=(("listing", "|".join(LISTINGS)),)),
        Template("metadata", "backup_{ts}.json", ("", ".gz")),
    ),
    primary_roles=("definitions",),
)
