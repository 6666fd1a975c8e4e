"""MLflow's served routes as tests address them. ``apps.mlflow_api.api.urls.ENDPOINTS`` holds regular expressions,
some with named groups (``logged-models/(?P<model_id>[^/]+)/tags/(?P<tag_key>.+?)``); a test names such a route by a
readable template (``logged-models/<model_id>/tags/<tag_key>``) and requests it at a concrete path, with a value for
each group. Used by the protocol-edge tests (every route, every method) and the MLflow fuzzer."""

from __future__ import annotations

import re
from urllib.parse import quote

from apps.mlflow_api.api.urls import ENDPOINTS

PARAMETER = re.compile(r"\(\?P<(\w+)>[^)]*\)")
# Values that fit each group's pattern and name nothing that exists (a logged model id in MLflow's form).
PLACEHOLDERS = {"model_id": "m-" + "0" * 32, "tag_key": "t"}


def template(path: str) -> str:
    """``logged-models/(?P<model_id>[^/]+)`` → ``logged-models/<model_id>``; a plain path stays as it is."""
    return PARAMETER.sub(r"<\1>", path)


def parameters(path: str) -> list[str]:
    """The names of the path's groups, in order."""
    return PARAMETER.findall(path)


def concrete(path: str, values: dict[str, str] | None = None) -> str:
    """The path with each group replaced by its value (``PLACEHOLDERS`` by default), percent-encoded as a client
    sends it (a ``/`` in a value too; a lone surrogate as the bytes it would be in UTF-8)."""
    values = PLACEHOLDERS if values is None else values
    return PARAMETER.sub(lambda match: quote(values[match[1]].encode("utf-8", "surrogatepass"), safe=""), path)


def served(methods: tuple[str, ...] = ("get", "post", "put", "patch", "delete")) -> list[tuple[str, type, str]]:
    """``(path, view, method)`` for every MLflow endpoint and each of ``methods`` its view serves."""
    return [(path, view, method) for path, view, _name in ENDPOINTS for method in methods if hasattr(view, method)]
