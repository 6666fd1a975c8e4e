"""Dashboard URLs of the audit trail (mounted at the tenant's root)."""

from django.urls import path

from apps.audit import views

app_name = "audit"

urlpatterns = [
    path("manage/audit", views.audit_log, name="log"),
    path("manage/audit/export", views.audit_export, name="export"),
]
