"""The bulk import page in a real browser: the file is uploaded with progress shown, a file with a bad row lists
every row's error and imports nothing, and a dry run of a valid file says so (nothing is written either way, so the
module leaves no committed data behind)."""

from __future__ import annotations

import json

import pytest

from apps.projects.models import Project
from tests.dashboard.test_browser_dashboard import _login, _shot
from tests.integrations.helpers import outside_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _rows(n: int) -> list[dict]:
    return [
        {"name": f"Browser import {i}", "problem_class": "nlp", "complexity_score": 40, "start_date": "2025-01-01",
         "completion_date": "2025-05-01", "success_score": 70,
         "team_members": [{"role": "ml_engineer", "experience_level": "mid", "years_experience": 3,
                           "contribution_hours": 200}]}
        for i in range(n)
    ]  # fmt: skip


def _upload(page, rows: list[dict], *, dry_run: bool) -> None:
    text = "\n".join(json.dumps(r) for r in rows).encode()
    page.set_input_files("#import-file", files=[{"name": "p.jsonl", "mimeType": "application/x-ndjson",
                                                 "buffer": text}])  # fmt: skip
    page.get_by_label("Only check the file (dry run)").set_checked(dry_run)
    page.get_by_role("button", name="Upload").click()


def test_the_import_page_shows_progress_and_every_rows_error(
    _session_tenants, django_db_blocker, live_server_url, page
):
    alpha = _session_tenants[0]

    def count():
        with django_db_blocker.unblock(), alpha.context():
            return Project.objects.count()

    before = outside_event_loop(count)
    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    page.goto(live_server_url.url(alpha.host, "/projects/import"))
    bad = _rows(3)
    bad[1]["complexity_score"] = 500
    bad[2]["team_members"][0]["role"] = "wizard"
    page._expect_http_errors = True  # the 400 naming the rows is the answer under test
    _upload(page, bad, dry_run=False)
    page.wait_for_selector('[data-testid="import-errors"]')
    rows = page.locator('[data-testid="import-errors"] tbody tr')
    cells = {tuple(rows.nth(i).locator("td").all_inner_texts()[:2]) for i in range(rows.count())}
    assert cells == {("2", "complexity_score"), ("3", "team_members[0].role")}
    assert page.locator("[data-import-status]").inner_text() == "Not imported."
    assert "nothing was imported" in page.locator("[data-import-result] p").inner_text()
    _shot(page, "project-import-errors")
    page._expect_http_errors = False
    _upload(page, _rows(3), dry_run=True)
    page.wait_for_selector("text=Dry run: all 3 projects are valid")
    assert page.locator("[data-import-status]").inner_text() == "Done."
    assert page.locator("progress").evaluate("p => p.value === p.max")  # the bar shows the upload finished
    assert page.locator('[data-testid="import-errors"]').count() == 0
    assert outside_event_loop(count) == before
