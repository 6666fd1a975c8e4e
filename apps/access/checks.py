"""System check: every API route uses the access policy and declares its resource and actions.

A Warning (not an Error) so that a freshly merged, still undeclared route does not stop migrations and the dev
server; ``manage.py check --deploy --fail-level WARNING`` and the test suite fail on it.
"""

from django.core.checks import Tags, Warning, register

from apps.access import policy
from apps.access.declarations import route_problems


@register(Tags.security)
def access_declarations(app_configs, **kwargs):
    messages = [Warning(problem, id="access.W001") for problem in route_problems()]
    messages += [Warning(f"Permission matrix: {problem}", id="access.W002") for problem in policy.validate()]
    return messages
