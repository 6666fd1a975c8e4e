"""Filters for the audit trail, shared by the list and the CSV export."""

import django_filters
from django.db.models import Q

from apps.audit.models import ActorType, AuditEvent, Category, Source


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="filter_actor", help_text="Username or API token prefix of the actor.")
    actor_id = django_filters.NumberFilter()
    actor_type = django_filters.ChoiceFilter(choices=ActorType.choices)
    action = django_filters.CharFilter(help_text="Exact action, e.g. token.revoked.")
    action_prefix = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", help_text="Action prefix, e.g. auth. or project."
    )
    category = django_filters.ChoiceFilter(choices=Category.choices)
    source = django_filters.ChoiceFilter(choices=Source.choices)
    object_type = django_filters.CharFilter(help_text="app_label.model, e.g. accounts.apitoken")
    object_id = django_filters.CharFilter()
    request_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="ISO 8601 date-time, inclusive."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", help_text="ISO 8601 date-time, exclusive."
    )

    class Meta:
        model = AuditEvent
        fields = []

    def filter_actor(self, queryset, name, value):
        # Through the identity: an erased user's former name matches nothing.
        return queryset.filter(Q(actor__username=value, actor__erased_at__isnull=True) | Q(actor_token=value))
