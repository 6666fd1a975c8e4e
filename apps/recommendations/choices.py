from django.db import models


class RunKind(models.TextChoices):
    TRAIN = "train", "Retrain the success model"
    IMPACT = "impact", "Recompute artifact impact"
    EMBEDDINGS = "embeddings", "Recompute spec embeddings"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    SKIPPED = "skipped", "Skipped (nothing to do)"
    FAILED = "failed", "Failed"


class RunReason(models.TextChoices):
    MANUAL = "manual", "Requested by a user"
    RECONCILE = "reconcile", "Periodic reconciliation"
    NEW_OUTCOMES = "new_outcomes", "New project outcomes"
    AFTER_TRAINING = "after_training", "After a training"
    SPEC_CHANGED = "spec_changed", "Project spec changed"
    BACKFILL = "backfill", "Backfill command"
    SEED = "seed", "Demo data seeding"


class ModelStatus(models.TextChoices):
    ACTIVE = "active", "Active (serves predictions)"
    CANDIDATE = "candidate", "Candidate (not promoted)"
    RETIRED = "retired", "Retired (was active)"


class ModelAction(models.TextChoices):
    AUTO_PROMOTED = "auto_promoted", "Promoted automatically (passes the skill gate, not worse forward in time)"
    KEPT = "kept", "Not promoted (fails the skill gate, or worse forward in time)"
    PROMOTED = "promoted", "Promoted by hand"
    ROLLED_BACK = "rolled_back", "Rolled back by hand"


class PredictionStatus(models.TextChoices):
    OK = "ok", "Predicted"
    INSUFFICIENT_DATA = "insufficient_data", "Too few completed projects"
    INSUFFICIENT_SKILL = "insufficient_skill", "The model does not beat the historical mean (skill gate)"
    NO_MODEL = "no_model", "No model trained yet"


class ImpactStatus(models.TextChoices):
    OK = "ok", "Computed"
    INSUFFICIENT_USAGE = "insufficient_usage", "Too little usage"
