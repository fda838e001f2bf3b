"""PostgreSQL point-in-time recovery: base backups, a checksummed WAL archive, the recovery
window, and restoring a cluster to a moment.

``archive`` (``wal push``/``wal get``) runs once per WAL segment inside PostgreSQL's
archive_command and restore_command, so it and ``walnames`` import only the standard library;
keep this ``__init__`` empty of imports.
"""
