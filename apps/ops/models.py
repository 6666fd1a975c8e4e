"""Records of tenant operations (public schema)."""

from django.db import models


class TenantExport(models.Model):
    """An archive written by ``export_tenant``: where it is, its SHA-256 and what it holds.

    ``drop_tenant`` accepts a tenant's deletion only when a recent export exists and its file still matches the
    recorded hash. Rows outlive the tenant (``schema_name`` is kept) as the history of what was exported.
    """

    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.SET_NULL, related_name="exports"
    )
    schema_name = models.CharField(max_length=63)
    path = models.CharField(max_length=1024)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    format_version = models.PositiveSmallIntegerField()
    with_secrets = models.BooleanField(default=False)
    row_count = models.BigIntegerField()
    file_count = models.PositiveIntegerField()
    created_by = models.CharField(max_length=150, blank=True, help_text="Operator or command that made it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["schema_name", "-created_at"], name="tenant_export_schema_idx")]

    def __str__(self) -> str:
        return f"{self.schema_name} export {self.created_at:%Y-%m-%d %H:%M} ({self.path})"
