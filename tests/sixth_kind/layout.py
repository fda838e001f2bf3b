from console.layout import Layout, Template

LAYOUT = Layout(
    kind="notes",
    templates=(Template("notes", "notes_{ts}.txt", (".gz",)), Template("metadata", "notes_{ts}.json")),
    primary_roles=("notes",),
)
