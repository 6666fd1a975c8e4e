"""JSON schemas for the custom resources in deploy/kubernetes/, which kubernetes-validate does not know.

A documented structural check, not the upstream schemas: each schema lists exactly the fields Maestro's manifests use,
with the types, enumerations and patterns of the upstream CRDs' ``openAPIV3Schema`` (prometheus-operator's
``monitoring.coreos.com_podmonitors.yaml`` and ``monitoring.coreos.com_prometheusrules.yaml``, operator v0.82–v0.91;
KEDA v2's ``ScaledObject``/``TriggerAuthentication`` and its Redis-lists scaler), and ``additionalProperties: false``
everywhere. So a misspelt or misplaced field fails here, where the API server would silently prune it; a field the
manifests start to use must be added here, checked against the CRD of the operator version in use.
"""

from __future__ import annotations

DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
STRING = {"type": "string"}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def _object(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


METADATA = _object(
    {"name": {"type": "string", "minLength": 1}, "namespace": {"type": "string"}, "labels": STRING_MAP,
     "annotations": STRING_MAP},
    ("name",),
)  # fmt: skip
LABEL_SELECTOR = _object({"matchLabels": STRING_MAP})
SECRET_KEY_SELECTOR = _object({"name": {"type": "string"}, "key": {"type": "string"}}, ("key",))


def _resource(api_version: str, kind: str, spec: dict) -> dict:
    return _object(
        {"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": METADATA, "spec": spec},
        ("apiVersion", "kind", "metadata", "spec"),
    )


POD_MONITOR = _resource(
    "monitoring.coreos.com/v1",
    "PodMonitor",
    _object(
        {
            "jobLabel": {"type": "string"},
            "selector": LABEL_SELECTOR,
            "podMetricsEndpoints": {
                "type": "array",
                "items": _object(
                    {
                        "port": {"type": "string"},
                        "path": {"type": "string"},
                        "interval": {"type": "string", "pattern": DURATION},
                        "authorization": _object({"type": {"type": "string"}, "credentials": SECRET_KEY_SELECTOR}),
                    }
                ),
            },
        },
        ("selector",),
    ),
)

PROMETHEUS_RULE = _resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    _object(
        {
            "groups": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string", "minLength": 1},
                        "interval": {"type": "string", "pattern": DURATION},
                        "rules": {
                            "type": "array",
                            "items": _object(
                                {
                                    "alert": {"type": "string"},
                                    "record": {"type": "string"},
                                    "expr": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                                    "for": {"type": "string", "pattern": DURATION},
                                    "labels": STRING_MAP,
                                    "annotations": STRING_MAP,
                                },
                                ("expr",),
                            ),
                        },
                    },
                    ("name",),
                ),
            }
        }
    ),
)

SCALED_OBJECT = _resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    _object(
        {
            "scaleTargetRef": _object(
                {"name": {"type": "string"}, "kind": {"type": "string"}, "apiVersion": {"type": "string"}}, ("name",)
            ),
            "minReplicaCount": {"type": "integer", "minimum": 0},
            "maxReplicaCount": {"type": "integer", "minimum": 1},
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": {"type": "integer", "minimum": 0},
            "triggers": {
                "type": "array",
                "minItems": 1,
                "items": _object(
                    {
                        "type": {"enum": ["redis"]},
                        "metadata": _object(
                            {
                                "listName": {"type": "string"},
                                "listLength": {"type": "string", "pattern": r"^[0-9]+$"},
                                "activationListLength": {"type": "string", "pattern": r"^[0-9]+$"},
                                "databaseIndex": {"type": "string", "pattern": r"^[0-9]+$"},
                            },
                            ("listName", "listLength"),
                        ),
                        "authenticationRef": _object({"name": {"type": "string"}}, ("name",)),
                    },
                    ("type", "metadata"),
                ),
            },
        },
        ("scaleTargetRef", "triggers"),
    ),
)

TRIGGER_AUTHENTICATION = _resource(
    "keda.sh/v1alpha1",
    "TriggerAuthentication",
    _object(
        {
            "secretTargetRef": {
                "type": "array",
                "items": _object(
                    {"parameter": {"enum": ["address", "password"]}, "name": {"type": "string"}, "key": STRING},
                    ("parameter", "name", "key"),
                ),
            }
        }
    ),
)

SCHEMAS = {
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
}
