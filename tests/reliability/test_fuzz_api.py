"""Quick API fuzzing inside the suite: schemathesis against the running server's own /api/schema/, every operation,
as admin, member and viewer, positive and negative data, stateful sequences. The full run (100 examples per
operation and phase, all phases for every role) is ``make fuzz`` (bench/fuzz_api.py); this one is bounded so the
suite stays fast: few examples per operation, and the (deterministic, request-heavy) coverage phase for the admin
only.

Pass: no server error, no response outside the schema, no undocumented status code, no undocumented content type
or header, no other schemathesis check failing except the two listed in ``fuzzing.TOLERATED`` — and every
operation of the schema requested by every role.
"""

from __future__ import annotations

import json
import os

import pytest
from django.db import connection

from apps.tenants.models import Tenant
from tests.support import fuzzing
from tests.support.celery import worker_env
from tests.support.tenants import make_tenant

pytestmark = [pytest.mark.slow]

EXAMPLES = int(os.environ.get("FUZZ_QUICK_EXAMPLES", "4"))
PHASES = {
    "admin": ("examples", "coverage", "fuzzing", "stateful"),
    "member": ("examples", "fuzzing", "stateful"),
    "viewer": ("examples", "fuzzing", "stateful"),
}


@pytest.fixture(scope="module")
def fuzz_target(live_server_url, _session_tenants, django_db_blocker):
    """A tenant of its own, committed (the server is another process), dropped at the end."""
    with django_db_blocker.unblock():
        ctx = make_tenant("fuzzquick", "Fuzz Quick")
        connection.set_schema_to_public()
        Tenant.objects.filter(pk=ctx.tenant.pk).update(max_users=100_000)
        target = fuzzing.FuzzTarget(
            base_url=f"http://localhost:{live_server_url.port}",
            tenant_host=ctx.host,
            schema=ctx.schema,
            env={**worker_env(), "LOG_LEVEL": "WARNING"},
        )
        fuzzing.seed(target)
        try:
            yield target
        finally:
            connection.set_schema_to_public()
            Tenant.objects.get(pk=ctx.tenant.pk).delete(force_drop=True)


def test_every_operation_survives_fuzzing_as_every_role(fuzz_target, tmp_path):
    schema_path = tmp_path / "schema.json"
    fuzzing.download_schema(fuzz_target, schema_path)
    schema = json.loads(schema_path.read_text())
    labels = fuzzing.operations(schema)
    results = [
        fuzzing.run_role(
            fuzz_target, role, schema_path, tmp_path, max_examples=EXAMPLES, phases=PHASES[role], seed=1, timing=False
        )
        for role in fuzzing.ROLES
    ]
    problems = fuzzing.print_report(
        results, schema, title="API fuzzing, quick (suite)", min_cases=1, tolerated=fuzzing.TOLERATED
    )
    assert not problems, "\n".join(problems)
    assert sum(result.cases for result in results) > len(labels) * len(fuzzing.ROLES)
