"""No plaintext token or password in any table of any schema, nor in any log record of the flows that handle them."""

import logging

import pytest
from django.core.management import call_command
from django.db import connection

from tests.support.access import make_principal

pytestmark = pytest.mark.django_db


def rows_containing(needle: str, schemas: tuple[str, ...]) -> list[str]:
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE'",
            [list(schemas)],
        )
        tables = cursor.fetchall()
        assert len(tables) > 20
        for schema, table in tables:
            cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}" t WHERE t::text LIKE %s', [f"%{needle}%"])
            if cursor.fetchone()[0]:
                found.append(f"{schema}.{table}")
    return found


def test_secrets_never_reach_the_database_or_the_logs(tenant_a, caplog, capfd):
    password = "Plaintext-Pass-4711-xyzzy"
    wrong_password = "Wrong-Guess-0815-plugh"
    caplog.set_level(logging.DEBUG)
    owner = make_principal(tenant_a, "owner")
    api = tenant_a.api(
        owner.token,
    )
    created_user = api.post("/api/v1/users", {"username": "pat", "password": password}, format="json")
    assert created_user.status_code == 201
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "pat", "password": wrong_password})
    assert client.post("/accounts/login/", {"username": "pat", "password": password}).status_code == 302
    client.post("/admin/login/", {"username": "pat", "password": wrong_password})
    token = api.post("/api/v1/tokens", {"name": "secret-test", "scope": "read"}, format="json").json()["token"]
    assert tenant_a.api(token).get("/api/v1/me").status_code == 200
    secret = token.rsplit("_", 1)[1]
    forged = token[: -len(secret)] + secret[::-1]
    assert tenant_a.api(forged).get("/api/v1/me").status_code == 401
    call_command("create_token", "--tenant", "alpha", "--user", "pat", "--name", "cli")
    cli_token = capfd.readouterr().out.strip().splitlines()[-1]
    assert cli_token.startswith("mae_alpha_")
    needles = {
        "password": password,
        "wrong password": wrong_password,
        "token secret": secret,
        "forged secret": secret[::-1],
        "cli token secret": cli_token.rsplit("_", 1)[1],
        "owner token secret": owner.token.rsplit("_", 1)[1],
    }
    for label, needle in needles.items():
        assert rows_containing(needle, ("alpha", "public")) == [], f"{label} stored in the database"
    logged = capfd.readouterr().err + "\n".join(str(r.__dict__) + r.getMessage() for r in caplog.records)
    assert "token authentication failed" in logged and "AXES" in logged  # the flows did log
    for label, needle in needles.items():
        assert needle not in logged, f"{label} appears in the logs"
