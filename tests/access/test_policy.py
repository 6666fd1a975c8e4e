"""The matrix as data: consistent, documented verbatim in docs/access.md, printable, and its helpers."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.access import policy
from apps.access.policy import Rule


def test_the_docs_show_exactly_the_enforced_matrix():
    page = (Path(settings.BASE_DIR) / "docs" / "access.md").read_text()
    assert policy.markdown_table() in page, "docs/access.md matrix differs: paste `manage.py access_matrix` into it"


def test_access_matrix_command_prints_the_table(capsys):
    call_command("access_matrix")
    assert capsys.readouterr().out.strip() == policy.markdown_table()


def test_every_resource_has_four_rules_and_admins_are_never_below_others():
    assert policy.validate() == []
    for rule in policy.RULES:
        if any(rule.cell(p) for p in policy.PRINCIPALS):
            assert rule.owner == policy.ALL, rule
            if (rule.resource, rule.action) in policy.OWNER_ONLY:  # owners alone, each with a reason
                assert not any(rule.cell(p) for p in policy.PRINCIPALS[1:]), rule
            else:
                assert rule.admin == policy.ALL, rule


def test_owner_only_rules_are_reported_unless_listed(monkeypatch):
    monkeypatch.setattr(policy, "OWNER_ONLY", {})
    assert "sso_settings.change: owners and admins hold all, unless listed in OWNER_ONLY" in policy.validate()


def test_validate_reports_broken_rules(monkeypatch):
    broken = (*policy.RULES[:-1], Rule("me", "delete", "bogus", None, None, None, None, None, None))
    monkeypatch.setattr(policy, "RULES", broken)
    assert any("unknown cell value" in p for p in policy.validate())


@pytest.mark.parametrize(
    ("token", "required", "allowed"),
    [("read", "read", True), ("read", "write", False), ("write", "admin", False), ("admin", "write", True),
     (None, "admin", True)],
)  # fmt: skip
def test_scope_order(token, required, allowed):
    assert policy.scope_allows(token, required) is allowed


def test_principal_of():
    class Fake:
        is_authenticated = True
        is_service_account = False
        role = "lead"

    assert policy.principal_of(Fake()) == "lead"
    Fake.is_service_account = True
    assert policy.principal_of(Fake()) == "service"
    assert policy.principal_of(None) is None
    with pytest.raises(policy.PolicyError):
        policy.rule_for("projects", "promote")
