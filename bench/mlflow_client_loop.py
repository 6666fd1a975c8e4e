"""A training loop's logging as the MLflow client sends it: ``mlflow.log_metric`` N times in one run, timed from the
first call until every point is on the server. Run by ``bench/mlflow_compare.py`` with the MLflow virtualenv's Python
(not the project's), against ``MLFLOW_TRACKING_URI`` (and ``MLFLOW_TRACKING_TOKEN`` for Maestro).

    python bench/mlflow_client_loop.py <experiment id> <points>

With ``MLFLOW_ENABLE_ASYNC_LOGGING=true`` in the environment the client queues the points and sends them in
batches; otherwise it sends one ``runs/log-metric`` request per call. Either way ``mlflow.end_run()`` returns only
when every point was sent (it flushes the queue), and the script then reads the history back to count what the
server kept (the asynchronous client logs a failed batch and goes on). Prints one JSON line:
``{"seconds": ..., "points": ..., "stored": ...}``.
"""

import json
import sys
import time

import mlflow
from mlflow.tracking import MlflowClient


def main() -> int:
    experiment_id, points = sys.argv[1], int(sys.argv[2])
    run = mlflow.start_run(experiment_id=experiment_id)
    started = time.perf_counter()
    for step in range(points):
        mlflow.log_metric("loss", 1 / (step + 1), step=step)
    mlflow.end_run()
    seconds = time.perf_counter() - started
    stored = len(MlflowClient().get_metric_history(run.info.run_id, "loss"))
    print(json.dumps({"seconds": seconds, "points": points, "stored": stored}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
