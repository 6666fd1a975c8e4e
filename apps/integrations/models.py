"""Git and CI integrations of a project: the webhook endpoint, the raw deliveries it received, and what they were
normalised into (commits, pull/merge requests with their reviews, CI runs). Tenant schema."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.integrations.choices import CiOutcome, DeliveryStatus, Provider, PullRequestState


class Integration(models.Model):
    """A GitHub or GitLab webhook source for one project.

    ``webhook_id`` (a random UUID) is the only thing in the webhook URL. Nothing secret is stored:

    * GitHub signs each body with HMAC-SHA256 under the shared secret, so verification needs the secret itself. It is
      *derived* on demand as ``HMAC-SHA256(INTEGRATIONS_SECRET_KEYS[i], schema | webhook_id | secret_salt)``; only the
      random salt is stored (see ``apps.integrations.secrets``).
    * GitLab sends the secret token verbatim in ``X-Gitlab-Token``, so a SHA-256 hash (``secret_hash``) is enough.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="integrations")
    provider = models.CharField(max_length=8, choices=Provider.choices)
    name = models.CharField(max_length=100, help_text="e.g. the repository, 'acme/churn-model'.")
    webhook_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    secret_salt = models.CharField(max_length=64, blank=True, editable=False)
    secret_hash = models.CharField(max_length=64, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True, help_text="Inactive integrations refuse deliveries (404).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True, editable=False)
    reprocess_requested_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="A reprocess was requested and has not run yet."
    )

    class Meta:
        ordering = ["project_id", "id"]
        indexes = [models.Index(fields=["project", "id"], name="integration_project_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(provider=Provider.GITHUB) & ~Q(secret_salt="") & Q(secret_hash=""))
                | (Q(provider=Provider.GITLAB) & Q(secret_salt="") & ~Q(secret_hash="")),
                name="integration_secret_matches_provider",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()}: {self.name}"


class WebhookDelivery(models.Model):
    """One accepted delivery, stored as received (parsed JSON body) so it can be normalised again.

    Only deliveries with a valid signature and a well-formed payload are stored; ``(integration, delivery_id)`` is
    unique, which is the replay protection.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=100, help_text="X-GitHub-Event / X-Gitlab-Event header.")
    action = models.CharField(max_length=50, blank=True)
    payload = models.JSONField()
    body_sha256 = models.CharField(max_length=64)
    body_size = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    detail = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["integration", "received_at", "id"], name="delivery_integration_idx")]
        constraints = [
            models.UniqueConstraint(fields=["integration", "delivery_id"], name="delivery_unique_per_integration")
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"


class Commit(models.Model):
    """A commit seen in a push. ``author_key`` identifies a contributor across commits (lower-cased e-mail, else
    login, else name). Merge, revert and fixup flags come from the message (see ``providers.base``)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="commits")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    sha = models.CharField(max_length=64)
    author_key = models.CharField(max_length=254)
    author_name = models.CharField(max_length=254, blank=True)
    message = models.TextField(blank=True)
    authored_at = models.DateTimeField()
    files_added = ArrayField(models.TextField(), default=list, blank=True)
    files_modified = ArrayField(models.TextField(), default=list, blank=True)
    files_removed = ArrayField(models.TextField(), default=list, blank=True)
    is_merge = models.BooleanField(default=False)
    is_revert = models.BooleanField(default=False)
    is_fixup = models.BooleanField(default=False)

    class Meta:
        ordering = ["-authored_at", "-id"]
        indexes = [models.Index(fields=["project", "authored_at"], name="commit_project_time_idx")]
        constraints = [models.UniqueConstraint(fields=["integration", "sha"], name="commit_unique_per_integration")]

    def __str__(self) -> str:
        return self.sha[:12]


class PullRequest(models.Model):
    """A GitHub pull request or GitLab merge request (``number`` = PR number / MR iid).

    Built from snapshots that may arrive in any order: ``opened_at`` and ``merged_at`` are the earliest values seen,
    ``last_closed_at`` the latest, and state and title come from the snapshot with the latest provider
    ``updated_at`` (``snapshot_at``, ties broken by ``snapshot_rank``: merged > closed > open). A merged request
    stays merged. ``first_review_at`` is the earliest review by someone other than the author.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="pull_requests")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=500, blank=True)
    author_external_id = models.CharField(max_length=100, blank=True)
    author_login = models.CharField(max_length=254, blank=True)
    state = models.CharField(max_length=8, choices=PullRequestState.choices)
    opened_at = models.DateTimeField()
    merged_at = models.DateTimeField(null=True, blank=True)
    last_closed_at = models.DateTimeField(null=True, blank=True)
    first_review_at = models.DateTimeField(null=True, blank=True)
    snapshot_at = models.DateTimeField()
    snapshot_rank = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["project", "merged_at"], name="pr_project_merged_idx"),
            models.Index(fields=["project", "first_review_at"], name="pr_project_review_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["integration", "number"], name="pr_unique_per_integration"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title[:60]}"


class Review(models.Model):
    """A review of a pull request (GitHub review submitted) or an approval of a merge request (GitLab)."""

    pull_request = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="reviews")
    review_key = models.CharField(max_length=200, help_text="GitHub review id; GitLab '<user id>:<approved at>'.")
    reviewer_external_id = models.CharField(max_length=100, blank=True)
    reviewer_login = models.CharField(max_length=254, blank=True)
    state = models.CharField(max_length=30)
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["submitted_at", "id"]
        constraints = [models.UniqueConstraint(fields=["pull_request", "review_key"], name="review_unique_per_pr")]

    def __str__(self) -> str:
        return f"{self.state} by {self.reviewer_login or self.reviewer_external_id}"


class CiRun(models.Model):
    """A completed CI run: a GitHub Actions workflow run attempt, a third-party GitHub check suite, or a GitLab
    pipeline. A pipeline retried to completion again keeps the latest completion (``finished_at``)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="ci_runs")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    run_key = models.CharField(max_length=100, help_text="'workflow_run:<id>', 'check_suite:<id>', 'pipeline:<id>'.")
    attempt = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=254, blank=True)
    branch = models.CharField(max_length=254, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=10, choices=CiOutcome.choices)
    raw_status = models.CharField(max_length=30, help_text="The provider's conclusion/status, verbatim.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField()
    duration_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-finished_at", "-id"]
        verbose_name = "CI run"
        verbose_name_plural = "CI runs"
        indexes = [models.Index(fields=["project", "finished_at"], name="cirun_project_finished_idx")]
        constraints = [
            models.UniqueConstraint(fields=["integration", "run_key", "attempt"], name="cirun_unique_per_integration"),
            models.CheckConstraint(
                condition=Q(duration_seconds__isnull=True) | Q(duration_seconds__gte=0), name="cirun_duration_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_key}#{self.attempt} {self.outcome}"
