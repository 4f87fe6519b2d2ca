"""Alerts: a notifications area per user, with optional e-mail and webhook copies (docs/alerts.md).

``models`` holds the tables; ``service`` the user's own records (preferences, watches, saved
filters, notifications) and the one idempotent insert; ``flows`` the evaluator, which reads
the other domains (sharing, incidents, clearances, federation) for what happened since its
cursors, keeps only what the access policy lets each user read, and delivers; ``worker`` runs
it periodically in ``varsel serve``; ``cli`` is ``varsel alerts run-once``.

This package sits in its own layer just above the domains it reads (pyproject.toml).
"""
