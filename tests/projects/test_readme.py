"""The shell examples of docs/projects.md and docs/artifacts.md run as written (curl + jq) against a real gunicorn
on the test database, through the platform host (requests routed by their token)."""

import re
import shutil
import subprocess

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from apps.accounts.services import token_create
from apps.artifacts.models import Artifact, ArtifactBlob, ArtifactUsage, ArtifactVersion
from apps.projects.models import Project, ScoringSettings, TeamMember
from tests.integrations.helpers import outside_event_loop

pytestmark = pytest.mark.slow
MODELS = [ArtifactUsage, TeamMember, Project, ArtifactVersion, ArtifactBlob, Artifact]


def _bash_examples() -> str:
    blocks = []
    for page in ("projects.md", "artifacts.md"):
        text = (settings.BASE_DIR / "docs" / page).read_text()
        blocks += [b for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S) if "bench/" not in b]
    return "\n".join(blocks)


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("curl", "jq")), reason="needs curl and jq")
def test_readme_examples_run_as_written(committed, live_server_url, tmp_path):
    alpha, _beta = committed

    def prepare():
        with alpha.context():
            created = token_create(
                user=get_user_model().objects.get(username="admin"), name="readme-projects", scope="admin"
            )
            high_water = {model: (model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)
                          for model in MODELS}  # fmt: skip
            return created, high_water, ScoringSettings.objects.exists()

    def clean_up():
        with alpha.context():
            for model in MODELS:
                model.objects.filter(pk__gt=high_water[model]).delete()
            if not had_settings:
                ScoringSettings.objects.all().delete()
            token.token.delete()

    token, high_water, had_settings = outside_event_loop(prepare)
    script = _bash_examples()
    assert "create_token --tenant demo" in script and "--scope admin" in script and "http://localhost:8000" in script
    script = re.sub(r"^TOKEN=\$\(.*\)$", f"TOKEN={token.plaintext}", script, flags=re.M)
    script = script.replace("http://localhost:8000", f"http://localhost:{live_server_url.port}")
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr + result.stdout
        out = result.stdout
        assert '"churn-model"' in out
        assert '"field": "business_impact"' in out and '"field": "compute_cost"' in out
        assert '"success_score": 76.4' in out and '"success_score_source": "computed"' in out
        assert '"w_cost_efficiency": 0.1' in out
        assert "HTTP/1.1 200 OK" in out and 'Content-Disposition: attachment; filename="rfm.py"' in out
        assert "identical" in out and "is not a semantic version" in out
        assert '"context": "baseline features"' in out and '"usage_count": 1' in out
        assert (tmp_path / "rfm-download.py").read_bytes() == (tmp_path / "rfm.py").read_bytes()
    finally:
        outside_event_loop(clean_up)
