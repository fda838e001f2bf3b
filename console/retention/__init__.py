"""Retention: ``policy`` (the policy file, shipped as ``policy.yaml``, and its overrides), ``plan``
(pure decisions: keep, remove, transition), ``apply`` (carry a plan out, through ``storage``'s
dry-run-safe interface), ``reports`` (old verification reports), ``state`` (the Retention
screen's overview) and ``lifecycle`` (the bucket's lifecycle rules)."""
