"""The shell examples of docs/integrations.md run as written (curl + openssl + jq) against a real
gunicorn: create integrations, sign and send deliveries, read metrics."""

import json
import re
import shutil
import subprocess

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from apps.accounts.services import token_create
from tests.integrations.factories import ProjectFactory
from tests.integrations.helpers import outside_event_loop

pytestmark = pytest.mark.slow


def _examples() -> list[str]:
    page = (settings.BASE_DIR / "docs" / "integrations.md").read_text()
    return re.findall(r"```bash\n(.*?)```", page, flags=re.S)


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("curl", "openssl", "jq")), reason="needs curl/openssl/jq")
def test_readme_examples_run_as_written(committed, live_server_url):
    alpha, _beta = committed

    def create():
        with alpha.context():
            project = ProjectFactory()
            return project, token_create(user=get_user_model().objects.get(username="admin"), name="readme-example")

    def delete():
        with alpha.context():
            project.delete()
            token.token.delete()

    project, token = outside_event_loop(create)
    github_block, gitlab_block = _examples()[:2]
    setup = "\n".join(
        [
            f"BASE={live_server_url.url(alpha.host, '').rstrip('/')}",
            f"TOKEN={token.plaintext}",
            f"PROJECT={project.pk}",
        ]
    )
    github_script = "\n".join(
        line for line in github_block.splitlines() if not re.match(r"(BASE|TOKEN|PROJECT)=", line)
    )
    gitlab_setup = (
        'CREATED=$(curl -s -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
        '-d \'{"provider": "gitlab", "name": "acme/gl"}\' "$BASE/api/v1/projects/$PROJECT/integrations")\n'
        'HOOK_URL=$(echo "$CREATED" | jq -r .webhook_url)\nSECRET=$(echo "$CREATED" | jq -r .secret)\n'
    )
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f"{setup}\n{github_script}\necho\n{gitlab_setup}{gitlab_block}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs, text, decoder = [], result.stdout.strip(), json.JSONDecoder()
        while text:
            value, end = decoder.raw_decode(text)
            outputs.append(value)
            text = text[end:].strip()
        processed, metrics, gitlab = outputs
        assert processed == {
            "status": "processed", "delivery": "readme-example-1", "commits": 1, "pull_requests": 0, "reviews": 0,
            "ci_runs": 0,
        }  # fmt: skip
        assert metrics["project"] == project.pk and metrics["metrics"]["active_contributors"]["value"] == 1
        assert metrics["metrics"]["commit_frequency"]["n"] == 1
        assert gitlab["status"] == "processed" and gitlab["commits"] == 1
    finally:
        outside_event_loop(delete)
