"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/…``), ``/api/2.0/mlflow/artifacts/list`` and
``/api/3.0/mlflow/server-info``, as MLflow's server answers them. Each view parses the request, calls one function of
``apps.mlflow_api.artifacts`` and renders MLflow's response; authorisation and storage happen there.

Upload bodies are never parsed or buffered: ``PUT`` reads the WSGI input stream (length-limited by Django, or
de-chunked by gunicorn when the client sends no length) chunk by chunk into storage. Downloads stream back from
storage through Maestro (proxied, not redirected to the object store): the permission check, the audit trail and the
tenant's isolation stay in one place, and clients need no route to the store — the cost is that the bytes pass
through a web worker, one chunk in memory at a time.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from apps.mlflow_api import artifacts, selectors
from apps.mlflow_api.api.handling import MlflowView, json_response
from apps.mlflow_api.protocol import Fields, MlflowError, invalid_value
from maestro.storage import tenant_storage

READ, WRITE, DELETE = "read", "create", "delete"


def _upload_stream(request):
    """The request body as a stream and its declared length (None for a chunked body, read until its end)."""
    meta = request.META
    if meta.get("CONTENT_LENGTH") in (None, "") and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return meta["wsgi.input"], None
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise MlflowError(invalid_value("Content-Length", meta.get("CONTENT_LENGTH"))) from None
    return request._request, length  # Django's WSGIRequest reads its input, limited to Content-Length


class ArtifactView(MlflowView):
    """``GET`` download, ``PUT`` upload, ``DELETE`` a file or directory at ``<artifact_path>``."""

    access_resource = "mlflow_artifacts"
    access_actions = {"put": WRITE}
    parser_classes = []  # the body is streamed to storage, never parsed

    def get(self, request, artifact_path: str):
        target = artifacts.artifact_target(user=request.user, path=artifact_path, action=READ)
        file, reader = artifacts.artifact_open(target=target)
        response = StreamingHttpResponse(reader, content_type=file.content_type or "application/octet-stream")
        response["Content-Length"] = str(reader.size)
        response["Content-Disposition"] = content_disposition_header(True, target.path.rsplit("/", 1)[-1])
        response["X-Content-Type-Options"] = "nosniff"
        if file.sha256:
            response["ETag"] = f'"{file.sha256}"'
        return response

    def put(self, request, artifact_path: str):
        target = artifacts.artifact_target(user=request.user, path=artifact_path, action=WRITE)
        stream, length = _upload_stream(request)
        artifacts.artifact_upload(user=request.user, target=target, stream=stream, length=length)
        return json_response({})

    def delete(self, request, artifact_path: str):
        target = artifacts.artifact_target(user=request.user, path=artifact_path, action=DELETE)
        artifacts.artifact_delete(user=request.user, target=target)
        return json_response({})


class ArtifactListView(MlflowView):
    """``GET …/artifacts?path=<dir>``: the files and directories directly inside ``<dir>`` (names only, as MLflow's
    server lists them). Without a path: the experiments, visible to the caller, that hold artifacts."""

    access_resource = "mlflow_artifacts"

    def get(self, request):
        path = (request.query_params.get("path") or "").rstrip("/")
        if not path:
            ids = artifacts.artifact_experiments(user=request.user)
            files = [{"path": str(pk), "is_dir": True} for pk in ids]
        else:
            target = artifacts.artifact_target(user=request.user, path=path, action=READ)
            files = [entry.as_json() for entry in artifacts.artifact_list(target=target)]
        return json_response({"files": files} if files else {})


class RunArtifactListView(MlflowView):
    """``GET /api/2.0/mlflow/artifacts/list?run_id=…&path=…``: a run's artifacts, paths relative to its root."""

    access_resource = "mlflow_artifacts"

    def get(self, request):
        fields = Fields(None, query=request.query_params)
        run = selectors.run_get(user=request.user, run_id=fields.run_id())
        path = fields.string("path").rstrip("/") or None
        root_uri, files = artifacts.run_artifact_list(user=request.user, run=run, path=path)
        return json_response({"root_uri": root_uri, "files": files} if files else {"root_uri": root_uri})


def _filename(fields: Fields) -> str:
    return fields.string("path", required=True)


def _upload_id(fields: Fields) -> str:
    return fields.string("upload_id", required=True)


class MultipartCreateView(MlflowView):
    """``POST …/mpu/create/<dir>`` {path, num_parts}: presigned part URLs for a file of that name in ``<dir>``."""

    access_resource = "mlflow_artifacts"

    def post(self, request, artifact_path: str):
        target = artifacts.artifact_target(user=request.user, path=artifact_path, action=WRITE)
        fields = Fields(self.body())
        upload, urls = artifacts.artifact_upload_start(
            user=request.user, target=target, filename=_filename(fields), parts=fields.integer("num_parts")
        )
        credentials = [{"url": url, "part_number": number, "headers": {}} for number, url in urls]
        return json_response({"upload_id": upload.upload_id, "credentials": credentials})


def _parts(fields: Fields) -> list[tuple[int, str]]:
    raw = fields.raw("parts")
    if not isinstance(raw, list):
        raise MlflowError(invalid_value("parts", raw, "A list of {part_number, etag} is required."))
    parts = []
    for index, item in enumerate(raw):
        number = item.get("part_number") if isinstance(item, dict) else None
        etag = item.get("etag") if isinstance(item, dict) else None
        if isinstance(number, str) and number.isdecimal():
            number = int(number)
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= artifacts.MAX_PARTS:
            raise MlflowError(invalid_value(f"parts[{index}].part_number", number))
        if not isinstance(etag, str) or not etag:
            raise MlflowError(invalid_value(f"parts[{index}].etag", etag))
        parts.append((number, etag))
    return parts


class MultipartCompleteView(MlflowView):
    """``POST …/mpu/complete/<dir>`` {path, upload_id, parts}: assemble the uploaded parts into the file."""

    access_resource = "mlflow_artifacts"

    def post(self, request, artifact_path: str):
        target = artifacts.artifact_target(user=request.user, path=artifact_path, action=WRITE)
        fields = Fields(self.body())
        artifacts.artifact_upload_complete(
            user=request.user,
            target=target,
            filename=_filename(fields),
            upload_id=_upload_id(fields),
            parts=_parts(fields),
        )
        return json_response({})


class MultipartAbortView(MlflowView):
    """``POST …/mpu/abort/<dir>`` {path, upload_id}: drop an unfinished upload's parts."""

    access_resource = "mlflow_artifacts"

    def post(self, request, artifact_path: str):
        target = artifacts.artifact_target(user=request.user, path=artifact_path, action=WRITE)
        fields = Fields(self.body())
        artifacts.artifact_upload_abort(
            user=request.user, target=target, filename=_filename(fields), upload_id=_upload_id(fields)
        )
        return json_response({})


class ServerInfoView(MlflowView):
    """``GET /api/3.0/mlflow/server-info``: what MLflow's client asks before large uploads — whether presigned
    multipart uploads are served (on S3 storage) — and the rest of the payload with Maestro's answers."""

    access_resource = "tenant_settings"

    def get(self, request):
        return json_response(
            {
                "store_type": None,  # neither of MLflow's own stores
                "workspaces_enabled": False,
                "trace_archival_enabled": False,
                "multipart_uploads_enabled": tenant_storage().presigned_multipart,
                "multipart_downloads_enabled": False,  # downloads are proxied, see the module docstring
                "presigned_upload_run_id_supported": False,
                "presigned_upload_model_id_supported": False,
                "features_enabled": {"gateway": False},
            }
        )
