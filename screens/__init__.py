"""The Textual face of backup-console: the App, its screens and widgets.

Screens talk to console/ only through its public functions, from workers, never on the UI thread.
"""
