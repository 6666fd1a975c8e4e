"""Artifact library pages: search, filters, sort by impact or usage; an artifact with its versions (upload through
the page, download back), the projects using it; roles and tenants."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from apps.artifacts.models import Artifact, ArtifactVersion
from tests.artifacts.factories import ArtifactFactory, ArtifactVersionFactory
from tests.dashboard.helpers import signed_in, text
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _names(html: str) -> list[str]:
    table = html.split('data-testid="artifact-table"', 1)[1]
    return re.findall(r'<a href="/artifacts/\d+/">([^<]+)</a>', table)


@pytest.fixture
def library(tenant_a):
    with tenant_a.context():
        rows = {
            "rfm": ArtifactFactory(name="rfm-features", type="feature_pipeline", tags=["retail"], usage_count=5,
                                   impact_score=None, description="Recency, frequency, monetary value."),
            "prompt": ArtifactFactory(name="summary-prompt", type="prompt", tags=["nlp"], usage_count=2,
                                      impact_score=6.5),
            "bert": ArtifactFactory(name="bert-base", type="model", tags=["nlp"], usage_count=9, impact_score=-1.5),
            "old": ArtifactFactory(name="old-schema", type="schema", is_active=False, usage_count=20),
        }  # fmt: skip
    return rows


def test_list_sorts_by_impact_then_usage_and_hides_inactive(tenant_a, library):
    client = signed_in(tenant_a).client
    html = client.get("/artifacts/").content.decode()
    assert _names(html) == ["summary-prompt", "bert-base", "rfm-features"]
    assert "+6.5" in html and "−1.5" in html and "not enough usage yet" in html
    by_usage = client.get("/artifacts/?sort=usage").content.decode()
    assert _names(by_usage) == ["bert-base", "rfm-features", "summary-prompt"]
    assert _names(client.get("/artifacts/?sort=usage&inactive=on").content.decode())[0] == "old-schema"
    by_name = client.get("/artifacts/?sort=name").content.decode()
    assert _names(by_name) == ["bert-base", "rfm-features", "summary-prompt"]


def test_list_searches_and_filters_by_type_and_tag(tenant_a, library):
    client = signed_in(tenant_a).client
    assert _names(client.get("/artifacts/?q=monetary").content.decode()) == ["rfm-features"]
    assert _names(client.get("/artifacts/?type=prompt").content.decode()) == ["summary-prompt"]
    assert _names(client.get("/artifacts/?tag=nlp&sort=name").content.decode()) == ["bert-base", "summary-prompt"]
    partial = client.get("/artifacts/?tag=nlp", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'id="artifact-results"' in partial


def test_create_and_edit_artifact_with_validation(tenant_a, library):
    client = signed_in(tenant_a).client
    taken = client.post("/artifacts/new", {"name": "rfm-features", "type": "prompt"}).content.decode()
    assert "Please correct the highlighted fields." in taken and "already exists" in taken
    created = client.post(
        "/artifacts/new", {"name": "churn-labels", "type": "dataset", "tags": "Retail, labels", "is_active": "on"}
    )
    with tenant_a.context():
        artifact = Artifact.objects.get(name="churn-labels")
    assert created["Location"] == f"/artifacts/{artifact.pk}/"
    assert artifact.tags == ["retail", "labels"] and artifact.is_active and artifact.usage_count == 0
    client.post(
        f"/artifacts/{artifact.pk}/edit",
        {"name": "churn-labels", "type": "dataset", "tags": "labels", "description": "Who left, and when."},
    )
    with tenant_a.context():
        artifact.refresh_from_db()
    assert artifact.tags == ["labels"] and artifact.description == "Who left, and when." and not artifact.is_active


def test_upload_a_version_through_the_page_and_download_it_back_identical(tenant_a, library):
    client = signed_in(tenant_a).client
    artifact = library["rfm"]
    content = b"def rfm(df):\n    return df.groupby('customer').agg(...)\n" * 50
    response = client.post(
        f"/artifacts/{artifact.pk}/versions",
        {"version": "1.2.0", "changelog": "Faster groupby.", "file": SimpleUploadedFile("../../rfm.py", content)},
    )
    assert response.status_code == 302 and response["Location"] == f"/artifacts/{artifact.pk}/#versions"
    with tenant_a.context():
        version = ArtifactVersion.objects.get(artifact=artifact)
    assert (version.version, version.filename, version.blob.sha256) == (
        "1.2.0", "rfm.py", hashlib.sha256(content).hexdigest()
    )  # fmt: skip
    html = client.get(f"/artifacts/{artifact.pk}/").content.decode()
    link = re.search(r'<a href="([^"]+/download)" download="rfm.py">Download rfm.py</a>', html).group(1)
    assert "Version 1.2.0 uploaded." in html and "Faster groupby." in html
    download = client.get(link)
    assert download.status_code == 200 and b"".join(download.streaming_content) == content


def test_upload_refuses_bad_versions_duplicates_and_large_files(tenant_a, library):
    client = signed_in(tenant_a).client
    artifact = library["rfm"]
    bad = client.post(f"/artifacts/{artifact.pk}/versions", {"version": "v1.0"}).content.decode()
    assert '<details class="upload" open>' in bad and "semantic version" in bad.lower()
    client.post(f"/artifacts/{artifact.pk}/versions", {"version": "1.0.0"})
    again = client.post(f"/artifacts/{artifact.pk}/versions", {"version": "1.0.0"}).content.decode()
    assert "Version 1.0.0 of &#x27;rfm-features&#x27; already exists." in again
    with override_settings(ARTIFACT_MAX_UPLOAD_BYTES=100):
        big = client.post(
            f"/artifacts/{artifact.pk}/versions",
            {"version": "2.0.0", "file": SimpleUploadedFile("big.bin", b"x" * 500)},
        ).content.decode()
    assert "larger than the upload limit of 100 bytes" in big
    with tenant_a.context():
        assert list(ArtifactVersion.objects.filter(artifact=artifact).values_list("version", flat=True)) == ["1.0.0"]


def test_upload_without_csrf_token_is_refused(tenant_a, library):
    person = signed_in(tenant_a)
    strict = tenant_a.client()
    strict.handler.enforce_csrf_checks = True
    strict.cookies = person.client.cookies
    response = strict.post(f"/artifacts/{library['rfm'].pk}/versions", {"version": "1.0.0"})
    assert response.status_code == 403
    with tenant_a.context():
        assert not ArtifactVersion.objects.exists()


def test_detail_lists_versions_and_projects_using_it(tenant_a, library):
    artifact = library["prompt"]
    with tenant_a.context():
        old = ArtifactVersionFactory(artifact=artifact, version="0.9.0", major=0, minor=9)
        new = ArtifactVersionFactory(artifact=artifact, version="1.0.0", major=1, minor=0)
        for name, version in (("Chat summaries", new), ("Call notes", old)):
            project = ProjectFactory(name=name)
            project.artifact_usages.create(artifact_version=version, artifact=artifact, context=f"{name} context")
    html = signed_in(tenant_a).client.get(f"/artifacts/{artifact.pk}/").content.decode()
    assert re.findall(r'data-version="([^"]+)"', html) == ["1.0.0", "0.9.0"]
    usages = text(html.split('data-testid="usage-list"', 1)[1].split("</ul>", 1)[0])
    assert "Chat summaries 1.0.0" in usages and "Call notes 0.9.0" in usages


def test_viewer_sees_no_upload_or_edit_and_gets_403(tenant_a, library):
    viewer = signed_in(tenant_a, role="viewer").client
    artifact = library["rfm"]
    assert "New artifact" not in viewer.get("/artifacts/").content.decode()
    html = viewer.get(f"/artifacts/{artifact.pk}/").content.decode()
    assert "Upload a new version" not in html and "/edit" not in html
    assert viewer.post(f"/artifacts/{artifact.pk}/versions", {"version": "1.0.0"}).status_code == 403
    assert viewer.post("/artifacts/new", {"name": "x", "type": "prompt"}).status_code == 403
    assert viewer.get(f"/artifacts/{artifact.pk}/edit").status_code == 403
    with tenant_a.context():
        assert not ArtifactVersion.objects.exists() and not Artifact.objects.filter(name="x").exists()


def test_other_tenants_artifacts_are_invisible(tenant_a, tenant_b, library):
    with tenant_b.context():
        other = ArtifactFactory(name="beta-only-artifact")
    html = signed_in(tenant_a).client.get("/artifacts/?inactive=on").content.decode()
    assert "beta-only-artifact" not in html
    response = signed_in(tenant_a).client.get(f"/artifacts/{other.pk}/")
    assert response.status_code == 404 or "beta-only-artifact" not in response.content.decode()
