from django.db import models


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SCHEDULED = "scheduled", "Scheduled"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    KILLED = "killed", "Killed"


class LifecycleStage(models.TextChoices):
    ACTIVE = "active", "Active"
    DELETED = "deleted", "Deleted"
