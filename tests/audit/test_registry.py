"""Every tenant model is either audited or exempt with a reason — a new model fails here until declared."""

from django.apps import apps
from django.conf import settings

from apps.audit.registry import AUDITED, NOT_AUDITED, exemption_for, registered


def _tenant_models():
    labels = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}
    for config in apps.get_app_configs():
        if config.label in labels or config.name in settings.TENANT_APPS:
            yield from config.get_models()


def test_every_tenant_model_is_audited_or_exempt_with_a_reason():
    audited = registered()
    undeclared = [
        m._meta.label for m in _tenant_models() if m not in audited and not exemption_for(m) and not m._meta.proxy
    ]
    assert undeclared == [], f"declare these in apps/audit/registry.py (AUDITED or NOT_AUDITED): {undeclared}"
    both = [m._meta.label for m in audited if exemption_for(m)]
    assert both == []
    assert all(reason.strip() for reason in NOT_AUDITED.values())


def test_defaults_are_registered_with_signals_only_for_their_models():
    from django.db.models import signals

    audited = registered()
    assert set(AUDITED) <= {m._meta.label for m in audited}
    metric_point = apps.get_model("metrics", "MetricPoint")
    # High-volume tables keep Django's fast delete: no receivers are connected for them.
    assert not signals.post_delete.has_listeners(metric_point)
    assert not signals.pre_delete.has_listeners(metric_point)
    assert signals.post_save.has_listeners(apps.get_model("accounts", "User"))
