from django.db import models


class Provider(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"


class DeliveryStatus(models.TextChoices):
    PROCESSED = "processed", "Processed (normalised)"
    IGNORED = "ignored", "Acknowledged and ignored"
    FAILED = "failed", "Failed on re-processing"


class PullRequestState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed without merge"
    MERGED = "merged", "Merged"


class CiOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped / neutral"
