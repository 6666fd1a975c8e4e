"""Tamper evidence for the audit trail: a hash chain of seals over the append-only events.

The trigger stops the application from rewriting history; the chain shows whether anyone who could bypass it (the
table's owner, a superuser, a restored dump) did. Each ``AuditSeal`` stores ``digest = SHA-256(previous digest,
canonical content of one event)``; ``audit_chain_verify`` recomputes every digest, so a changed, removed or
reordered sealed event, or a removed seal, breaks the chain at that point. A wholesale rewrite of events *and*
seals is only visible against a copy of the head kept elsewhere: ``audit_seal`` logs the head after every run that
sealed something (``audit_sealed``, logger ``maestro.audit``), so shipped logs are that copy.

Why seal in batches instead of chaining each event as it is written: a chain written inline needs the previous
row's digest, i.e. one lock per tenant held until each writing transaction commits — every audited write of a
tenant would queue behind every other. Sealing later takes no lock that writers wait on; the price is a window
(``AUDIT_SEAL_SECONDS``, 5 minutes by default) in which new events are protected by the trigger alone. Seals follow
the order in which events became visible to the sealer, not strictly their ids (a long transaction may commit a
lower id later); verification follows the seals.

What is hashed (version 1) is the event row alone. Personal data lives in the erasable tables (``AuditIdentity``,
``AuditEventDetail``) and is deliberately outside the chain, so a privacy erasure never breaks it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent, AuditSeal

logger = logging.getLogger("maestro.audit")

GENESIS = "0" * 64
VERSION = 1
# A run looks this far back before the previous run for unsealed events: an event whose transaction committed up to
# this long after it was written (and after later events were sealed) is still sealed.
LOOKBACK = timedelta(days=1)
BATCH = 2000


def canonical(event: AuditEvent) -> str:
    """Version 1 content of an event: its columns (no personal data lives there) as canonical JSON."""
    values = [
        event.pk,
        event.occurred_at.isoformat(),
        event.category,
        event.action,
        event.object_type,
        event.object_id,
        event.object_repr,
        event.actor_type,
        event.actor_id,
        event.actor_token,
        event.source,
        event.changes,
        event.extra,
        event.request_id,
    ]
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(event: AuditEvent, previous: str) -> str:
    return hashlib.sha256(f"{previous}\n{canonical(event)}".encode()).hexdigest()


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"audit-seal:{schema}".encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class SealResult:
    sealed: int
    head_id: int | None
    head: str


def audit_seal() -> SealResult:
    """Seal every event of the current tenant schema not yet sealed, continuing the chain. One sealer per schema
    at a time (an advisory lock); writers of events are never blocked."""
    schema = connection.schema_name
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(schema)])
        last = AuditSeal.objects.order_by("-id").first()
        previous = last.digest if last is not None else GENESIS
        pending = AuditEvent._base_manager.filter(seal__isnull=True)  # the event row alone: no identity or detail
        if last is not None:
            pending = pending.filter(occurred_at__gte=last.sealed_at - LOOKBACK)
        sealed, batch = 0, []
        for event in pending.order_by("id").iterator(chunk_size=BATCH):
            link = digest(event, previous)
            batch.append(AuditSeal(event_id=event.pk, version=VERSION, previous=previous, digest=link, sealed_at=now))
            previous = link
            if len(batch) >= BATCH:
                sealed += len(AuditSeal.objects.bulk_create(batch))
                batch = []
        if batch:
            sealed += len(AuditSeal.objects.bulk_create(batch))
        head = AuditSeal.objects.order_by("-id").values_list("id", "digest").first()
    head_id, head_digest = head if head is not None else (None, GENESIS)
    if sealed:
        logger.info("audit_sealed", extra={"schema": schema, "sealed": sealed, "head_id": head_id, "head": head_digest})
    return SealResult(sealed=sealed, head_id=head_id, head=head_digest)


@dataclass
class ChainReport:
    """The outcome of ``audit_chain_verify``: ``ok`` when every seal matches and no old event is unsealed."""

    sealed: int = 0
    unsealed: int = 0
    stale_unsealed: int = 0
    head_id: int | None = None
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_chain_verify(*, max_problems: int = 20) -> ChainReport:
    """Recompute the chain of the current tenant schema from its first seal; report every break (up to
    ``max_problems``) and the events not sealed yet (``stale_unsealed``: older than the sealing window allows)."""
    report = ChainReport()
    previous = GENESIS
    seals = AuditSeal.objects.select_related("event").order_by("id")
    for seal in seals.iterator(chunk_size=BATCH):
        report.sealed += 1
        if seal.previous != previous:
            report.problems.append(
                f"seal {seal.pk} (event {seal.event_id}): does not follow the seal before it "
                "(a seal was removed, inserted or reordered)"
            )
        if seal.version != VERSION:
            report.problems.append(f"seal {seal.pk}: unknown content version {seal.version}")
        elif digest(seal.event, seal.previous) != seal.digest:
            report.problems.append(f"seal {seal.pk}: event {seal.event_id} was changed after it was sealed")
        previous = seal.digest
        report.head_id, report.head = seal.pk, seal.digest
        if len(report.problems) >= max_problems:
            report.problems.append("… stopped after the first problems")
            return report
    unsealed = AuditEvent._base_manager.filter(seal__isnull=True)
    report.unsealed = unsealed.count()
    last = AuditSeal.objects.order_by("-id").values_list("sealed_at", flat=True).first()
    if last is not None:
        # Older than anything the next sealing run looks at: these will never be sealed.
        report.stale_unsealed = unsealed.filter(occurred_at__lt=last - LOOKBACK).count()
        if report.stale_unsealed:
            report.problems.append(
                f"{report.stale_unsealed} events are older than the sealing window and not sealed "
                "(written out of band with an old time)"
            )
    return report
