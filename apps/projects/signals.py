"""Domain events of the projects app, for the apps above it that keep derived state about projects.

A project write changes what the recommendation engine (a higher layer) has derived from the project: the embedding
of its spec, and the actual outcome recorded on the predictions made for it. The projects services may not import
the engine, so they announce the write and the engine subscribes at start-up (``RecommendationsConfig.ready``).

These are explicit events that a *service* sends after its write, with the data a listener needs — not model
``post_save`` hooks (STYLE.md: no business logic in save hooks), so every caller of ``project_create`` /
``project_update`` (API, dashboard, admin) and nothing else triggers them. ``send`` (not ``send_robust``) runs the
receivers inside the caller's transaction, so a receiver's error fails the write exactly as the direct call did;
receivers defer their side effects to ``transaction.on_commit`` themselves.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by apps.projects.services after a project is created or updated, inside the write's transaction.
# Arguments: project_id (int), completed (bool: the project's status is ``completed`` after the write).
project_written = Signal()
