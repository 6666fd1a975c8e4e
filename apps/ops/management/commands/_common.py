"""Shared parsing for the operations commands."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from apps.tenants.models import Tenant


def get_tenant(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(schema_name=slug).first()
    if tenant is None or tenant.is_public:
        raise CommandError(f"No tenant with slug '{slug}'.")
    return tenant


def get_user(tenant: Tenant, username: str):
    """The user ``username`` of ``tenant``; call inside ``schema_context(tenant.schema_name)``."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user '{username}' in tenant '{tenant.schema_name}'.")
    return user


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)
