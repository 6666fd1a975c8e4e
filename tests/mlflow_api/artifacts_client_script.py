"""Unmodified MLflow client code logging and reading artifacts, run in its own process against a live Maestro by
tests/mlflow_api/test_artifacts_client.py. Configured only by the environment (MLFLOW_TRACKING_URI,
MLFLOW_TRACKING_TOKEN, and MLflow's own multipart settings). Prints one JSON object with what the client saw."""

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def artifacts_flow(experiment_name: str) -> dict:
    mlflow.set_experiment(experiment_name)
    work = Path(tempfile.mkdtemp())
    weights = work / "weights.bin"
    weights.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (work / "report").mkdir()
    (work / "report" / "summary.md").write_text("# Run\naccuracy 0.91\n")
    (work / "report" / "plots").mkdir()
    (work / "report" / "plots" / "loss.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(weights))
        mlflow.log_artifact(str(weights), artifact_path="checkpoints")
        mlflow.log_artifacts(str(work / "report"), artifact_path="report")
        mlflow.log_dict({"lr": 0.01, "layers": [64, 32]}, "config/params.json")
        mlflow.log_text("hello artifacts", "notes.txt")
        run_id = run.info.run_id
        artifact_uri = run.info.artifact_uri
    client = MlflowClient()
    root = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id)]
    # a sub-path by artifact URI: MlflowClient.list_artifacts(run_id, path) also asks logged-models/search (see below)
    report = [(f.path, f.is_dir, f.file_size) for f in mlflow.artifacts.list_artifacts(f"{artifact_uri}/report")]
    out = Path(tempfile.mkdtemp())
    # By artifact URI (mlflow-artifacts:/…). With run_id= / runs:/ URIs the client also asks
    # /api/2.0/mlflow/logged-models/search for models logged by the run: that endpoint is the model half of issue 19.
    one = mlflow.artifacts.download_artifacts(f"{artifact_uri}/checkpoints/weights.bin", dst_path=str(out))
    everything = Path(mlflow.artifacts.download_artifacts(artifact_uri, dst_path=str(out / "all")))
    config = mlflow.artifacts.load_dict(f"{artifact_uri}/config/params.json")
    text = mlflow.artifacts.load_text(f"{artifact_uri}/notes.txt")
    try:
        mlflow.artifacts.download_artifacts(f"{artifact_uri}/missing.txt", dst_path=str(out / "missing"))
        missing = None
    except (MlflowException, OSError) as exc:
        missing = type(exc).__name__
    return {
        "run_id": run_id,
        "artifact_uri": artifact_uri,
        "root": root,
        "report": report,
        "weights_sha256": sha256(weights),
        "downloaded_one_sha256": sha256(Path(one)),
        "uploaded": {"weights.bin": sha256(weights), **{f"report/{k}": v for k, v in tree(work / "report").items()}},
        "downloaded": tree(everything),
        "config": config,
        "text": text,
        "missing": missing,
    }


def multipart_flow(experiment_name: str) -> dict:
    """A file above MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE: the client asks /server-info, then uploads its parts
    straight to the object store with the presigned URLs Maestro hands out."""
    mlflow.set_experiment(experiment_name)
    work = Path(tempfile.mkdtemp())
    big = work / "model.ckpt"
    big.write_bytes(os.urandom(11 * 1024 * 1024 + 5))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="ckpt")
        run_id = run.info.run_id
    uri = f"{run.info.artifact_uri}/ckpt/model.ckpt"
    out = mlflow.artifacts.download_artifacts(uri, dst_path=str(work / "d"))
    return {"run_id": run_id, "uploaded": sha256(big), "downloaded": sha256(Path(out)), "size": big.stat().st_size}


if __name__ == "__main__":
    flows = {"artifacts": artifacts_flow, "multipart": multipart_flow}
    print(json.dumps(flows[sys.argv[1]](sys.argv[2])))
