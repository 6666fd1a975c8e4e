"""Schemathesis hooks (loaded through ``SCHEMATHESIS_HOOKS`` by ``tests.support.fuzzing.run_role``).

Every generated request gets the token of the principal ``FUZZ_ROLE`` in tenant ``FUZZ_SCHEMA``, repaired first by
``ensure_principal`` (a fuzzed admin revokes tokens and deactivates users, its own principal's included). The
process opens the database named by ``DATABASE_URL`` with ``DJANGO_SETTINGS_MODULE``, like the server under test.
"""

from __future__ import annotations

import os
import threading

import django
import schemathesis

django.setup()

from tests.support.fuzzing import ensure_principal  # noqa: E402

SCHEMA = os.environ["FUZZ_SCHEMA"]
ROLE = os.environ["FUZZ_ROLE"]
_lock = threading.Lock()


@schemathesis.auth(refresh_interval=None)
class RepairedPrincipalToken:
    def get(self, case, context):
        with _lock:
            return ensure_principal(SCHEMA, ROLE)

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
