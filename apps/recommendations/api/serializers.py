"""Request validation and response documentation for the recommendations API.

Response bodies are built by services/selectors as plain dicts and rendered through these serializers, so the
OpenAPI schema (generated from them) is exactly what clients receive."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.artifacts.models import Artifact
from apps.projects.choices import ExperienceLevel, MemberRole, ProblemClass
from apps.projects.services import attribute_values_clean
from apps.recommendations.ml.features import LEVELS, ROLES
from apps.recommendations.models import ModelEvent, Prediction, SuccessModel, TrainingRun

# ------------------------------------------------------------------------------------------------ requests


class SimilarQuerySerializer(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=100, default=10, help_text="How many projects to return.")
    min_similarity = serializers.FloatField(
        min_value=-1.0, max_value=1.0, default=0.0, help_text="Only projects at least this similar (cosine)."
    )
    completed_only = serializers.BooleanField(default=False, help_text="Only completed projects (with outcomes).")


class SimilarTextSerializer(SimilarQuerySerializer):
    text = serializers.CharField(max_length=20000, help_text="Free text (a spec) to compare with every project.")


class OverlapRequestSerializer(serializers.Serializer):
    project_a = serializers.IntegerField(min_value=1, help_text="Id of the first project.")
    project_b = serializers.IntegerField(min_value=1, help_text="Id of the second project.")
    min_similarity = serializers.FloatField(
        min_value=0.0, max_value=1.0, default=0.6, help_text="Requirement pairs below this similarity do not match."
    )

    def validate(self, attrs):
        if attrs["project_a"] == attrs["project_b"]:
            raise serializers.ValidationError({"project_b": "Choose two different projects."})
        return attrs


class TeamMemberInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=MemberRole.choices)
    experience_level = serializers.ChoiceField(choices=ExperienceLevel.choices)
    years_experience = serializers.FloatField(min_value=0, max_value=60, default=0.0)
    contribution_hours = serializers.FloatField(min_value=0, max_value=100_000, default=0.0)


class TeamConstraintsSerializer(serializers.Serializer):
    min_team_size = serializers.IntegerField(min_value=1, max_value=30, default=1)
    max_team_size = serializers.IntegerField(min_value=1, max_value=30, default=8)
    allowed_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=MemberRole.choices),
        allow_empty=False,
        required=False,
        help_text="Roles the suggested team may use (default: all).",
    )
    allowed_levels = serializers.ListField(
        child=serializers.ChoiceField(choices=ExperienceLevel.choices),
        allow_empty=False,
        required=False,
        help_text="Experience levels the suggested team may use (default: all).",
    )
    max_per_role = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=30),
        required=False,
        help_text='Maximum members per role, e.g. {"mlops": 1}.',
    )
    max_per_level = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=30),
        required=False,
        help_text='Maximum members per level, e.g. {"principal": 1}.',
    )
    min_per_role = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=30),
        required=False,
        help_text="Roles the suggested team must include, with their minimum count, e.g. "
        '{"data_scientist": 1, "ml_engineer": 1}.',
    )

    def validate_max_per_role(self, value):
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise serializers.ValidationError(f"Unknown role(s): {', '.join(unknown)}.")
        return value

    def validate_max_per_level(self, value):
        unknown = sorted(set(value) - set(LEVELS))
        if unknown:
            raise serializers.ValidationError(f"Unknown level(s): {', '.join(unknown)}.")
        return value

    def validate_min_per_role(self, value):
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise serializers.ValidationError(f"Unknown role(s): {', '.join(unknown)}.")
        return value

    def validate(self, attrs):
        if attrs["min_team_size"] > attrs["max_team_size"]:
            raise serializers.ValidationError({"max_team_size": "Must be at least min_team_size."})
        required = {role: n for role, n in attrs.get("min_per_role", {}).items() if n > 0}
        if sum(required.values()) > attrs["max_team_size"]:
            raise serializers.ValidationError(
                {
                    "min_per_role": f"The required roles need {sum(required.values())} people; max_team_size is "
                    f"{attrs['max_team_size']}."
                }
            )
        excluded = sorted(set(required) - set(attrs.get("allowed_roles", ROLES)))
        if excluded:
            raise serializers.ValidationError({"min_per_role": f"Required but not allowed: {', '.join(excluded)}."})
        too_many = sorted(r for r, n in required.items() if n > attrs.get("max_per_role", {}).get(r, n))
        if too_many:
            raise serializers.ValidationError(
                {"min_per_role": f"More required than max_per_role allows: {', '.join(too_many)}."}
            )
        return attrs


class RecommendationRequestSerializer(serializers.Serializer):
    project_id = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="An existing project to predict for: omitted fields are taken from it, and the prediction is "
        "compared with its actual outcome once it completes.",
    )
    spec = serializers.CharField(max_length=20000, required=False, help_text="Goals and requirements, free text.")
    problem_class = serializers.ChoiceField(choices=ProblemClass.choices, required=False)
    complexity_score = serializers.IntegerField(min_value=1, max_value=100, required=False)
    planned_duration_days = serializers.FloatField(min_value=1, max_value=3650, required=False, allow_null=True)
    team_members = TeamMemberInputSerializer(many=True, required=False, max_length=50)
    artifact_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=200,
        help_text="Library artifacts the project plans to use.",
    )
    attributes = serializers.DictField(
        required=False, help_text="Values of the organisation's project attributes by key (as on projects)."
    )
    constraints = TeamConstraintsSerializer(required=False, help_text="Limits for the suggested team.")
    similar_k = serializers.IntegerField(min_value=1, max_value=50, default=5)
    max_artifacts = serializers.IntegerField(min_value=0, max_value=50, default=10)

    def validate_artifact_ids(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Artifact ids must be unique.")
        existing = set(Artifact.objects.filter(pk__in=value).values_list("pk", flat=True))
        errors = {i: [f"Artifact {aid} does not exist."] for i, aid in enumerate(value) if aid not in existing}
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_attributes(self, value):
        try:
            return attribute_values_clean(value, field="attributes")
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                {key.removeprefix("attributes."): messages for key, messages in exc.message_dict.items()}
            ) from None

    def validate(self, attrs):
        if "project_id" not in attrs:
            missing = {
                name: "This field is required when project_id is not given."
                for name in ("spec", "problem_class", "complexity_score")
                if name not in attrs
            }
            if missing:
                raise serializers.ValidationError(missing)
        if "spec" in attrs and not attrs["spec"].strip():
            raise serializers.ValidationError({"spec": "The spec must not be blank."})
        return attrs


class RetrainRequestSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="Train a new version even when the training data is unchanged."
    )


class ModelActionRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=1000, help_text="Why (required): recorded with the decision and in the audit trail."
    )


class AccuracyQuerySerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=["day", "week", "month"], default="month")


# ------------------------------------------------------------------------------------------------ responses


class SimilarProjectSerializer(serializers.Serializer):
    project_id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    status = serializers.CharField(help_text="planned, active, completed or cancelled.")
    problem_class = serializers.CharField()
    complexity_score = serializers.IntegerField()
    similarity = serializers.FloatField(help_text="Cosine similarity of the spec embeddings, −1…1.")
    success_score = serializers.FloatField(allow_null=True, help_text="Outcome (0–100), null until completed.")
    model_performance = serializers.FloatField(allow_null=True)
    business_impact = serializers.FloatField(allow_null=True)
    compute_cost = serializers.FloatField(allow_null=True)
    completion_date = serializers.DateField(allow_null=True)
    duration_days = serializers.IntegerField(allow_null=True, help_text="completion_date − start_date, in days.")


class SimilarProjectsResponseSerializer(serializers.Serializer):
    query_project_id = serializers.IntegerField(allow_null=True, help_text="The project compared (null for text).")
    model_name = serializers.CharField(help_text="Embedding model.")
    results = SimilarProjectSerializer(many=True)


class OverlapSideSerializer(serializers.Serializer):
    project_id = serializers.IntegerField()
    name = serializers.CharField()
    requirements = serializers.IntegerField(help_text="Requirement sentences found in the spec.")


class OverlapPairSerializer(serializers.Serializer):
    requirement_a = serializers.CharField()
    requirement_b = serializers.CharField()
    similarity = serializers.FloatField(help_text="Cosine similarity of the two sentences.")


class OverlapResponseSerializer(serializers.Serializer):
    project_a = OverlapSideSerializer()
    project_b = OverlapSideSerializer()
    overlap_score = serializers.FloatField(help_text="Σ matched similarities / mean sentence count, 0–1.")
    min_similarity = serializers.FloatField()
    matched_pairs = OverlapPairSerializer(many=True, help_text="One-to-one matches, best first: what can be reused.")
    only_in_a = serializers.ListField(child=serializers.CharField())
    only_in_b = serializers.ListField(child=serializers.CharField())


class BaselineSerializer(serializers.Serializer):
    historical_mean = serializers.FloatField(
        allow_null=True,
        help_text="Mean success_score of the tenant's completed projects (null if none); in a model's answer, of the "
        "projects it was trained on.",
    )
    n_completed = serializers.IntegerField(
        help_text="Completed projects with a success score (in a model's answer: its training projects)."
    )


class ModelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    trained_at = serializers.DateTimeField()
    n_samples = serializers.IntegerField()
    cv_mae = serializers.FloatField(help_text="Cross-validated MAE of success_score.")
    skill = serializers.FloatField(
        allow_null=True, help_text="1 − MAE / baseline MAE, validated forward in time (the skill gate's figure)."
    )
    forward_mae = serializers.FloatField(allow_null=True, help_text="MAE of success_score forward in time.")


class ConfidenceComponentsSerializer(serializers.Serializer):
    sharpness = serializers.FloatField(help_text="clip(1 − interval_width / reference_width, 0, 1).")
    support = serializers.FloatField(help_text="Mean max(similarity, 0) of the k nearest training specs.")
    skill = serializers.FloatField(help_text="clip(1 − MAE / baseline MAE, 0, 1) of the model, forward in time.")
    interval_width = serializers.FloatField()
    reference_width = serializers.FloatField(help_text="90th − 10th percentile of training success scores.")


class TargetPredictionSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="ok, or insufficient_data when this target has too few known values.")
    predicted = serializers.FloatField(required=False)
    lower = serializers.FloatField(required=False, help_text="Lower end of the 80 % interval.")
    upper = serializers.FloatField(required=False, help_text="Upper end of the 80 % interval.")
    n_training_samples = serializers.IntegerField(required=False)
    have = serializers.IntegerField(required=False, help_text="Known values (insufficient_data only).")
    needed = serializers.IntegerField(required=False, help_text="Values needed (insufficient_data only).")


class SuccessPredictionSerializer(TargetPredictionSerializer):
    confidence = serializers.FloatField(help_text="∛(sharpness · support · skill), 0–1 (see docs/recommendations.md).")
    confidence_components = ConfidenceComponentsSerializer()
    interval_coverage = serializers.FloatField(help_text="Nominal coverage of [lower, upper].")


class NeighborSerializer(serializers.Serializer):
    project_id = serializers.IntegerField()
    similarity = serializers.FloatField()
    success_score = serializers.FloatField()


class NeighborSuccessSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="The neighbor_success feature for this input.")
    neighbors = NeighborSerializer(many=True, help_text="The model's k nearest training projects.")


class UsedBySimilarSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Similar successful projects that used the artifact.")
    of = serializers.IntegerField(help_text="Similar projects whose success ≥ the training mean.")
    project_ids = serializers.ListField(child=serializers.IntegerField())


class SuggestedArtifactSerializer(serializers.Serializer):
    artifact_id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField()
    effect = serializers.FloatField(help_text="Adjusted effect on success (points); its interval excludes zero.")
    effect_ci_low = serializers.FloatField(help_text="95 % interval of the effect, low end (> 0).")
    effect_ci_high = serializers.FloatField()
    label = serializers.CharField(help_text="observational estimate (see docs/recommendations.md).")
    uplift = serializers.FloatField(help_text="Predicted success with the artifact added minus without.")
    specific = serializers.BooleanField(
        help_text="True when the model has a feature for this artifact; otherwise the uplift is that of its type."
    )
    used_by_similar_successful = UsedBySimilarSerializer()


class SuggestedMemberSerializer(serializers.Serializer):
    role = serializers.CharField()
    level = serializers.CharField()
    count = serializers.IntegerField()
    years_experience = serializers.FloatField(help_text="Typical (median) years for this level in the data.")
    contribution_hours = serializers.FloatField(help_text="Typical (median) hours per member in the data.")


class TeamConstraintsEchoSerializer(serializers.Serializer):
    min_team_size = serializers.IntegerField()
    max_team_size = serializers.IntegerField()
    allowed_roles = serializers.ListField(child=serializers.CharField())
    allowed_levels = serializers.ListField(child=serializers.CharField())
    max_per_role = serializers.DictField(child=serializers.IntegerField())
    max_per_level = serializers.DictField(child=serializers.IntegerField())
    min_per_role = serializers.DictField(child=serializers.IntegerField())


class SuggestedTeamSerializer(serializers.Serializer):
    members = SuggestedMemberSerializer(many=True)
    team_size = serializers.IntegerField()
    predicted_success = serializers.FloatField(help_text="Predicted success with the suggested team.")
    lower = serializers.FloatField(allow_null=True, help_text="Lower end of the suggested team's 80 % interval.")
    upper = serializers.FloatField(allow_null=True, help_text="Upper end of the suggested team's 80 % interval.")
    proposed_team_predicted_success = serializers.FloatField(help_text="Predicted success with the proposed team.")
    improvement = serializers.FloatField()
    improvement_ci_low = serializers.FloatField(
        allow_null=True,
        help_text="95 % interval of the improvement from the model's K cross-validation refits (delete-a-fold "
        "jackknife); null for versions trained before the refits were kept.",
    )
    improvement_ci_high = serializers.FloatField(allow_null=True)
    verdict = serializers.CharField(help_text="clear improvement (interval above zero) or no clear effect.")
    candidates_evaluated = serializers.IntegerField(help_text="Team compositions scored by the search.")
    label = serializers.CharField(
        help_text="observational estimate: the model's prediction for another team, learnt from which teams happened "
        "to succeed."
    )
    constraints = TeamConstraintsEchoSerializer()


class FeatureContributionSerializer(serializers.Serializer):
    feature = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="The feature's value for this input (null = missing).")
    contribution = serializers.FloatField(help_text="SHAP contribution to predicted success (pred_contrib).")


class ContributionsSerializer(serializers.Serializer):
    base_value = serializers.FloatField(help_text="Expected prediction; base + Σ contributions = unclipped point.")
    features = FeatureContributionSerializer(many=True, help_text="Sorted by |contribution|, largest first.")


class RecommendationOkSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="ok")
    prediction_id = serializers.IntegerField(help_text="The stored Prediction.")
    model = ModelRefSerializer(help_text="The model version used.")
    success = SuccessPredictionSerializer()
    duration_days = TargetPredictionSerializer()
    compute_cost = TargetPredictionSerializer()
    neighbor_success = NeighborSuccessSerializer()
    suggested_artifacts = SuggestedArtifactSerializer(
        many=True,
        help_text="Only artifacts whose adjusted effect is clearly positive (interval above zero), largest effect "
        "first; no clear effect, no suggestion.",
    )
    suggested_team = SuggestedTeamSerializer()
    similar_projects = SimilarProjectSerializer(many=True, help_text="Most similar completed projects.")
    feature_contributions = ContributionsSerializer()
    baseline = BaselineSerializer()


class GateSerializer(serializers.Serializer):
    evaluation = serializers.CharField(help_text="forward (in time) or cv (shuffled K-fold).")
    n = serializers.IntegerField(help_text="Projects evaluated.")
    mae = serializers.FloatField(allow_null=True)
    baseline_mae = serializers.FloatField(allow_null=True, help_text="MAE of the training mean on the same projects.")
    skill = serializers.FloatField(help_text="1 − mae / baseline_mae.")
    p_value = serializers.FloatField(help_text="One-sided paired t-test that mae < (1 − margin) · baseline_mae.")
    margin = serializers.FloatField()
    alpha = serializers.FloatField()
    passed = serializers.BooleanField()
    spread = serializers.FloatField(
        required=False, allow_null=True, help_text="sd of the per-project error differences / baseline_mae."
    )


class LearningCurvePointSerializer(serializers.Serializer):
    size = serializers.IntegerField(help_text="Training projects.")
    mae = serializers.FloatField()
    baseline_mae = serializers.FloatField()
    skill = serializers.FloatField(allow_null=True)


class ProjectsNeededSerializer(serializers.Serializer):
    more_projects = serializers.IntegerField(
        allow_null=True, required=False, help_text="Extrapolated completed projects still needed (rough)."
    )
    reason = serializers.CharField(required=False)


class ForwardSummarySerializer(serializers.Serializer):
    n = serializers.IntegerField()
    mae = serializers.FloatField(required=False)
    r2 = serializers.FloatField(required=False)
    baseline_mae = serializers.FloatField(required=False)
    mae_vs_baseline = serializers.FloatField(required=False, allow_null=True)
    blocks = serializers.IntegerField(required=False)
    block_mae = serializers.ListField(child=serializers.FloatField(), required=False)


class ValidationFiguresSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    n_samples = serializers.IntegerField()
    gate = GateSerializer(required=False, help_text="The gate the version failed (forward in time).")
    forward = ForwardSummarySerializer(required=False)
    cv_gate = GateSerializer(required=False, help_text="The same test on the shuffled K-fold CV, for comparison.")
    learning_curve = LearningCurvePointSerializer(many=True)
    projects_needed = ProjectsNeededSerializer()
    cv_mae = serializers.FloatField()


class RecommendationInsufficientSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="insufficient_data, insufficient_skill or no_model")
    prediction_id = serializers.IntegerField()
    have = serializers.IntegerField(help_text="Completed projects with a success score.")
    needed = serializers.IntegerField(help_text="RECOMMENDATIONS_MIN_COMPLETED_PROJECTS.")
    detail = serializers.CharField()
    training_run_id = serializers.IntegerField(required=False, help_text="no_model: the queued training.")
    validation = ValidationFiguresSerializer(
        required=False, help_text="insufficient_skill: how the model validated (use the baseline instead)."
    )
    baseline = BaselineSerializer()
    similar_projects = SimilarProjectSerializer(many=True)


class ModelEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    previous_active_version = serializers.IntegerField(source="previous_active.version", allow_null=True, default=None)

    class Meta:
        model = ModelEvent
        fields = ["id", "action", "actor", "previous_active_version", "reason", "created_at"]


class CvMetricsSerializer(serializers.Serializer):
    status = serializers.CharField(required=False, help_text="insufficient_data when the target had no model.")
    have = serializers.IntegerField(required=False)
    needed = serializers.IntegerField(required=False)
    folds = serializers.IntegerField(required=False)
    n = serializers.IntegerField(required=False, help_text="Out-of-fold predictions evaluated.")
    mae = serializers.FloatField(required=False)
    r2 = serializers.FloatField(required=False)
    baseline_mae = serializers.FloatField(required=False, help_text="MAE of predicting the training fold's mean.")
    mae_vs_baseline = serializers.FloatField(required=False, allow_null=True)
    fold_mae = serializers.ListField(child=serializers.FloatField(), required=False)
    interval_nominal = serializers.FloatField(required=False)
    interval_coverage_raw = serializers.FloatField(
        required=False, help_text="Out-of-fold coverage of the uncalibrated quantile interval."
    )
    interval_adjustment = serializers.FloatField(required=False, help_text="Conformal widening applied.")
    interval_mean_width = serializers.FloatField(required=False)


class CvMetricsByTargetSerializer(serializers.Serializer):
    success = CvMetricsSerializer(required=False)
    duration_days = CvMetricsSerializer(required=False)
    compute_cost = CvMetricsSerializer(required=False)


class SuccessModelSerializer(serializers.ModelSerializer):
    cv_metrics = CvMetricsByTargetSerializer()
    feature_importances = serializers.DictField(child=serializers.FloatField())
    features = serializers.ListField(child=serializers.CharField())
    params = serializers.DictField(help_text="Training settings (folds, seed, boosting rounds, …).")
    validation = serializers.DictField(
        help_text="Forward-in-time evaluation, skill gate (forward and K-fold), learning curve and promotion "
        "comparison; empty for versions trained before the skill gate."
    )
    events = ModelEventSerializer(many=True, read_only=True, help_text="Promotion history, newest first.")

    class Meta:
        model = SuccessModel
        fields = [
            "id",
            "version",
            "status",
            "trained_at",
            "n_samples",
            "features",
            "cv_metrics",
            "cv_mae",
            "feature_importances",
            "training_seconds",
            "data_fingerprint",
            "params",
            "validation",
            "promoted_at",
            "created_at",
            "events",
        ]
        read_only_fields = fields


class TrainingRunSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model.version", allow_null=True, default=None)
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    params = serializers.DictField()
    result = serializers.DictField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "kind",
            "status",
            "reason",
            "params",
            "requested_by",
            "created_at",
            "dispatched_at",
            "dispatch_attempts",
            "dispatch_error",
            "attempts",
            "started_at",
            "finished_at",
            "duration_seconds",
            "detail",
            "error",
            "model_version",
            "result",
        ]
        read_only_fields = fields


class PredictionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    absolute_error = serializers.SerializerMethodField(help_text="|predicted − actual| once the actual is known.")

    class Meta:
        model = Prediction
        fields = [
            "id",
            "status",
            "project",
            "model_version",
            "predicted_success",
            "lower",
            "upper",
            "confidence",
            "predicted_duration_days",
            "predicted_cost",
            "project_completed_before",
            "actual_success",
            "actual_duration_days",
            "actual_cost",
            "outcome_recorded_at",
            "absolute_error",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_absolute_error(self, obj) -> float | None:
        if obj.predicted_success is None or obj.actual_success is None:
            return None
        return abs(obj.predicted_success - obj.actual_success)


class PredictionDetailSerializer(PredictionSerializer):
    request = serializers.DictField(help_text="The request body as received.")
    response = serializers.DictField(help_text="The response body as returned.")

    class Meta(PredictionSerializer.Meta):
        fields = [*PredictionSerializer.Meta.fields, "request", "response"]
        read_only_fields = fields


class AccuracyEntrySerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Predictions with a known actual.")
    mae = serializers.FloatField(allow_null=True)
    mean_error = serializers.FloatField(allow_null=True, help_text="Mean of predicted − actual (bias).")
    interval_coverage = serializers.FloatField(allow_null=True, help_text="Share of actuals inside [lower, upper].")


class AccuracyPeriodSerializer(AccuracyEntrySerializer):
    period = serializers.DateTimeField(help_text="Start of the period the predictions were made in.")
    model_version = serializers.IntegerField(allow_null=True)


class AccuracyModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    cv_mae = serializers.FloatField()
    trained_at = serializers.DateTimeField()
    n_samples = serializers.IntegerField()


class AccuracySerializer(serializers.Serializer):
    bucket = serializers.CharField()
    overall = AccuracyEntrySerializer()
    periods = AccuracyPeriodSerializer(many=True)
    models = AccuracyModelSerializer(many=True, help_text="Registry versions with their CV MAE, for comparison.")
    pending_outcomes = serializers.IntegerField(help_text="Predictions of projects not completed yet.")


class ArtifactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField()
    usage_count = serializers.IntegerField()


class ArtifactImpactSerializer(serializers.Serializer):
    artifact = ArtifactRefSerializer()
    status = serializers.CharField(help_text="ok, insufficient_usage, or not_computed (no model yet).")
    n_projects = serializers.IntegerField(allow_null=True, help_text="Training projects that used the artifact.")
    min_usage = serializers.IntegerField(allow_null=True, help_text="Projects needed for a number.")
    impact = serializers.FloatField(
        allow_null=True,
        help_text="Effect of using the artifact on success (points), adjusted for the other features by double "
        "machine learning: an observational estimate.",
    )
    ci_low = serializers.FloatField(allow_null=True, help_text="95 % interval of impact (its standard error), low end.")
    ci_high = serializers.FloatField(allow_null=True)
    se = serializers.FloatField(allow_null=True, help_text="Standard error of impact.")
    verdict = serializers.CharField(
        allow_null=True, allow_blank=True, help_text="helps, hurts, or no clear effect (the interval includes zero)."
    )
    method = serializers.CharField(allow_null=True, allow_blank=True)
    label = serializers.CharField(help_text="observational estimate: from who happened to use what, not an experiment.")
    model_contribution = serializers.FloatField(
        allow_null=True, help_text="Mean SHAP contribution of the artifact over its users: descriptive, not an effect."
    )
    observed_lift = serializers.FloatField(
        allow_null=True, help_text="Mean success of users − non-users in the same problem class: unadjusted."
    )
    observed_lift_ci_low = serializers.FloatField(allow_null=True)
    observed_lift_ci_high = serializers.FloatField(allow_null=True)
    comparable_n = serializers.IntegerField(allow_null=True, help_text="Comparable non-users.")
    has_indicator = serializers.BooleanField(allow_null=True, help_text="The model has a feature for it.")
    model_version = serializers.IntegerField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)


# ------------------------------------------------------------------------------------------------ import / export


class ImportQuerySerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False, help_text="Validate every row and write nothing.")
    file_format = serializers.ChoiceField(
        choices=["jsonl", "csv"],
        required=False,
        help_text="jsonl or csv; default from the Content-Type (text/csv, application/x-ndjson).",
    )


class ImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        allow_null=True, required=False, help_text="1-based position of the project in the file (row errors only)."
    )
    field = serializers.CharField(allow_null=True, help_text="e.g. team_members[0].role, attributes.domain.")
    code = serializers.CharField()
    message = serializers.CharField()


class ImportErrorSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = ImportRowErrorSerializer(many=True, help_text="Every problem of every row; nothing was imported.")


class ImportResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField(help_text="Projects in the file.")
    dry_run = serializers.BooleanField()
    imported = serializers.IntegerField(help_text="Projects written (0 in a dry run).")
    project_ids = serializers.ListField(child=serializers.IntegerField())
    team_members = serializers.IntegerField(help_text="Team members (to be) written.")
    artifact_usages = serializers.IntegerField(help_text="Artifact usages (to be) written.")
    embedding_run_id = serializers.IntegerField(allow_null=True, help_text="The queued embedding of the specs.")


class TrainingDataQuerySerializer(serializers.Serializer):
    file_format = serializers.ChoiceField(choices=["csv", "parquet"], default="csv")
