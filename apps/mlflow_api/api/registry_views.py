"""MLflow's model registry endpoints (``registered-models/…``, ``model-versions/…``). Each view parses the request
as MLflow's server does (JSON body, or the query string for GET), calls one selector or service, and renders
MLflow's response shape. Registry objects are found by name within the tenant and the user's permissions."""

from __future__ import annotations

from collections.abc import Callable

from apps.mlflow_api import registry_selectors, registry_services
from apps.mlflow_api.api.handling import MlflowView, json_response
from apps.mlflow_api.api.views import _tag_pairs
from apps.mlflow_api.protocol import Fields, MlflowError, invalid_value
from apps.mlflow_api.registry_protocol import canonical_stage


def _ok():
    return json_response({})


def _fields(view: MlflowView) -> Fields:
    """GET requests carry their fields in the query string, the others in a JSON body."""
    if view.request.method == "GET":
        return Fields(None, query=view.request.query_params)
    return Fields(view.body())


def _registered(view: MlflowView, fields: Fields, field: str = "name"):
    return registry_selectors.registered_model_get(user=view.request.user, name=fields.string(field, required=True))


def _version(view: MlflowView, fields: Fields):
    return registry_selectors.model_version_get(
        user=view.request.user,
        name=fields.string("name", required=True),
        version=fields.string("version", required=True),
    )


def _registered_payload(registered) -> dict:
    return registry_selectors.registered_model_payloads([registered])[0]


def _version_payload(view: MlflowView, version) -> dict:
    """A version's JSON, read again through the selector (with what the JSON needs joined) after a write."""
    version = registry_selectors.model_version_list(user=view.request.user).get(pk=version.pk)
    return registry_selectors.model_version_payloads([version])[0]


# ---------------------------------------------------------------------------------------------- registered models


class RegisteredModelCreateView(MlflowView):
    access_resource = "registered_models"

    def post(self, request):
        fields = Fields(self.body())
        registered = registry_services.registered_model_create(
            user=request.user,
            name=fields.string("name", required=True),
            description=fields.string("description"),
            tags=_tag_pairs(fields, "tags"),
        )
        return json_response({"registered_model": _registered_payload(registered)})


class RegisteredModelGetView(MlflowView):
    access_resource = "registered_models"

    def get(self, request):
        return json_response({"registered_model": _registered_payload(_registered(self, _fields(self)))})


class RegisteredModelRenameView(MlflowView):
    access_resource = "registered_models"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        registered = _registered(self, fields)
        new_name = fields.string("new_name", required=True)
        registered = registry_services.registered_model_rename(
            user=request.user, registered=registered, new_name=new_name
        )
        return json_response({"registered_model": _registered_payload(registered)})


class RegisteredModelUpdateView(MlflowView):
    access_resource = "registered_models"

    def patch(self, request):
        fields = Fields(self.body())
        registered = _registered(self, fields)
        registered = registry_services.registered_model_update(
            user=request.user, registered=registered, description=fields.string("description")
        )
        return json_response({"registered_model": _registered_payload(registered)})


class RegisteredModelDeleteView(MlflowView):
    access_resource = "registered_models"

    def delete(self, request):
        registry_services.registered_model_delete(user=request.user, registered=_registered(self, Fields(self.body())))
        return _ok()


class _RegistrySearchView(MlflowView):
    """MLflow's registry searches share one shape: ``filter``, ``max_results``, ``order_by`` and ``page_token`` in,
    a list under ``result_key`` (left out when empty, as MLflow does) and ``next_page_token`` out. Each subclass
    names its selector (``search``) and the payload builder for a page's items (``payloads``)."""

    result_key: str
    search: Callable
    payloads: Callable

    def get(self, request):
        fields = _fields(self)
        page = self.search(
            user=request.user,
            filter_text=fields.string("filter"),
            max_results=fields.integer("max_results"),
            order_by=fields.string_list("order_by"),
            page_token=fields.string("page_token") or None,
        )
        body: dict = {}
        if page.items:
            body[self.result_key] = self.payloads(page.items)
        if page.next_page_token:
            body["next_page_token"] = page.next_page_token
        return json_response(body)


class RegisteredModelSearchView(_RegistrySearchView):
    access_resource = "registered_models"
    result_key = "registered_models"
    search = staticmethod(registry_selectors.registered_model_search)
    payloads = staticmethod(registry_selectors.registered_model_payloads)


class LatestVersionsView(MlflowView):
    """``registered-models/get-latest-versions`` (GET and POST): the highest version of each stage (default: all)."""

    access_resource = "model_versions"
    access_actions = {"post": "read"}

    def get(self, request):
        return self._answer(_fields(self))

    def post(self, request):
        return self._answer(_fields(self))

    def _answer(self, fields: Fields):
        registered = _registered(self, fields)
        stages = fields.string_list("stages")
        wanted = [canonical_stage(stage) for stage in stages] if stages else None
        versions = registry_selectors.latest_versions([registered.pk], wanted).get(registered.pk, [])
        body: dict = {}
        if versions:
            body["model_versions"] = registry_selectors.model_version_payloads(versions)
        return json_response(body)


class RegisteredModelSetTagView(MlflowView):
    access_resource = "registered_models"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        registered = _registered(self, fields)
        registry_services.registered_model_set_tag(
            user=request.user,
            registered=registered,
            key=fields.string("key", required=True),
            value=fields.string("value"),
        )
        return _ok()


class RegisteredModelDeleteTagView(MlflowView):
    access_resource = "registered_models"
    access_actions = {"delete": "change"}

    def delete(self, request):
        fields = Fields(self.body())
        registered = _registered(self, fields)
        registry_services.registered_model_delete_tag(
            user=request.user, registered=registered, key=fields.string("key", required=True)
        )
        return _ok()


class AliasView(MlflowView):
    """``registered-models/alias``: POST sets an alias, DELETE removes it, GET returns the version it names."""

    access_resource = "registered_models"
    access_actions = {"post": "change", "delete": "change"}

    def get(self, request):
        fields = _fields(self)
        version = registry_selectors.model_version_by_alias(
            user=request.user, name=fields.string("name", required=True), alias=fields.string("alias", required=True)
        )
        return json_response({"model_version": _version_payload(self, version)})

    def post(self, request):
        fields = Fields(self.body())
        registered = _registered(self, fields)
        alias = fields.string("alias", required=True)
        version = registry_selectors.model_version_get(
            user=request.user, name=registered.artifact.name, version=fields.string("version", required=True)
        )
        registry_services.alias_set(user=request.user, registered=registered, alias=alias, version=version)
        return _ok()

    def delete(self, request):
        fields = Fields(self.body())
        registered = _registered(self, fields)
        registry_services.alias_delete(
            user=request.user, registered=registered, alias=fields.string("alias", required=True)
        )
        return _ok()


# ---------------------------------------------------------------------------------------------- model versions


class ModelVersionCreateView(MlflowView):
    access_resource = "model_versions"

    def post(self, request):
        fields = Fields(self.body())
        registered = _registered(self, fields)
        version = registry_services.model_version_create(
            user=request.user,
            registered=registered,
            source=fields.string("source", required=True),
            run_id=fields.string("run_id"),
            model_id=fields.string("model_id"),
            has_run_id=fields.present("run_id"),
            has_model_id=fields.present("model_id"),
            run_link=fields.string("run_link"),
            description=fields.string("description"),
            tags=_tag_pairs(fields, "tags"),
        )
        return json_response({"model_version": _version_payload(self, version)})


class ModelVersionGetView(MlflowView):
    access_resource = "model_versions"

    def get(self, request):
        return json_response({"model_version": _version_payload(self, _version(self, _fields(self)))})


class ModelVersionUpdateView(MlflowView):
    access_resource = "model_versions"

    def patch(self, request):
        fields = Fields(self.body())
        version = _version(self, fields)
        description = fields.string("description") if fields.present("description") else None
        version = registry_services.model_version_update(user=request.user, version=version, description=description)
        return json_response({"model_version": _version_payload(self, version)})


class ModelVersionTransitionView(MlflowView):
    access_resource = "model_versions"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        version = _version(self, fields)
        stage = fields.string("stage", required=True)
        archive = fields.raw("archive_existing_versions")
        if archive in (None, ""):
            archive = False
        if isinstance(archive, str) and archive.lower() in ("true", "false"):
            archive = archive.lower() == "true"
        if not isinstance(archive, bool):
            raise MlflowError(invalid_value("archive_existing_versions", archive, "Expected a boolean."))
        version = registry_services.model_version_transition(
            user=request.user, version=version, stage=stage, archive_existing=archive
        )
        return json_response({"model_version": _version_payload(self, version)})


class ModelVersionDeleteView(MlflowView):
    access_resource = "model_versions"

    def delete(self, request):
        registry_services.model_version_delete(user=request.user, version=_version(self, Fields(self.body())))
        return _ok()


class ModelVersionSearchView(_RegistrySearchView):
    access_resource = "model_versions"
    result_key = "model_versions"
    search = staticmethod(registry_selectors.model_version_search)
    payloads = staticmethod(registry_selectors.model_version_payloads)


class ModelVersionDownloadUriView(MlflowView):
    """Where a version's files are: the logged model's or run's artifact URI, which the client downloads from
    through the artifact proxy (``models:/name/version`` and ``models:/name@alias`` resolve through this)."""

    access_resource = "model_versions"

    def get(self, request):
        version = _version(self, _fields(self))
        return json_response({"artifact_uri": version.storage_location})


class ModelVersionSetTagView(MlflowView):
    access_resource = "model_versions"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        version = _version(self, fields)
        registry_services.model_version_set_tag(
            user=request.user, version=version, key=fields.string("key", required=True), value=fields.string("value")
        )
        return _ok()


class ModelVersionDeleteTagView(MlflowView):
    access_resource = "model_versions"
    access_actions = {"delete": "change"}

    def delete(self, request):
        fields = Fields(self.body())
        version = _version(self, fields)
        registry_services.model_version_delete_tag(
            user=request.user, version=version, key=fields.string("key", required=True)
        )
        return _ok()
