"""Projects, their teams, the tenant's extra project attributes and its success-score weights (tenant schema)."""

import re

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.projects import scoring
from apps.projects.choices import (
    AttributeKind,
    ExperienceLevel,
    MemberRole,
    ProblemClass,
    ProjectStatus,
    SuccessScoreSource,
    Visibility,
)


class Project(models.Model):
    """An ML project: what it set out to do (spec), who did it (team), what it reused (artifact usages), its runs,
    and — once completed — how it went (outcome fields and success_score)."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    spec = models.TextField(blank=True, help_text="Goals and requirements, free text.")
    problem_class = models.CharField(max_length=20, choices=ProblemClass.choices, default=ProblemClass.OTHER)
    complexity_score = models.PositiveSmallIntegerField(
        default=50, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    status = models.CharField(max_length=12, choices=ProjectStatus.choices, default=ProjectStatus.PLANNED)
    start_date = models.DateField(null=True, blank=True)
    target_end_date = models.DateField(null=True, blank=True)
    completion_date = models.DateField(null=True, blank=True)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_projects"
    )
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.TENANT)

    # Outcome, filled at completion.
    model_performance = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Primary model metric normalised to 0–1.",
    )
    business_impact = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)]
    )
    compute_cost = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    success_score = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)]
    )
    success_score_source = models.CharField(max_length=10, choices=SuccessScoreSource.choices, blank=True)
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Values of the tenant-defined ProjectAttributes, by key (validated)."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="project_created_idx"),
            # Filter + order combinations of the project list (the ordering filter appends the id tie-breaker); an
            # index per combination keeps first and deep pages index-backed (bench/projects_list.py).
            models.Index(fields=["status", "-created_at", "-id"], name="project_status_created_idx"),
            models.Index(fields=["status", "-complexity_score", "-id"], name="project_status_complex_idx"),
            models.Index(fields=["status", "-success_score", "-id"], name="project_status_success_idx"),
            models.Index(fields=["problem_class", "-created_at", "-id"], name="project_class_created_idx"),
            models.Index(fields=["name", "id"], name="project_name_idx"),
            models.Index(fields=["owner"], name="project_owner_idx"),
            GinIndex(fields=["tags"], name="project_tags_gin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(complexity_score__gte=1) & Q(complexity_score__lte=100), name="project_complexity_range"
            ),
            models.CheckConstraint(
                condition=Q(model_performance__isnull=True)
                | (Q(model_performance__gte=0) & Q(model_performance__lte=1)),
                name="project_model_performance_range",
            ),
            models.CheckConstraint(
                condition=Q(business_impact__isnull=True) | (Q(business_impact__gte=0) & Q(business_impact__lte=100)),
                name="project_business_impact_range",
            ),
            models.CheckConstraint(
                condition=Q(compute_cost__isnull=True) | Q(compute_cost__gte=0), name="project_compute_cost_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(success_score__isnull=True) | (Q(success_score__gte=0) & Q(success_score__lte=100)),
                name="project_success_score_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def team(self) -> list["TeamMember"]:
        """The team in its display order (id), users joined."""
        return list(self.team_members.select_related("user").order_by("id"))

    @property
    def usages(self) -> list:
        """The artifact usages in their display order (newest first), versions, artifacts and users joined."""
        return list(
            self.artifact_usages.select_related("artifact_version__artifact", "used_by").order_by("-used_at", "-id")
        )

    def clean(self) -> None:
        errors = {}
        if self.start_date and self.target_end_date and self.target_end_date < self.start_date:
            errors["target_end_date"] = "The target end date cannot be before the start date."
        if self.start_date and self.completion_date and self.completion_date < self.start_date:
            errors["completion_date"] = "The completion date cannot be before the start date."
        if self.success_score is not None and self.status != ProjectStatus.COMPLETED:
            errors["success_score"] = "A success score can only be set on a completed project."
        if errors:
            raise ValidationError(errors)


class TeamMember(models.Model):
    """A person on a project's team, optionally linked to a user account of the tenant."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="team_members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships"
    )
    display_name = models.CharField(max_length=150)
    role = models.CharField(max_length=20, choices=MemberRole.choices)
    experience_level = models.CharField(max_length=10, choices=ExperienceLevel.choices)
    years_experience = models.FloatField(default=0, validators=[MinValueValidator(0), MaxValueValidator(60)])
    contribution_hours = models.FloatField(default=0, validators=[MinValueValidator(0)])
    performance_score = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)]
    )

    class Meta:
        ordering = ["project_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(years_experience__gte=0) & Q(years_experience__lte=60), name="member_years_range"
            ),
            models.CheckConstraint(condition=Q(contribution_hours__gte=0), name="member_hours_nonneg"),
            models.CheckConstraint(
                condition=Q(performance_score__isnull=True)
                | (Q(performance_score__gte=0) & Q(performance_score__lte=100)),
                name="member_performance_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_role_display()}, {self.project_id})"


MAX_PROJECT_ATTRIBUTES = 20
MAX_ATTRIBUTE_CHOICES = 20
ATTRIBUTE_KEY_RE = r"^[a-z][a-z0-9_]{0,39}$"


class ProjectAttribute(models.Model):
    """An extra project field the tenant's admins define (e.g. data readiness, stakeholder count, domain): a number
    (optionally bounded), a yes/no, or one of up to ``MAX_ATTRIBUTE_CHOICES`` categories. At most
    ``MAX_PROJECT_ATTRIBUTES`` per tenant. Values live in ``Project.attributes`` (validated by the projects
    services) and become features of the success model. The kind cannot change once defined (stored values would
    stop meaning what they meant)."""

    key = models.CharField(
        max_length=40, unique=True, help_text="Lower-case letters, digits and _; starts with a letter."
    )
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=AttributeKind.choices)
    choices = models.JSONField(default=list, blank=True, help_text="The categories (category attributes only).")
    min_value = models.FloatField(null=True, blank=True, help_text="Smallest allowed value (numbers only).")
    max_value = models.FloatField(null=True, blank=True, help_text="Largest allowed value (numbers only).")
    help_text = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.label or self.key

    def clean(self) -> None:
        errors = {}
        if not re.match(ATTRIBUTE_KEY_RE, self.key or ""):
            errors["key"] = "Use 1–40 lower-case letters, digits or _, starting with a letter."
        if self.kind == AttributeKind.CATEGORY:
            choices = self.choices if isinstance(self.choices, list) else None
            if not choices or not all(isinstance(c, str) and c.strip() and len(c) <= 50 for c in choices):
                errors["choices"] = "A category attribute needs a list of non-empty names of at most 50 characters."
            elif len(choices) > MAX_ATTRIBUTE_CHOICES:
                errors["choices"] = f"At most {MAX_ATTRIBUTE_CHOICES} categories."
            elif len(set(choices)) != len(choices):
                errors["choices"] = "Categories must be unique."
        elif self.choices:
            errors["choices"] = "Only category attributes have choices."
        if self.kind != AttributeKind.NUMBER and (self.min_value is not None or self.max_value is not None):
            errors["min_value"] = "Only number attributes have bounds."
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            errors["max_value"] = "Must be at least min_value."
        if errors:
            raise ValidationError(errors)


class ScoringSettings(models.Model):
    """The tenant's weights for the success_score composite (one row per tenant schema, pk 1).

    success_score = 100 × (w_perf·model_performance + w_impact·business_impact/100 + w_cost·cost_efficiency)
                        / (w_perf + w_impact + w_cost)
    with cost_efficiency = 1 / (1 + compute_cost / cost_reference). A component whose outcome field is missing is
    left out (its weight too), as is a component of weight 0; at least ``min_components`` weighted components are
    needed to compute the score. Example with the defaults (0.4/0.4/0.2, reference 10,000): performance 0.9, impact
    60, cost 10,000 → 100 × (0.4·0.9 + 0.4·0.6 + 0.2·0.5) / 1.0 = 70. The computation is
    :func:`apps.projects.scoring.success_score`.
    """

    w_model_performance = models.FloatField(default=0.4, validators=[MinValueValidator(0)])
    w_business_impact = models.FloatField(default=0.4, validators=[MinValueValidator(0)])
    w_cost_efficiency = models.FloatField(default=0.2, validators=[MinValueValidator(0)])
    cost_reference = models.FloatField(
        default=10_000.0, validators=[MinValueValidator(0.01)], help_text="Cost at which efficiency is 0.5."
    )
    min_components = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    cost_unit = models.CharField(
        max_length=20,
        blank=True,
        help_text="What compute costs are counted in, shown next to every cost (e.g. EUR, USD, GPU hours).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "scoring settings"
        verbose_name_plural = "scoring settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="scoring_settings_singleton")]

    def __str__(self) -> str:
        return "Scoring settings"

    def as_weights(self) -> scoring.ScoringWeights:
        return scoring.ScoringWeights(
            w_model_performance=self.w_model_performance,
            w_business_impact=self.w_business_impact,
            w_cost_efficiency=self.w_cost_efficiency,
            cost_reference=self.cost_reference,
            min_components=self.min_components,
        )

    def clean(self) -> None:
        weighted = self.as_weights().weighted_fields
        if not weighted:
            raise ValidationError({"w_model_performance": "At least one weight must be greater than 0."})
        if self.min_components > len(weighted):
            raise ValidationError(
                {
                    "min_components": f"Only {len(weighted)} component(s) have a weight above 0; "
                    f"min_components cannot exceed that."
                }
            )
