"""``django.contrib.admin`` with the tenant admin site of ``apps.access.admin_site`` as its default site.

Kept apart from ``admin_site`` because INSTALLED_APPS imports this module before models can be imported.
"""

from django.contrib.admin.apps import AdminConfig


class TenantAdminConfig(AdminConfig):
    default_site = "apps.access.admin_site.TenantAdminSite"
