"""drf-spectacular extensions so /api/schema/ describes Maestro's own pieces truthfully."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mae_<tenant>_<prefix>_<secret>",
            "description": "A Maestro API token. It names its tenant, so requests may go to the platform host.",
        }
