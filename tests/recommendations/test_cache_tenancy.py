"""The per-process caches (similarity index, loaded models, text vectors) belong to one tenant *generation*: a tenant
dropped and provisioned again with the same slug is served only its own data, in the same process; and the caches
stay bounded however many tenants a process serves."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.ops.services import tenant_delete
from apps.projects.models import Project
from apps.recommendations import caches
from apps.recommendations.demo.seed import seed_tenant
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.models import ProjectEmbedding, SuccessModel
from apps.tenants.models import Tenant
from apps.tenants.selectors import tenant_identity
from tests.recommendations.support import LENIENT_GATE, admin_token
from tests.support.tenants import make_tenant

SLUG = "recycled"


@pytest.fixture(autouse=True)
def _lenient_gate(settings):
    """Trainings in these tests are on a few dozen demo projects; the skill gate is tested in test_skill.py."""
    settings.RECOMMENDATIONS_SKILL_MARGIN = LENIENT_GATE["RECOMMENDATIONS_SKILL_MARGIN"]
    settings.RECOMMENDATIONS_SKILL_ALPHA = LENIENT_GATE["RECOMMENDATIONS_SKILL_ALPHA"]


def _provision_and_seed(seed: int):
    ctx = make_tenant(SLUG, f"Recycled {seed}")
    with ctx.context():
        seed_tenant(projects=45, seed=seed, runs_per_project=1, metric_steps=4, train=True)
    connection.set_schema_to_public()
    return ctx


def _drop() -> None:
    connection.set_schema_to_public()  # as the operator's command runs (a request leaves the connection in its tenant)
    tenant = Tenant.objects.filter(schema_name=SLUG).first()
    if tenant is not None:
        tenant_delete(tenant=tenant, force=True)


@pytest.fixture
def recycled(committed):
    _drop()
    yield
    _drop()
    caches.clear()


def test_a_tenant_dropped_and_provisioned_again_is_served_only_its_new_data(recycled, settings):
    settings.RECOMMENDATIONS_CACHED_MODELS = 1
    first = _provision_and_seed(seed=11)
    with first.context():
        old_identity = tenant_identity()
        old_model = SuccessModel.objects.get(status="active")
        old_index = caches.tenant_index()
        caches.predictor_for(old_model.pk, old_model.version)
        old_specs = list(Project.objects.order_by("pk").values_list("spec", flat=True))
    assert len(old_index) == 45

    _drop()
    second = _provision_and_seed(seed=12)  # same slug, same ids and model version, different projects
    with second.context():
        identity = tenant_identity()
        model = SuccessModel.objects.get(status="active")
        assert (model.pk, model.version) == (old_model.pk, old_model.version)
        assert identity.schema_name == old_identity.schema_name and identity != old_identity
        index, predictor = caches.tenant_index(), caches.predictor_for(model.pk, model.version)
        stored = dict(ProjectEmbedding.objects.filter(dim=emb.DIMENSION).values_list("project_id", "vector"))
        specs = list(Project.objects.order_by("pk").values_list("pk", "spec"))
        caches.clear()  # what a process that never saw the dropped tenant loads
        fresh = caches.predictor_for(model.pk, model.version)

    assert index is not old_index
    assert sorted(index.ids.tolist()) == sorted(stored)
    for pid, blob in stored.items():
        assert np.array_equal(index.vector(pid), emb.from_bytes(blob)), pid
    assert predictor is not fresh
    assert np.array_equal(predictor.pool_ids, fresh.pool_ids)
    assert np.array_equal(predictor.pool_embeddings, fresh.pool_embeddings)
    assert np.array_equal(predictor.pool_embedded_success, fresh.pool_embedded_success)

    # Through a request (the routing middleware's tenant row): a spec of the new tenant finds its own project first.
    texts = [spec for _pid, spec in specs]
    distinct = [(pid, spec) for pid, spec in specs if texts.count(spec) == 1 and spec not in old_specs][:5]
    assert len(distinct) == 5
    api = second.api(admin_token(second))
    for pid, spec in distinct:
        found = api.post("/api/v1/similar-projects", {"text": spec, "k": 1}, format="json").json()["results"]
        assert found[0]["project_id"] == pid and found[0]["similarity"] >= 0.999, (pid, found)
    with schema_context(SLUG):
        assert tenant_identity() == identity  # a task (schema name only) keys the same entries as a request
    assert len(caches._predictors) == 1


def test_the_caches_stay_bounded_least_recently_used_first(tenant_a, tenant_b, settings):
    """Two tenants through a cache of one index: each use evicts the other; neither is ever served the other's."""
    settings.RECOMMENDATIONS_CACHED_INDEXES = 1
    caches.clear()
    with tenant_a.context():
        a = tenant_identity()
        caches.tenant_index()
    with tenant_b.context():
        b = tenant_identity()
        caches.tenant_index()
        caches.text_vector("a proposed spec")
    assert list(caches._indexes) == [b]
    with tenant_a.context():
        caches.tenant_index()
        caches.text_vector("a proposed spec")
    assert list(caches._indexes) == [a]
    assert {key[0] for key in caches._vectors} == {a, b}  # one vector per tenant, never shared
    settings.RECOMMENDATIONS_CACHED_INDEXES = 2
    with tenant_b.context():
        caches.tenant_index()
    with tenant_a.context():
        caches.tenant_index()
    assert list(caches._indexes) == [b, a]
