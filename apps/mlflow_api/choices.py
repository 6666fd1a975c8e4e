from django.db import models


class LoggedModelStatus(models.TextChoices):
    """MLflow 3's LoggedModelStatus (its protobuf enum names are what the JSON API carries)."""

    PENDING = "LOGGED_MODEL_PENDING", "Pending (files being uploaded)"
    READY = "LOGGED_MODEL_READY", "Ready"
    FAILED = "LOGGED_MODEL_UPLOAD_FAILED", "Upload failed"


# The protobuf numbers of LoggedModelStatus: finalize requests may send either the name or the number.
LOGGED_MODEL_STATUS_NUMBERS = {1: LoggedModelStatus.PENDING, 2: LoggedModelStatus.READY, 3: LoggedModelStatus.FAILED}


class ModelStage(models.TextChoices):
    """The model registry's stages (deprecated since MLflow 2.9 in favour of aliases, still served by MLflow 3)."""

    NONE = "None", "None"
    STAGING = "Staging", "Staging"
    PRODUCTION = "Production", "Production"
    ARCHIVED = "Archived", "Archived"


class ModelLinkKind(models.TextChoices):
    """How a run relates to a logged model: it used it (``log-inputs``) or produced it (``log-outputs``)."""

    INPUT = "input", "Input"
    OUTPUT = "output", "Output"
