"""Unmodified MLflow client code, run in its own process against a live Maestro by tests/mlflow_api/test_client.py.

Configured only by the environment (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN). Prints one JSON object with what
the client saw; exceptions are reported as {"error_code", "type", "message"} so the test can compare them with
what MLflow's own server raises.
"""

import json
import math
import sys
import time

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException


def caught(call):
    try:
        call()
    except MlflowException as exc:
        return {"type": type(exc).__name__, "error_code": exc.error_code, "message": exc.message}
    return None


def main_flow(experiment_name: str) -> dict:
    experiment = mlflow.set_experiment(experiment_name)
    again = mlflow.set_experiment(experiment_name)  # the second call finds it by name
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"optimizer": "adam", "epochs": 3})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"accuracy": 0.91, "f1": 0.88}, step=4)
        mlflow.log_metric("diverged", math.nan, step=0)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"team": "vision", "stage": "prod"})
        run_id = run.info.run_id
    with mlflow.start_run(run_name="second") as other:
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("accuracy", 0.75)
        mlflow.end_run(status="FAILED")
    client = MlflowClient()
    history = client.get_metric_history(run_id, "loss")
    finished = client.get_run(run_id)
    failed = client.get_run(other.info.run_id)
    frame = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string="metrics.accuracy > 0.8 and params.optimizer = 'adam'",
        order_by=["metrics.accuracy DESC"],
    )
    every = mlflow.search_runs(experiment_ids=[experiment.experiment_id], order_by=["attributes.start_time ASC"])
    paged = client.search_runs([experiment.experiment_id], max_results=1)
    second_page = client.search_runs([experiment.experiment_id], max_results=1, page_token=paged.token)
    client.delete_tag(run_id, "team")
    return {
        "experiment_id": experiment.experiment_id,
        "same_experiment": again.experiment_id == experiment.experiment_id,
        "run_id": run_id,
        "other_run_id": other.info.run_id,
        "history": [[m.step, m.value, m.timestamp > 0] for m in history],
        "status": finished.info.status,
        "end_time_set": finished.info.end_time is not None,
        "run_name": finished.info.run_name,
        "params": finished.data.params,
        "tags": {k: v for k, v in finished.data.tags.items() if not k.startswith("mlflow.source")},
        "metrics": {k: (None if math.isnan(v) else v) for k, v in finished.data.metrics.items()},
        "other_status": failed.info.status,
        "search_ids": frame["run_id"].tolist(),
        "search_accuracy": frame["metrics.accuracy"].tolist(),
        "ordered_ids": every["run_id"].tolist(),
        "page_sizes": [len(paged), len(second_page)],
        "pages_differ": paged[0].info.run_id != second_page[0].info.run_id,
        "tags_after_delete": sorted(MlflowClient().get_run(run_id).data.tags),
    }


def errors(experiment_name: str) -> dict:
    mlflow.set_experiment(experiment_name)
    client = MlflowClient()
    out = {}
    with mlflow.start_run() as run:
        mlflow.log_param("depth", 3)
        out["duplicate_param"] = caught(lambda: mlflow.log_param("depth", 5))
        out["same_param_again"] = caught(lambda: mlflow.log_param("depth", 3))
        now = int(time.time() * 1000)
        too_many = [Metric("m", float(i), now, i) for i in range(1001)]
        # MlflowClient.log_batch splits lists into 1000-metric requests; the store sends exactly one request.
        store = client._tracking_client.store
        out["batch_1001"] = caught(lambda: store.log_batch(run.info.run_id, metrics=too_many, params=[], tags=[]))
        first_1000 = too_many[:1000]
        out["batch_1000"] = caught(lambda: store.log_batch(run.info.run_id, metrics=first_1000, params=[], tags=[]))
        out["bad_key"] = caught(lambda: mlflow.log_metric("bad;key", 1.0))
        out["unknown_run"] = caught(lambda: client.get_run("0" * 32))
        out["unknown_experiment"] = caught(lambda: client.get_experiment("999999999"))
        out["duplicate_experiment"] = caught(lambda: client.create_experiment(experiment_name))
        out["delete_missing_tag"] = caught(lambda: client.delete_tag(run.info.run_id, "never-set"))
        out["bad_filter"] = caught(lambda: client.search_runs([run.info.experiment_id], "metrics.x >"))
        out["history_1000"] = len(client.get_metric_history(run.info.run_id, "m"))
    client.delete_run(run.info.run_id)
    out["log_to_deleted"] = caught(lambda: client.log_metric(run.info.run_id, "late", 1.0))
    out["deleted_stage"] = client.get_run(run.info.run_id).info.lifecycle_stage
    client.restore_run(run.info.run_id)
    out["restored_stage"] = client.get_run(run.info.run_id).info.lifecycle_stage
    return out


def dashboard(experiment_name: str) -> dict:
    """A small run for the dashboard test: params, a metric over steps, a tag."""
    experiment = mlflow.set_experiment(experiment_name)
    with mlflow.start_run(run_name="dashboard-run") as run:
        mlflow.log_params({"lr": 0.003, "optimizer": "adamw"})
        for step in range(4):
            mlflow.log_metric("val_loss", 0.8 - 0.2 * step, step=step)
        mlflow.set_tag("stage", "review")
    return {"experiment_id": experiment.experiment_id, "run_id": run.info.run_id}


def experiments(experiment_name: str) -> dict:
    client = MlflowClient()
    experiment_id = client.create_experiment(experiment_name, tags={"owner": "ml-team"})
    client.set_experiment_tag(experiment_id, "purpose", "compat test")
    client.rename_experiment(experiment_id, experiment_name + "-renamed")
    found = client.get_experiment_by_name(experiment_name + "-renamed")
    listed = client.search_experiments(filter_string=f"name = '{experiment_name}-renamed'")
    client.delete_experiment(experiment_id)
    deleted = client.get_experiment(experiment_id)
    active_after_delete = client.search_experiments(filter_string=f"name = '{experiment_name}-renamed'")
    rename_deleted = caught(lambda: client.rename_experiment(experiment_id, "x"))
    client.restore_experiment(experiment_id)
    restored = client.get_experiment(experiment_id)
    return {
        "experiment_id": experiment_id,
        "found_id": found.experiment_id,
        "tags": found.tags,
        "listed": [e.experiment_id for e in listed],
        "deleted_stage": deleted.lifecycle_stage,
        "active_after_delete": len(active_after_delete),
        "rename_deleted": rename_deleted,
        "restored_stage": restored.lifecycle_stage,
        "missing_by_name": client.get_experiment_by_name(experiment_name + "-never") is None,
    }


if __name__ == "__main__":
    flows = {"main": main_flow, "errors": errors, "experiments": experiments, "dashboard": dashboard}
    print(json.dumps(flows[sys.argv[1]](sys.argv[2])))
