"""What a delivery's body says: the Maestro event envelope, or a Slack-compatible message, and the one-line summary
the bell and Slack show.

The body of an event is built the same way on every attempt (keys sorted, compact separators), so a retry sends
the same bytes; only the signature's timestamp changes.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from apps.webhooks.choices import PayloadFormat

PING = "ping"

SUMMARIES = {
    "run.finished": "Run “{run[name]}” finished in project “{project[name]}”.",
    "run.failed": "Run “{run[name]}” failed in project “{project[name]}”.",
    "model.trained": "Success model v{model[version]} trained on {model[n_samples]} projects (CV MAE {model[cv_mae]}).",
    "model.promoted": "Success model v{to_version} is now active (was {from_label}).",
    "model.rolled_back": "Success model rolled back from v{from_version} to v{to_version}.",
    "training.failed": "Model retraining run #{training_run_id} failed: {error}",
    "prediction.accuracy_dropped": "Prediction accuracy dropped: MAE {rolling_mae} over the last {window} scored "
    "predictions of model v{model_version} exceeds {threshold} (CV MAE {cv_mae} × {ratio}).",
    "artifact.version_created": "Version {version[version]} of artifact “{artifact[name]}” was added.",
    "project.completed": "Project “{project[name]}” was completed (success score {project[success_score]}).",
    PING: "Test delivery from Maestro to webhook “{subscription}”.",
}


class _Missing(dict):
    def __missing__(self, key):
        return "?"


def _fill(value: Any) -> Any:
    if isinstance(value, dict):
        return _Missing({key: _fill(item) for key, item in value.items()})
    return "?" if value is None else value


def summary(event_type: str, payload: dict) -> str:
    """A one-line, human sentence for the event (missing values shown as ``?`` rather than failing)."""
    template = SUMMARIES.get(event_type)
    if template is None:
        return event_type
    data = _fill(dict(payload))
    if event_type == "model.promoted":
        data["from_label"] = f"v{payload['from_version']}" if payload.get("from_version") else "none active"
    try:
        return template.format_map(data)
    except (KeyError, IndexError, TypeError, ValueError):
        return event_type


def envelope(event, *, schema: str) -> dict:
    """The Maestro JSON body: the event's identity, type, time, tenant, project and data."""
    return {
        "id": str(event.uuid),
        "type": event.type,
        "created_at": event.created_at,
        "tenant": schema,
        "project_id": event.project_id,
        "data": event.payload,
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(event, *, schema: str) -> dict:
    """A message for a Slack incoming webhook (``text`` for notifications, ``blocks`` for the layout)."""
    text = _slack_escape(summary(event.type, event.payload))
    context = _slack_escape(f"{event.type} · {schema} · {event.created_at:%Y-%m-%d %H:%M:%S} UTC · {event.uuid}")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def body(event, *, payload_format: str, schema: str) -> bytes:
    """The exact bytes sent (and signed) for ``event`` in ``payload_format``."""
    if payload_format == PayloadFormat.SLACK:
        document = slack_message(event, schema=schema)
    else:
        document = envelope(event, schema=schema)
    return json.dumps(document, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")).encode()
