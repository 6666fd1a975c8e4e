"""Tenant admin for runs: params, tags and latest metric values inline. Metric points themselves are not listed
(a run can hold millions); the API serves their history."""

from django.contrib import admin
from django.db.models import Count

from apps.metrics import services
from apps.metrics.models import LatestMetric, MetricPoint, Run, RunParam, RunTag


class RunParamInline(admin.TabularInline):
    """Params are immutable once logged: shown, not edited."""

    model = RunParam
    extra = 0
    fields = ["key", "value"]
    readonly_fields = ["key", "value"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RunTagInline(admin.TabularInline):
    model = RunTag
    extra = 0
    fields = ["key", "value"]


class LatestMetricInline(admin.TabularInline):
    model = LatestMetric
    extra = 0
    fields = ["key", "value", "step", "timestamp"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "latest metric values"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "project", "status", "start_time", "end_time", "metric_keys", "created_by"]
    list_filter = ["status", "lifecycle_stage", ("project", admin.RelatedOnlyFieldListFilter), "start_time"]
    search_fields = ["name", "=uuid", "project__name", "project__slug"]
    date_hierarchy = "start_time"
    list_select_related = ["project", "created_by"]
    readonly_fields = ["uuid", "created_by", "created_at"]
    fields = ["project", "name", "uuid", "status", "lifecycle_stage", "start_time", "end_time", "created_by"]
    raw_id_fields = ["project"]
    inlines = [RunParamInline, RunTagInline, LatestMetricInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(metric_key_count=Count("latest_metrics", distinct=True))

    @admin.display(description="metric keys", ordering="metric_key_count")
    def metric_keys(self, run) -> int:
        return run.metric_key_count

    def get_deleted_objects(self, objs, request):
        """Summarise what a delete removes instead of listing every metric point (the admin's default collector
        loads all related rows, which is unusable for long histories)."""
        runs = list(objs)
        points = MetricPoint.objects.filter(run__in=runs).count()
        params = RunParam.objects.filter(run__in=runs).count()
        tags = RunTag.objects.filter(run__in=runs).count()
        summary = [f"Run: {run}" for run in runs] + [
            f"{points} metric points, {params} params, {tags} tags",
        ]
        counts = {"runs": len(runs), "metric points": points, "params": params, "tags": tags}
        perms_needed = set() if self.has_delete_permission(request) else {"run"}
        return summary, counts, perms_needed, []

    def delete_model(self, request, obj):
        services.run_delete(run=obj)

    def delete_queryset(self, request, queryset):
        for run in queryset:
            services.run_delete(run=run)
