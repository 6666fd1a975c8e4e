"""Arbitrary JSON into every input serializer of the API: only validation errors, never another exception.

The serializers are enumerated the way /api/schema/ is built (drf-spectacular's endpoint enumerator and each
view's ``get_request_serializer()``), so a serializer added to any view is covered without editing this file. Each
receives hypothesis-generated JSON — arbitrary values, objects made of its own field names with hostile values
(NUL, lone surrogates, huge integers, NaN, 10 kB strings, injection strings) — full and partial (PATCH). ``is_valid``
must return, the errors must flatten into the shared error shape, and the database transaction must still be
usable afterwards (a value PostgreSQL refused would abort it).

The hand-written batch parser of the log-batch endpoint is held to the same rule.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import ComponentRegistry, force_instance, get_class
from drf_spectacular.settings import spectacular_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.metrics.validation import parse_log_batch
from maestro.api.exceptions import django_validation_to_drf, flatten_errors

HOSTILE_TEXT = [
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "NaN", "Infinity", "-Infinity", "1e400", "-0", "9" * 400,
    "' OR 1=1 --", "'; DROP TABLE projects_project; --", "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=1>", "../../etc/passwd", "..\\..\\windows\\win.ini", "%00", "\u202e", "😀" * 50,
    "x" * 10_000, "2026-13-45T25:61:61Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-15:00",
    "2026-01-01T00:00:00+16:30", "true", "null", "[]", "{}",
]  # fmt: skip
HUGE_INTEGERS = [2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**30)]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTEGERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(HOSTILE_TEXT),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def request_serializers() -> list[tuple[str, type, bool]]:
    """(label, serializer class, partial) of every operation that takes a body."""
    generator = SchemaGenerator(urlconf="maestro.urls")
    generator._initialise_endpoints()
    found: dict[tuple[type, bool], str] = {}
    for path, path_regex, method, view in generator._get_paths_and_endpoints():
        if method not in ("POST", "PUT", "PATCH"):
            continue
        view.request = spectacular_settings.GET_MOCK_REQUEST(method, path, view, None)
        schema = view.schema
        schema.registry, schema.path, schema.path_regex, schema.method = ComponentRegistry(), path, path_regex, method
        schema.path_prefix = ""
        requested = schema.get_request_serializer()
        candidates = requested.values() if isinstance(requested, dict) else [requested]
        for candidate in candidates:
            if candidate is None or not isinstance(force_instance(candidate), serializers.BaseSerializer):
                continue
            key = (get_class(candidate), method == "PATCH")
            found.setdefault(key, f"{method} {path}")
    return [(label, cls, partial) for (cls, partial), label in sorted(found.items(), key=lambda item: item[1])]


SERIALIZERS = request_serializers()


def payloads(serializer_class):
    fields = list(serializer_class().fields) if callable(serializer_class) else []
    field_values = st.one_of(json_values, st.sampled_from(HOSTILE_TEXT), st.sampled_from(HUGE_INTEGERS))
    shaped = st.fixed_dictionaries({}, optional={name: field_values for name in fields})
    return st.one_of(shaped, shaped, json_values)


def test_every_body_taking_operation_has_a_serializer_here():
    labels = {label.split(" ", 1)[1].split("{")[0] for label, _, _ in SERIALIZERS}
    assert len(SERIALIZERS) >= 20, SERIALIZERS
    for prefix in ("/api/v1/projects/", "/api/v1/runs/", "/api/v1/artifacts/", "/api/v1/tokens/", "/api/v1/users/"):
        assert prefix in labels


@pytest.fixture
def drf_context(tenant_a):
    from apps.accounts.models import User

    with tenant_a.context():
        user = User.objects.get(username=tenant_a.admin_username)
        request = Request(APIRequestFactory().post("/api/v1/", {}, format="json"))
        request.user = user
        request.tenant = tenant_a.tenant
        yield {"request": request}


@pytest.mark.parametrize(("label", "serializer_class", "partial"), SERIALIZERS, ids=[s[0] for s in SERIALIZERS])
def test_serializer_answers_arbitrary_json_with_validation_errors_only(label, serializer_class, partial, drf_context):
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(payloads(serializer_class))
    def check(data):
        serializer = serializer_class(data=data, partial=partial, context=drf_context)
        valid = serializer.is_valid()
        if not valid:
            errors = flatten_errors(serializer.errors)
            assert errors and all(error["message"] for error in errors), serializer.errors
        with connection.cursor() as cursor:  # the transaction is still usable: nothing was refused by PostgreSQL
            cursor.execute("SELECT 1")

    check()


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                kind: st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            name: st.one_of(json_scalars, st.sampled_from(HUGE_INTEGERS))
                            for name in ("key", "value", "step", "timestamp")
                        },
                    )
                    | json_values,
                    max_size=5,
                )
                | json_values
                for kind in ("metrics", "params", "tags")
            },
        ),
    )
)
def test_log_batch_parser_answers_arbitrary_json_with_validation_errors_only(data):
    try:
        parse_log_batch(data)
    except DjangoValidationError as exc:
        assert flatten_errors(django_validation_to_drf(exc).detail)
