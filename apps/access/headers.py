"""Content-Security-Policy middleware: django-csp, with one documented relaxation for third-party pages.

Maestro's own pages (dashboard, login, error pages) get the strict policy from ``CONTENT_SECURITY_POLICY``: scripts
and styles only from this origin, no inline code. Django's admin writes inline ``style`` attributes and Swagger UI
injects ``<style>`` elements at run time, so paths in ``MAESTRO_CSP_INLINE_STYLE_PATHS`` also allow inline *styles*
(never inline scripts). A real Chromium checks both in tests/access/test_headers.py.
"""

from __future__ import annotations

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if request.path_info.startswith(tuple(settings.MAESTRO_CSP_INLINE_STYLE_PATHS)):
            parts.update = {**(parts.update or {}), "style-src": [UNSAFE_INLINE]}
        return parts
