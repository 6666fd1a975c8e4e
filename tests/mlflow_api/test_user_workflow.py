"""The proof of MLflow compatibility for a typical user script: ``scripts/user_workflow.py``, unmodified MLflow code,
run with the real full ``mlflow==3.17.2`` package and scikit-learn (in their own virtualenv:
``tests/support/mlflow_venv.py``) against a live Maestro (gunicorn on the test database), configured only with
``MLFLOW_TRACKING_URI`` and ``MLFLOW_TRACKING_TOKEN``.

The eleven steps — log_params/log_metric, log_artifact, log_dict, list_artifacts, download_artifacts,
sklearn.log_model, pyfunc.load_model + predict, register_model, set_registered_model_alias + load
``models:/name@alias``, log_input(from_pandas), sklearn.autolog + fit — must all succeed, with byte-equal downloads,
a loaded model predicting what the trained one does, and autolog's params, metrics and model. Then Maestro's own
view of the same objects is checked: the run, the logged models, the registered model as a library artifact whose
zip download holds the very files MLflow downloaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

from apps.artifacts.models import ArtifactVersion
from apps.metrics.models import Run
from apps.mlflow_api.models import LoggedModel, ModelVersion
from tests.support.mlflow_venv import ensure_mlflow_venv

SCRIPT = Path(__file__).with_name("scripts") / "user_workflow.py"
STEPS = [
    "log_params_metrics", "log_artifact", "log_dict", "list_artifacts", "download_artifacts", "sklearn_log_model",
    "pyfunc_load_predict", "register_model", "alias_and_load", "log_input", "autolog_fit",
]  # fmt: skip
# What the same script gets from `mlflow server` 3.17.2 (bench/mlflow_compare.py runs it against both): the files
# mlflow.sklearn.log_model writes, and the params sklearn.autolog logs for Ridge.
LOGGED_MODEL_FILES = {"MLmodel", "conda.yaml", "input_example.json", "model.skops", "python_env.yaml",
                      "registered_model_meta", "requirements.txt", "serving_input_example.json"}  # fmt: skip
AUTOLOG_MODEL_FILES = ["MLmodel", "conda.yaml", "model.pkl", "python_env.yaml", "requirements.txt"]
AUTOLOG_PARAMS = {"alpha": "0.25", "copy_X": "True", "fit_intercept": "True", "max_iter": "None",
                  "positive": "False", "random_state": "None", "solver": "auto", "tol": "0.0001"}  # fmt: skip


@pytest.fixture(scope="module")
def mlflow_python() -> Path:
    return ensure_mlflow_venv(progress=lambda message: print(message, flush=True))


def _autolog_reference() -> dict[str, float]:
    """The training metrics sklearn.autolog logs for Ridge(alpha=0.25) on the script's split, computed here."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=7)
    model = Ridge(alpha=0.25).fit(X_train, y_train)
    predicted = model.predict(X_train)
    mse = mean_squared_error(y_train, predicted)
    return {
        "training_mean_squared_error": mse,
        "training_mean_absolute_error": mean_absolute_error(y_train, predicted),
        "training_r2_score": r2_score(y_train, predicted),
        "training_root_mean_squared_error": float(np.sqrt(mse)),
        "training_score": model.score(X_train, y_train),
    }


def test_unmodified_mlflow_user_script_runs_every_step_against_maestro(mlflow_env, mlflow_python):
    alpha, env, token, server = mlflow_env
    experiment, model_name = f"diabetes-{uuid.uuid4().hex[:8]}", f"diabetes-ridge-{uuid.uuid4().hex[:8]}"
    done = subprocess.run([str(mlflow_python), str(SCRIPT), experiment, model_name], env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    steps = report["steps"]
    failed = {name: step.get("error") for name, step in steps.items() if not step["ok"]}
    assert list(steps) == STEPS and not failed, json.dumps(failed, indent=1)[:6000]
    run_id = report["run_id"]

    assert steps["log_params_metrics"]["params"] == {"alpha": "0.5", "solver": "auto"}
    assert steps["log_params_metrics"]["metrics"] == {"train_loss": pytest.approx(1 / 3)}
    assert steps["list_artifacts"]["top"] == ["config", "docs"]
    assert steps["list_artifacts"]["docs"] == [["docs/notes.txt", False, 271]]
    downloaded = steps["download_artifacts"]
    assert downloaded["byte_equal"] is True
    assert downloaded["features"]["target"] == "progression" and len(downloaded["features"]["features"]) == 10

    logged = steps["sklearn_log_model"]
    model_id = logged["model_id"]
    assert logged["model_uri"] == f"models:/{model_id}" and logged["status"] == "READY"
    assert logged["source_run_id"] == run_id
    loaded = steps["pyfunc_load_predict"]
    assert loaded["same_predictions"] is True, loaded["max_difference"]
    assert set(loaded["files"]) == LOGGED_MODEL_FILES
    registered = steps["register_model"]
    assert registered["version"] == "1" and registered["source"] == f"models:/{model_id}"
    assert registered["run_id"] == run_id and registered["status"] == "READY"
    aliased = steps["alias_and_load"]
    assert aliased["alias_version"] == "1" and aliased["aliases"] == {"champion": "1"}
    assert aliased["same_predictions"] is True and aliased["same_by_version"] is True
    [(dataset, digest, tags)] = steps["log_input"]["datasets"]
    assert (dataset, digest, tags) == ("diabetes-train", steps["log_input"]["digest"], [["mlflow.data.context",
                                                                                       "training"]])  # fmt: skip

    autolog = steps["autolog_fit"]
    assert autolog["params"] == AUTOLOG_PARAMS
    reference = _autolog_reference()
    assert autolog["metrics"] == pytest.approx(reference, rel=1e-9)
    assert len(autolog["models"]) == 1 and autolog["model_files"] == AUTOLOG_MODEL_FILES
    assert autolog["model_metrics"] == sorted(reference)

    # Maestro's own view of the same objects
    with alpha.context():
        run = Run.objects.get(uuid=uuid.UUID(run_id))
        assert run.project.name == experiment and run.status == "finished"
        model = LoggedModel.objects.get(model_id=model_id)
        assert model.status == "LOGGED_MODEL_READY" and model.source_run_id == run.pk
        auto_model = LoggedModel.objects.get(model_id=autolog["models"][0])
        assert sorted(auto_model.metrics.values_list("key", flat=True)) == sorted(reference)
        version = ModelVersion.objects.select_related("registered_model__artifact").get(
            registered_model__artifact__name=model_name
        )
        artifact = version.registered_model.artifact
        assert artifact.type == "model" and version.logged_model_id == model.pk and version.run_id == run.pk
        library = ArtifactVersion.objects.get(pk=version.artifact_version_id)
        assert library.version == "1.0.0" and library.blob_id is None
        assert version.aliases.get().alias == "champion"

    # the library's download of the registered version is the folder MLflow wrote: the same bytes
    native = requests.Session()
    native.headers["Authorization"] = f"Bearer {token}"
    base = f"http://127.0.0.1:{server.port}"
    listed = native.get(f"{base}/api/v1/artifacts/{artifact.pk}/versions", timeout=30).json()["results"]
    assert [v["version"] for v in listed] == ["1.0.0"] and listed[0]["is_folder"] is True
    zipped = native.get(f"{base}{listed[0]['download_url']}", timeout=60)
    assert zipped.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    library_files = {name: hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()}
    # registered_model_meta is written by the client into its local copy of a models:/ download, not stored
    stored = {name: digest for name, digest in loaded["files"].items() if name != "registered_model_meta"}
    assert library_files == stored
