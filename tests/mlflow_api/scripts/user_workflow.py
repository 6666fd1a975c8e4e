"""A typical MLflow user script: track a run, log files, train and log a scikit-learn model, load it back,
register it, give it an alias, load it by alias, record a dataset input, and let autolog do all of it again.

It is plain MLflow code with no knowledge of Maestro: the tracking server comes from MLFLOW_TRACKING_URI (and the
credentials, if any, from MLFLOW_TRACKING_TOKEN). It runs each of the eleven steps, records whether it worked and
what it produced, and prints one JSON report on its last line:

    {"steps": {"log_params_metrics": {"ok": true, ...}, ...}}

A failing step records {"ok": false, "error": "..."} and the script goes on with the next one; every step also
records how long it took ("seconds").

    python user_workflow.py <experiment name> <registered model name>
"""

import hashlib
import json
import os
import sys
import tempfile
import time
import traceback

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

STEPS = {}
STATE = {}


def step(name):
    def wrap(function):
        started = time.perf_counter()
        try:
            result = function() or {}
            STEPS[name] = {"ok": True, **result}
        except Exception as exc:  # report and continue: the table shows every step
            STEPS[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000],
                           "trace": traceback.format_exc()[-3000:]}  # fmt: skip
        STEPS[name]["seconds"] = round(time.perf_counter() - started, 3)
        return function

    return wrap


def sha256_of_tree(root):
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                digests[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return digests


def main(experiment_name, model_name):
    mlflow.set_experiment(experiment_name)
    client = MlflowClient()
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=7)
    work = tempfile.mkdtemp(prefix="user-workflow-")
    run = mlflow.start_run(run_name="ridge-baseline")
    STATE["run_id"] = run.info.run_id

    @step("log_params_metrics")
    def _():
        mlflow.log_params({"alpha": 0.5, "solver": "auto"})
        for epoch in range(3):
            mlflow.log_metric("train_loss", 1.0 / (epoch + 1), step=epoch)
        logged = client.get_run(run.info.run_id).data
        return {"params": logged.params, "metrics": logged.metrics}

    @step("log_artifact")
    def _():
        path = os.path.join(work, "notes.txt")
        with open(path, "wb") as handle:
            handle.write(b"ridge baseline\n" + bytes(range(256)))
        mlflow.log_artifact(path, artifact_path="docs")
        with open(path, "rb") as handle:
            STATE["notes_sha256"] = hashlib.sha256(handle.read()).hexdigest()

    @step("log_dict")
    def _():
        mlflow.log_dict({"features": list(X.columns), "target": "progression"}, "config/features.json")

    @step("list_artifacts")
    def _():
        top = sorted(info.path for info in client.list_artifacts(run.info.run_id))
        docs = [(info.path, info.is_dir, info.file_size) for info in client.list_artifacts(run.info.run_id, "docs")]
        return {"top": top, "docs": docs}

    @step("download_artifacts")
    def _():
        target = os.path.join(work, "downloaded")
        os.makedirs(target)
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="docs", dst_path=target)
        with open(os.path.join(local, "notes.txt"), "rb") as handle:
            downloaded = hashlib.sha256(handle.read()).hexdigest()
        features = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/config/features.json")
        return {"byte_equal": downloaded == STATE.get("notes_sha256"), "features": features}

    model = Ridge(alpha=0.5).fit(X_train, y_train)
    expected = model.predict(X_test)

    def same(predicted) -> bool:
        """The loaded model predicts what the trained one does (to float rounding: pyfunc feeds the frame's
        columns as one array, which may sum in another order)."""
        return bool(np.allclose(np.asarray(predicted), expected, rtol=1e-12, atol=1e-9))

    @step("sklearn_log_model")
    def _():
        info = mlflow.sklearn.log_model(model, name="model", input_example=X_train.head(3))
        STATE["model_uri"] = info.model_uri
        STATE["model_id"] = info.model_id
        logged = mlflow.get_logged_model(info.model_id)
        return {"model_uri": info.model_uri, "model_id": info.model_id, "status": str(logged.status),
                "artifact_location": logged.artifact_location, "source_run_id": logged.source_run_id}  # fmt: skip

    @step("pyfunc_load_predict")
    def _():
        loaded = mlflow.pyfunc.load_model(STATE["model_uri"])
        predicted = loaded.predict(X_test)
        target = os.path.join(work, "model-files")
        os.makedirs(target)
        local = mlflow.artifacts.download_artifacts(artifact_uri=STATE["model_uri"], dst_path=target)
        return {"same_predictions": same(predicted), "max_difference": float(np.max(np.abs(predicted - expected))),
                "files": sha256_of_tree(local)}  # fmt: skip

    @step("register_model")
    def _():
        version = mlflow.register_model(STATE["model_uri"], model_name)
        STATE["version"] = version.version
        fetched = client.get_model_version(model_name, version.version)
        return {"version": version.version, "source": fetched.source, "run_id": fetched.run_id,
                "status": fetched.status}  # fmt: skip

    @step("alias_and_load")
    def _():
        client.set_registered_model_alias(model_name, "champion", STATE["version"])
        by_alias = client.get_model_version_by_alias(model_name, "champion")
        loaded = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
        by_version = mlflow.pyfunc.load_model(f"models:/{model_name}/{STATE['version']}")
        registered = client.get_registered_model(model_name)
        return {
            "alias_version": by_alias.version,
            "aliases": registered.aliases,
            "same_predictions": same(loaded.predict(X_test)),
            "same_by_version": same(by_version.predict(X_test)),
        }

    @step("log_input")
    def _():
        frame = pd.concat([X_train, y_train], axis=1)
        dataset = mlflow.data.from_pandas(frame, name="diabetes-train", targets="target")
        mlflow.log_input(dataset, context="training")
        inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
        return {"datasets": [(d.dataset.name, d.dataset.digest, [(t.key, t.value) for t in d.tags]) for d in inputs],
                "digest": dataset.digest}  # fmt: skip

    mlflow.end_run()

    @step("autolog_fit")
    def _():
        mlflow.sklearn.autolog(log_input_examples=False, silent=True)
        with mlflow.start_run(run_name="ridge-autolog") as auto_run:
            Ridge(alpha=0.25).fit(X_train, y_train)
        mlflow.sklearn.autolog(disable=True)
        data = client.get_run(auto_run.info.run_id)
        models = mlflow.search_logged_models(
            experiment_ids=[auto_run.info.experiment_id],
            filter_string=f"source_run_id = '{auto_run.info.run_id}'",
            output_format="list",
        )
        model_files = []
        if models:
            model_files = sorted(info.path for info in client.list_logged_model_artifacts(models[0].model_id))
        return {"params": data.data.params, "metrics": data.data.metrics, "run_id": auto_run.info.run_id,
                "models": [m.model_id for m in models], "model_files": model_files,
                "model_metrics": sorted(m.key for m in models[0].metrics) if models else []}  # fmt: skip

    return {"steps": STEPS, "run_id": STATE.get("run_id")}


if __name__ == "__main__":
    report = main(sys.argv[1], sys.argv[2])
    print(json.dumps(report, default=str))
