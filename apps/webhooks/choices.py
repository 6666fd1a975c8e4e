from django.db import models


class PayloadFormat(models.TextChoices):
    MAESTRO = "maestro", "Maestro JSON (signed event envelope)"
    SLACK = "slack", "Slack-compatible message (incoming-webhook URL)"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # not attempted yet
    RETRYING = "retrying", "Retrying"  # failed at least once; next attempt scheduled
    SUCCEEDED = "succeeded", "Succeeded"  # the receiver answered 2xx
    DEAD = "dead", "Dead-lettered"  # every attempt failed; only a resend sends it again


OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
