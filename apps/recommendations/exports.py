"""The training data of a model version as a file: CSV (text) or Parquet (pyarrow), for users who check the model
themselves. Columns: ``project_id``, ``success`` (the target), ``cv_predicted`` / ``cv_baseline`` (shuffled K-fold,
out of fold), ``forward_predicted`` / ``forward_baseline`` (forward in time; empty for the older projects that were
only ever trained on), then every feature in the model's column order (``neighbor_success`` out of fold, as trained;
``problem_class`` and category attributes as their integer codes). Empty cells are missing values."""

from __future__ import annotations

import csv
import io

import numpy as np

PREDICTION_COLUMNS = ("success", "cv_predicted", "cv_baseline", "forward_predicted", "forward_baseline")


def to_csv(columns: list[str], ids: np.ndarray, values: np.ndarray) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["project_id", *columns])
    for pid, row in zip(ids, values, strict=True):
        writer.writerow([int(pid), *("" if np.isnan(v) else repr(float(v)) for v in row)])
    return out.getvalue().encode("utf-8")


def to_parquet(columns: list[str], ids: np.ndarray, values: np.ndarray) -> bytes:
    import pyarrow as pa  # loaded only for this export (a large library the rest of the app never needs)
    import pyarrow.parquet as pq

    table = pa.table(
        {"project_id": pa.array(ids.astype(np.int64))}
        | {name: pa.array(values[:, i], mask=np.isnan(values[:, i])) for i, name in enumerate(columns)}
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
