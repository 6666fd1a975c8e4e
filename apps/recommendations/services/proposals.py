"""The recommendation proposal: one way from a request to a prediction, for both callers.

``POST /api/v1/recommendations`` and the dashboard's what-if page must answer the same input with the same numbers,
so both hand this module the same request body: it is validated by the API's request serializer (the documented
wire format: types, ranges, team rows, artifact ids), normalised into a :class:`Proposal` (an existing project's
inputs fill what the request leaves out) and predicted by :func:`recommendation_create`. Invalid input raises DRF's
``ValidationError`` (the API renders it in the error shape; the page puts each message next to its field); a
``project_id`` the user may not see is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework.exceptions import ValidationError

from apps.projects.models import Project
from apps.recommendations import dataset, selectors
from apps.recommendations.api.serializers import RecommendationRequestSerializer
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.ml.features import LEVELS, ROLES, Member
from apps.recommendations.ml.team import TeamConstraints
from apps.recommendations.services.predictions import Proposal, recommendation_create


def _project_defaults(project: Project) -> dict:
    """An existing project's inputs, as the model sees them, for the fields a request leaves out."""
    inp = dataset.project_inputs([project.pk])[project.pk]
    return {
        "spec": project.spec,
        "problem_class": project.problem_class,
        "complexity": project.complexity_score,
        "planned_duration_days": inp.planned_duration_days,
        "members": list(inp.members),
        "artifact_ids": [aid for aid, _ in inp.artifacts],
        "attributes": dict(inp.attributes),
    }


def _constraints(c: dict) -> TeamConstraints:
    return TeamConstraints(
        min_size=c.get("min_team_size", 1),
        max_size=c.get("max_team_size", 8),
        roles=tuple(r for r in ROLES if r in c["allowed_roles"]) if "allowed_roles" in c else ROLES,
        levels=tuple(lv for lv in LEVELS if lv in c["allowed_levels"]) if "allowed_levels" in c else LEVELS,
        max_per_role=dict(c.get("max_per_role", {})),
        max_per_level=dict(c.get("max_per_level", {})),
        min_per_role={role: n for role, n in c.get("min_per_role", {}).items() if n > 0},
    )


def proposal_build(*, user, data: Mapping) -> Proposal:
    """Validate a recommendation request body and normalise it into a Proposal (the fields it omits come from its
    ``project_id``'s project, which ``user`` must be able to see). Raises ``ValidationError`` naming the fields."""
    serializer = RecommendationRequestSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    valid = serializer.validated_data
    project = None
    defaults: dict = {}
    if "project_id" in valid:
        project = selectors.project_get_visible(user=user, pk=valid["project_id"])
        defaults = _project_defaults(project)
    members = (
        [
            Member(m["role"], m["experience_level"], m["years_experience"], m["contribution_hours"])
            for m in valid["team_members"]
        ]
        if "team_members" in valid
        else defaults.get("members", [])
    )
    proposal = Proposal(
        spec=valid.get("spec", defaults.get("spec", "")),
        problem_class=valid.get("problem_class", defaults.get("problem_class")),
        complexity=valid.get("complexity_score", defaults.get("complexity")),
        planned_duration_days=valid.get("planned_duration_days", defaults.get("planned_duration_days")),
        members=members,
        artifact_ids=list(valid.get("artifact_ids", defaults.get("artifact_ids", []))),
        attributes=dict(valid.get("attributes", defaults.get("attributes", {}))),
        project=project,
        constraints=_constraints(valid.get("constraints") or {}),
        similar_k=valid["similar_k"],
        max_artifacts=valid["max_artifacts"],
    )
    if emb.is_blank(proposal.spec):  # a given spec is checked by the serializer; this is the project's own
        raise ValidationError({"spec": "The project has no spec; send one."})
    return proposal


def recommendation_for_request(*, user, data: Mapping, store: bool = True) -> dict:
    """The recommendation for a request body (see :func:`proposal_build` and :func:`recommendation_create`), stored
    with the body as sent unless ``store`` is False (the what-if page's live preview)."""
    proposal = proposal_build(user=user, data=data)
    request_data = data.dict() if hasattr(data, "dict") else data  # form posts: a QueryDict
    return recommendation_create(user=user, proposal=proposal, request_data=request_data, store=store)
