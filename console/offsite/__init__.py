"""Offsite copies on S3: ``upload`` (send a set under the manual's key layout, check it, list it)
and ``bucket`` (the bucket's objects grouped into sets, as retention sees them)."""
