"""A sixth kind that exists only for the tests: "notes", one text file copied as a gzip set.

It is what docs/adding-a-kind.md walks through: a package with a layout, checks, a backup, a
verifier and a descriptor; ``tests/console/test_kinds.py`` adds its one line to the registry.
"""
