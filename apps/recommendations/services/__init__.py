"""Every write of the recommendation engine (HackSoft-style services), grouped by noun.

Entry points called after other apps' writes (``receivers`` subscribes them to the projects' events):

* ``embedding_schedule_for_project(project_id)`` — after a project's spec may have changed;
* ``prediction_record_outcome(project_id)`` — after a project is completed.
"""

from apps.recommendations.services.embeddings import (
    embedding_schedule_for_project,
    embeddings_compute,
    embeddings_request_stale,
    embeddings_stale_project_ids,
)
from apps.recommendations.services.impact import impact_recompute
from apps.recommendations.services.importing import projects_import
from apps.recommendations.services.predictions import (
    Proposal,
    prediction_record_outcome,
    predictions_reconcile_outcomes,
    recommendation_create,
)
from apps.recommendations.services.proposals import proposal_build, recommendation_for_request
from apps.recommendations.services.reconcile import reconcile
from apps.recommendations.services.runs import run_dispatch, run_execute, run_request
from apps.recommendations.services.training import model_promote, model_rollback, model_train, training_request

__all__ = [
    "Proposal",
    "embedding_schedule_for_project",
    "embeddings_compute",
    "embeddings_request_stale",
    "embeddings_stale_project_ids",
    "impact_recompute",
    "model_promote",
    "model_rollback",
    "model_train",
    "prediction_record_outcome",
    "predictions_reconcile_outcomes",
    "projects_import",
    "proposal_build",
    "recommendation_create",
    "recommendation_for_request",
    "reconcile",
    "run_dispatch",
    "run_execute",
    "run_request",
    "training_request",
]
