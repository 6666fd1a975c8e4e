"""Writes on integrations: create/rotate/delete, receive a webhook delivery, normalise facts, re-process.

Normalisation is order-independent: every fact is *merged* into the existing row with commutative rules (earliest
``opened_at``/``merged_at``, latest ``last_closed_at``, state and title from the latest snapshot, earliest review
by someone other than the author), so deliveries arriving in any order — or replayed from the raw store — produce
the same rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs
from uuid import uuid4

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audited_update
from apps.integrations import secrets
from apps.integrations.choices import DeliveryStatus, Provider, PullRequestState
from apps.integrations.models import CiRun, Commit, Integration, PullRequest, Review, WebhookDelivery
from apps.integrations.providers import Parsed, PayloadError, is_known_event, parse
from apps.integrations.providers.base import (
    CiRunFact,
    CommitFact,
    PullRequestFact,
    ReviewFact,
    is_fixup_message,
    is_merge_message,
    is_revert_message,
)
from apps.integrations.tasks import reprocess_integration
from apps.projects.models import Project
from maestro.enqueue import send_or_defer

logger = logging.getLogger("maestro.integrations")

STATE_RANK = {PullRequestState.OPEN: 1, PullRequestState.CLOSED: 2, PullRequestState.MERGED: 3}
RANK_STATE = {rank: state for state, rank in STATE_RANK.items()}
OUTCOME_RANK = {"skipped": 1, "cancelled": 2, "success": 3, "failure": 4}
MAX_DELIVERY_ID_LENGTH = 200


# ---------------------------------------------------------------------------------------------- integrations
@dataclass(frozen=True)
class IntegrationWithSecret:
    integration: Integration
    secret: str


def _new_secret(integration: Integration) -> str:
    if integration.provider == Provider.GITHUB:
        secret, integration.secret_salt = secrets.new_github_secret(
            schema=connection.schema_name, webhook_id=integration.webhook_id
        )
        integration.secret_hash = ""
    else:
        secret, integration.secret_hash = secrets.new_gitlab_token()
        integration.secret_salt = ""
    return secret


def integration_create(*, user: User | None, project: Project, provider: str, name: str) -> IntegrationWithSecret:
    """Create an integration with a fresh secret, returned once (only a salt or a hash is stored)."""
    errors = {}
    if provider not in Provider.values:
        errors["provider"] = f"Unknown provider '{provider}'; use one of {', '.join(Provider.values)}."
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = "A name of 1–100 characters is required."
    if errors:
        raise ValidationError(errors)
    integration = Integration(project=project, provider=provider, name=name, created_by=user, webhook_id=uuid4())
    secret = _new_secret(integration)
    with transaction.atomic():
        integration.save()
    return IntegrationWithSecret(integration=integration, secret=secret)


def integration_update(*, integration: Integration, name: str | None = None, is_active: bool | None = None):
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            raise ValidationError({"name": "A name of 1–100 characters is required."})
        integration.name = name
    if is_active is not None:
        integration.is_active = is_active
    with transaction.atomic():
        integration.save(update_fields=["name", "is_active"])
    return integration


def integration_rotate_secret(*, integration: Integration) -> IntegrationWithSecret:
    """Replace the secret; the old one stops verifying immediately. The new one is returned once."""
    secret = _new_secret(integration)
    integration.secret_rotated_at = timezone.now()
    with transaction.atomic():
        integration.save(update_fields=["secret_salt", "secret_hash", "secret_rotated_at"])
    return IntegrationWithSecret(integration=integration, secret=secret)


def integration_delete(*, integration: Integration) -> None:
    """Delete an integration with its deliveries and normalised rows."""
    with transaction.atomic():
        integration.delete()


# ---------------------------------------------------------------------------------------------- webhook
@dataclass
class WebhookResult:
    """What the webhook endpoint answers: an HTTP status and a JSON body (errors in the shared error shape)."""

    status_code: int
    body: dict = field(default_factory=dict)

    @classmethod
    def error(cls, status_code: int, detail: str, code: str, field_name: str | None = None) -> WebhookResult:
        errors = [{"field": field_name, "code": code, "message": detail}] if field_name else []
        return cls(status_code, {"status": status_code, "code": code, "detail": detail, "errors": errors})


def _verify(integration: Integration, headers: Mapping[str, str], body: bytes) -> bool:
    if integration.provider == Provider.GITHUB:
        return secrets.verify_github_signature(
            header=headers.get("X-Hub-Signature-256"),
            body=body,
            schema=connection.schema_name,
            webhook_id=integration.webhook_id,
            salt=integration.secret_salt,
        )
    return secrets.verify_gitlab_token(header=headers.get("X-Gitlab-Token"), token_hash=integration.secret_hash)


def _event_and_delivery_id(integration: Integration, headers: Mapping[str, str], body: bytes):
    """(event, delivery id) from the provider's headers, or a 400 result naming the missing header."""
    if integration.provider == Provider.GITHUB:
        event_header, event = "X-GitHub-Event", headers.get("X-GitHub-Event", "")
        delivery_header, delivery_id = "X-GitHub-Delivery", headers.get("X-GitHub-Delivery", "")
    else:
        event_header, event = "X-Gitlab-Event", headers.get("X-Gitlab-Event", "")
        delivery_header = "Idempotency-Key"
        delivery_id = headers.get("Idempotency-Key") or headers.get("X-Gitlab-Event-UUID") or ""
        if not delivery_id:
            # GitLab before 15.x sends no delivery id: an identical body is then treated as the same delivery.
            delivery_id = "sha256:" + hashlib.sha256(body).hexdigest()
    event = event.strip()
    delivery_id = delivery_id.strip()
    if not event or len(event) > 100:
        return WebhookResult.error(400, f"The {event_header} header is required.", "invalid", event_header)
    if not delivery_id or len(delivery_id) > MAX_DELIVERY_ID_LENGTH:
        return WebhookResult.error(
            400, f"The {delivery_header} header is required (at most 200 characters).", "invalid", delivery_header
        )
    return event, delivery_id


def _decode(headers: Mapping[str, str], body: bytes):
    """The JSON payload, or a 400 result. GitHub's form-encoded deliveries (``payload=<json>``) are accepted too."""
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
        if content_type == "application/x-www-form-urlencoded":
            text = parse_qs(text, strict_parsing=True).get("payload", [""])[0]
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        return WebhookResult.error(400, f"The body is not valid JSON: {str(exc)[:200]}", "malformed", "body")
    if not isinstance(payload, dict):
        return WebhookResult.error(400, "The body must be a JSON object.", "malformed", "body")
    return payload


def webhook_receive(*, integration: Integration | None, headers: Mapping[str, str], body: bytes) -> WebhookResult:
    """Authenticate, de-duplicate, validate, store and normalise one delivery.

    401 (nothing stored) for a missing or wrong signature/token; a repeated delivery id is acknowledged (200,
    ``duplicate``) without processing; 400 naming the problem for missing headers or a malformed payload (nothing
    stored); 202 for event types and actions that carry nothing to normalise (stored raw, ``ignored``); 200 with
    the counts of normalised facts otherwise.
    """
    if integration is None:
        return WebhookResult.error(404, "No such webhook.", "not_found")
    if not _verify(integration, headers, body):
        header = "X-Hub-Signature-256" if integration.provider == Provider.GITHUB else "X-Gitlab-Token"
        return WebhookResult.error(401, f"Missing or invalid {header}.", "invalid_signature", header)
    identified = _event_and_delivery_id(integration, headers, body)
    if isinstance(identified, WebhookResult):
        return identified
    event, delivery_id = identified
    if WebhookDelivery.objects.filter(integration=integration, delivery_id=delivery_id).exists():
        return WebhookResult(200, {"status": "duplicate", "delivery": delivery_id})
    payload = _decode(headers, body)
    if isinstance(payload, WebhookResult):
        return payload
    if is_known_event(integration.provider, event):
        try:
            parsed = parse(integration.provider, event, payload)
        except PayloadError as exc:
            return WebhookResult.error(400, f"Malformed {event} payload: {exc}", "malformed", "body")
    else:
        parsed = Parsed(ignored=f"event type '{event[:50]}' is not used by Maestro")
        action = payload.get("action")
        parsed.action = action[:50] if isinstance(action, str) else ""

    try:
        with transaction.atomic():
            Integration.objects.select_for_update().filter(pk=integration.pk).update(last_delivery_at=timezone.now())
            delivery = WebhookDelivery.objects.create(
                integration=integration,
                delivery_id=delivery_id,
                event=event,
                action=parsed.action[:50],
                payload=payload,
                body_sha256=hashlib.sha256(body).hexdigest(),
                body_size=len(body),
                status=DeliveryStatus.IGNORED if parsed.ignored else DeliveryStatus.PROCESSED,
                detail=parsed.ignored[:500],
                processed_at=timezone.now(),
            )
            if not parsed.ignored:
                _apply(integration, parsed)
    except IntegrityError as exc:
        # The same delivery id committed concurrently (the integration lock made this one wait): a replay.
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") != "delivery_unique_per_integration":
            raise
        return WebhookResult(200, {"status": "duplicate", "delivery": delivery_id})
    logger.info(
        "webhook_delivery",
        extra={"integration": str(integration.webhook_id), "event": event, "status": delivery.status},
    )
    if parsed.ignored:
        return WebhookResult(202, {"status": "ignored", "delivery": delivery_id, "reason": parsed.ignored})
    return WebhookResult(200, {"status": "processed", "delivery": delivery_id, **parsed.counts})


# ---------------------------------------------------------------------------------------------- normalisation
def _earliest(*values):
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _latest(*values):
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _apply(integration: Integration, parsed: Parsed) -> None:
    """Merge one delivery's facts into the normalised rows (caller holds a transaction and the integration lock)."""
    if parsed.commits:
        _upsert_commits(integration, parsed.commits)
    touched: dict[int, PullRequest] = {}
    for fact in parsed.pull_requests:
        touched[fact.number] = _merge_pull_request(integration, fact)
    for fact in parsed.reviews:
        _merge_review(touched[fact.pr_number], fact)
    for pr in touched.values():
        _refresh_first_review(pr)
    for fact in parsed.ci_runs:
        _merge_ci_run(integration, fact)


def _upsert_commits(integration: Integration, facts: list[CommitFact]) -> None:
    unique = {fact.sha: fact for fact in facts}
    rows = [
        Commit(
            integration=integration,
            project_id=integration.project_id,
            sha=fact.sha,
            author_key=fact.author_key,
            author_name=fact.author_name,
            message=fact.message,
            authored_at=fact.authored_at,
            files_added=list(fact.added),
            files_modified=list(fact.modified),
            files_removed=list(fact.removed),
            is_merge=is_merge_message(fact.message),
            is_revert=is_revert_message(fact.message),
            is_fixup=is_fixup_message(fact.message),
        )
        for fact in sorted(unique.values(), key=lambda f: f.sha)
    ]
    # A commit's content is the same in every push that lists it, so a conflict just keeps the row.
    Commit.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)


def _merge_pull_request(integration: Integration, fact: PullRequestFact) -> PullRequest:
    rank = STATE_RANK[fact.state]
    pr = PullRequest.objects.select_for_update().filter(integration=integration, number=fact.number).first()
    if pr is None:
        pr = PullRequest.objects.create(
            integration=integration,
            project_id=integration.project_id,
            number=fact.number,
            title=fact.title,
            author_external_id=fact.author_external_id,
            author_login=fact.author_login,
            state=PullRequestState.MERGED if fact.merged_at else fact.state,
            opened_at=fact.opened_at,
            merged_at=fact.merged_at,
            last_closed_at=fact.closed_at,
            snapshot_at=fact.updated_at,
            snapshot_rank=rank,
        )
        return pr
    pr.opened_at = min(pr.opened_at, fact.opened_at)
    pr.merged_at = _earliest(pr.merged_at, fact.merged_at)
    pr.last_closed_at = _latest(pr.last_closed_at, fact.closed_at)
    pr.author_external_id = pr.author_external_id or fact.author_external_id
    pr.author_login = pr.author_login or fact.author_login
    if (fact.updated_at, rank, fact.title) > (pr.snapshot_at, pr.snapshot_rank, pr.title):
        pr.snapshot_at, pr.snapshot_rank, pr.title = fact.updated_at, rank, fact.title
    pr.state = PullRequestState.MERGED if pr.merged_at else RANK_STATE[pr.snapshot_rank]
    pr.save()
    return pr


def _merge_review(pr: PullRequest, fact: ReviewFact) -> None:
    review = Review.objects.select_for_update().filter(pull_request=pr, review_key=fact.review_key).first()
    if review is None:
        Review.objects.create(
            pull_request=pr,
            review_key=fact.review_key,
            reviewer_external_id=fact.reviewer_external_id,
            reviewer_login=fact.reviewer_login,
            state=fact.state,
            submitted_at=fact.submitted_at,
        )
        return
    # A review's author and time never change; a dismissal is final.
    if fact.state == "dismissed" and review.state != "dismissed":
        review.state = "dismissed"
        review.save(update_fields=["state"])


def _refresh_first_review(pr: PullRequest) -> None:
    reviews = Review.objects.filter(pull_request=pr)
    if pr.author_external_id:
        reviews = reviews.exclude(reviewer_external_id=pr.author_external_id)
    if pr.author_login:
        reviews = reviews.exclude(Q(reviewer_login=pr.author_login) & ~Q(reviewer_login=""))
    first = reviews.aggregate(first=Min("submitted_at"))["first"]
    if first != pr.first_review_at:
        pr.first_review_at = first
        pr.save(update_fields=["first_review_at"])


def _merge_ci_run(integration: Integration, fact: CiRunFact) -> None:
    values = {
        "name": fact.name,
        "branch": fact.branch,
        "commit_sha": fact.commit_sha,
        "outcome": fact.outcome,
        "raw_status": fact.raw_status,
        "started_at": fact.started_at,
        "finished_at": fact.finished_at,
        "duration_seconds": fact.duration_seconds,
    }
    run = (
        CiRun.objects.select_for_update()
        .filter(integration=integration, run_key=fact.run_key, attempt=fact.attempt)
        .first()
    )
    if run is None:
        CiRun.objects.create(
            integration=integration,
            project_id=integration.project_id,
            run_key=fact.run_key,
            attempt=fact.attempt,
            **values,
        )
        return
    # A pipeline retried to completion again: the latest completion wins (ties: the worse outcome).
    if (fact.finished_at, OUTCOME_RANK[fact.outcome]) > (run.finished_at, OUTCOME_RANK[run.outcome]):
        for name, value in values.items():
            setattr(run, name, value)
        run.save()


# ---------------------------------------------------------------------------------------------- re-processing
@dataclass
class ReprocessResult:
    deliveries: int = 0
    processed: int = 0
    ignored: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "deliveries": self.deliveries,
            "processed": self.processed,
            "ignored": self.ignored,
            "failed": self.failed,
        }


def integration_reprocess(
    *, integration: Integration, progress: Callable[[int, int], None] | None = None
) -> ReprocessResult:
    """Rebuild every normalised row of ``integration`` from its stored deliveries, in one transaction.

    Deletes the commits, pull requests (with reviews) and CI runs, then parses and applies each stored delivery
    again in arrival order. Because merging is order-independent, the result equals what live processing built;
    a delivery that no longer parses is marked ``failed`` with the reason, the rest carry on.
    """
    result = ReprocessResult()
    with transaction.atomic():
        Integration.objects.select_for_update().filter(pk=integration.pk).first()
        Commit.objects.filter(integration=integration).delete()
        PullRequest.objects.filter(integration=integration).delete()
        CiRun.objects.filter(integration=integration).delete()
        deliveries = WebhookDelivery.objects.filter(integration=integration).order_by("received_at", "id")
        total = deliveries.count()
        for delivery in deliveries.iterator(chunk_size=200):
            result.deliveries += 1
            status, detail = _reprocess_one(integration, delivery)
            setattr(result, status, getattr(result, status) + 1)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=status, detail=detail[:500], processed_at=timezone.now()
            )
            if progress is not None and (result.deliveries % 100 == 0 or result.deliveries == total):
                progress(result.deliveries, total)
    return result


def _reprocess_one(integration: Integration, delivery: WebhookDelivery) -> tuple[str, str]:
    if not is_known_event(integration.provider, delivery.event):
        return DeliveryStatus.IGNORED, f"event type '{delivery.event[:50]}' is not used by Maestro"
    try:
        parsed = parse(integration.provider, delivery.event, delivery.payload)
    except PayloadError as exc:
        return DeliveryStatus.FAILED, str(exc)
    if parsed.ignored:
        return DeliveryStatus.IGNORED, parsed.ignored
    with transaction.atomic():
        _apply(integration, parsed)
    return DeliveryStatus.PROCESSED, ""


def integration_reprocess_enqueue(*, integration: Integration) -> None:
    """Record that ``integration`` must be reprocessed and send the task once the transaction commits.

    The record (``reprocess_requested_at``) is what counts: when the broker is down the send is skipped (see
    ``maestro.enqueue``) and ``integrations.reconcile_reprocess`` sends it later; the task runs it once
    (:func:`integration_reprocess_pending`). The request is audited (``integration.bulk_updated`` with the request
    time), as is its completion."""
    schema = connection.schema_name
    with transaction.atomic():
        audited_update(Integration.objects.filter(pk=integration.pk), reprocess_requested_at=timezone.now())
        transaction.on_commit(
            lambda: send_or_defer(reprocess_integration, schema_name=schema, integration_id=integration.pk)
        )


def integration_reprocess_pending(*, integration_id: int) -> ReprocessResult | None:
    """Run the reprocess requested for an integration, exactly once per request: under the integration's row lock,
    only while a request is recorded, which is cleared in the same transaction. Another copy of the task (sent by
    the request and again by reconciliation) waits for the lock and then finds nothing to do (None). A request made
    while this one runs waits for the lock too, and is recorded for the next run."""
    with transaction.atomic():
        integration = Integration.objects.select_for_update().filter(pk=integration_id).first()
        if integration is None or integration.reprocess_requested_at is None:
            return None
        result = integration_reprocess(integration=integration)
        audited_update(Integration.objects.filter(pk=integration_id), reprocess_requested_at=None)
    return result


def integration_reprocess_overdue(*, older_than_seconds: int) -> list[int]:
    """Ids of integrations (current schema) whose recorded reprocess request is older than ``older_than_seconds``."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Integration.objects.filter(reprocess_requested_at__lt=cutoff).order_by("pk").values_list("pk", flat=True)
    )
