"""The per-process model cache stays right when another host writes: a loaded model's neighbour pool is checked
against the embedding index version in PostgreSQL on use, so a pool project re-embedded elsewhere (a worker on
another host) changes this process's next prediction exactly as it changes the prediction of a process that loads
the model only now. Two web hosts that loaded one model version at different times therefore answer alike."""

from __future__ import annotations

import numpy as np

from apps.projects.models import Project
from apps.recommendations import caches
from apps.recommendations.demo.seed import seed_tenant
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.models import ProjectEmbedding, SuccessModel
from apps.recommendations.services.embeddings import embeddings_compute

NEW_SPEC = (
    "Transcribe handwritten ship logbooks from the eighteenth century into searchable text and tag every mention "
    "of weather, ports and cargo for maritime historians."
)


def _pool_vector(predictor, project_id: int) -> np.ndarray | None:
    ids = predictor.pool_embedding_ids.tolist()
    return predictor.pool_embeddings[ids.index(project_id)] if project_id in ids else None


def test_a_pool_project_re_embedded_elsewhere_reaches_the_loaded_model(tenant_a):
    with tenant_a.context():
        seed_tenant(projects=45, seed=31, runs_per_project=1, metric_steps=4, train=True)
        model = SuccessModel.objects.latest("version")  # 33 completed projects: trained, not past the skill gate
        loaded = caches.predictor_for(model.pk, model.version)
        assert caches.predictor_for(model.pk, model.version) is loaded  # unchanged: served from the cache
        pool_id = int(loaded.pool_embedding_ids[0])
        before = _pool_vector(loaded, pool_id).copy()

        # A project outside the pool embedded elsewhere: the version moves, the loaded model is kept.
        outside = Project.objects.create(name="Outside the pool", slug="outside-pool", spec=NEW_SPEC)
        embeddings_compute(project_ids=[outside.pk])
        assert caches.predictor_for(model.pk, model.version) is loaded

        # A pool project's spec edited and re-embedded by another process (what a worker host does).
        Project.objects.filter(pk=pool_id).update(spec=NEW_SPEC + " Pool edition.")
        assert embeddings_compute(project_ids=[pool_id])["embedded"] == 1
        stored = emb.from_bytes(ProjectEmbedding.objects.get(project_id=pool_id).vector)
        assert not np.allclose(stored, before)

        current = caches.predictor_for(model.pk, model.version)
        caches.clear()  # a process (host) that loads the model only now
        fresh = caches.predictor_for(model.pk, model.version)

    assert current is not loaded
    assert np.array_equal(_pool_vector(current, pool_id), stored)
    assert np.array_equal(current.pool_embeddings, fresh.pool_embeddings)
    assert np.array_equal(current.pool_embedding_ids, fresh.pool_embedding_ids)
