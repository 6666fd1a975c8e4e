"""Dashboard forms for projects and their teams. They parse and present; the services validate and write."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model

from apps.projects.choices import AttributeKind, ExperienceLevel, MemberRole, ProblemClass, ProjectStatus, Visibility
from apps.projects.models import Project, ProjectAttribute
from apps.projects.services import normalize_tags
from maestro.ui.forms import DateInput, TagsField

ANY = [("", "Any")]


def _users():
    return get_user_model().objects.filter(is_active=True, is_service_account=False).order_by("username")


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


class ProjectForm(forms.Form):
    """Create or edit a project. On edit only the changed fields go to the service (so an explicit success score is
    kept unless touched, and a computed one follows the outcome)."""

    name = forms.CharField(max_length=200)
    spec = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        label="Specification",
        help_text="Goals and requirements in plain text; similar projects are found from it.",
    )
    problem_class = forms.ChoiceField(choices=ProblemClass.choices, initial=ProblemClass.OTHER)
    status = forms.ChoiceField(choices=ProjectStatus.choices, initial=ProjectStatus.PLANNED)
    complexity_score = forms.IntegerField(min_value=1, max_value=100, initial=50, help_text="1 (trivial) to 100.")
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.TENANT)
    owner = UserChoiceField(queryset=_users(), required=False, empty_label="(nobody)")
    start_date = forms.DateField(required=False, widget=DateInput())
    target_end_date = forms.DateField(required=False, widget=DateInput())
    tags = TagsField(normalise=normalize_tags, required=False, help_text="Comma-separated, e.g. tabular, retail.")
    model_performance = forms.FloatField(
        required=False, min_value=0, max_value=1, help_text="Primary model metric, normalised to 0–1."
    )
    business_impact = forms.FloatField(required=False, min_value=0, max_value=100, help_text="0–100.")
    compute_cost = forms.DecimalField(required=False, min_value=Decimal(0), max_digits=14, decimal_places=2)
    success_score = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        help_text="Leave empty to compute it from the outcome with the organisation's weights.",
    )

    OUTCOME_FIELDS = ("model_performance", "business_impact", "compute_cost", "success_score")
    ATTRIBUTE_PREFIX = "attr__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _users()
        self.attribute_keys = []
        for attribute in ProjectAttribute.objects.order_by("key"):
            self.fields[self.ATTRIBUTE_PREFIX + attribute.key] = _attribute_field(attribute)
            self.attribute_keys.append(attribute.key)

    @property
    def attribute_fields(self):
        return [self[self.ATTRIBUTE_PREFIX + key] for key in self.attribute_keys]

    def clean(self):
        """Checks across fields that the model also makes, here so they show with every other error at once (the
        service runs only once the form is valid)."""
        cleaned = super().clean()
        start, end = cleaned.get("start_date"), cleaned.get("target_end_date")
        if start and end and end < start:
            self.add_error("target_end_date", "The target end date cannot be before the start date.")
        return cleaned

    @classmethod
    def initial_for(cls, project: Project) -> dict:
        initial = {name: getattr(project, name) for name in cls.base_fields if name != "owner"}
        initial["owner"] = project.owner_id
        for key, value in (project.attributes or {}).items():
            initial[cls.ATTRIBUTE_PREFIX + key] = ("yes" if value else "no") if isinstance(value, bool) else value
        return initial

    def service_data(self, *, only_changed: bool) -> dict:
        names = self.changed_data if only_changed else list(self.cleaned_data)
        names = [name for name in names if not name.startswith(self.ATTRIBUTE_PREFIX)]
        data = {name: self.cleaned_data[name] for name in names}
        if not only_changed:
            # On create, empty optional fields are simply not given.
            data = {name: value for name, value in data.items() if value not in (None, "", [])}
        attributes = {key: self.cleaned_data.get(self.ATTRIBUTE_PREFIX + key) for key in self.attribute_keys}
        if any(self.ATTRIBUTE_PREFIX + key in self.changed_data for key in self.attribute_keys) or (
            not only_changed and any(v is not None for v in attributes.values())
        ):
            data["attributes"] = {key: value for key, value in attributes.items() if value is not None}
        return data


class _YesNoField(forms.TypedChoiceField):
    def __init__(self, **kwargs):
        super().__init__(
            choices=[("", "—"), ("yes", "Yes"), ("no", "No")], coerce=lambda v: v == "yes", empty_value=None, **kwargs
        )


def _attribute_field(attribute: ProjectAttribute) -> forms.Field:
    """The form field of a tenant-defined attribute (the service validates the value again)."""
    common = {"required": False, "label": attribute.label, "help_text": attribute.help_text}
    if attribute.kind == AttributeKind.NUMBER:
        return forms.FloatField(min_value=attribute.min_value, max_value=attribute.max_value, **common)
    if attribute.kind == AttributeKind.BOOLEAN:
        return _YesNoField(**common)
    return forms.TypedChoiceField(choices=[("", "—"), *((c, c) for c in attribute.choices)], empty_value=None, **common)


class ProjectFilterForm(forms.Form):
    """The project list's filters (GET). Values go to the shared ProjectFilterSet."""

    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(attrs={"type": "search"}))
    status = forms.ChoiceField(required=False, choices=ANY + ProjectStatus.choices)
    problem_class = forms.ChoiceField(required=False, choices=ANY + ProblemClass.choices, label="Problem class")
    tag = forms.CharField(required=False, label="Tag")
    owner = UserChoiceField(queryset=_users(), required=False, empty_label="Anyone")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _users()

    def filterset_data(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        out = {}
        for name in ("status", "problem_class"):
            if data.get(name):
                out[name] = data[name]
        if data.get("tag"):
            out["tags"] = data["tag"]
        if data.get("owner"):
            out["owner"] = data["owner"].pk
        return out


class TeamMemberForm(forms.Form):
    """Add a person to a project's team (inline on the project page)."""

    user = UserChoiceField(
        queryset=_users(), required=False, empty_label="(not a user)", help_text="Optional: link a user account."
    )
    display_name = forms.CharField(
        max_length=150, required=False, label="Name", help_text="Defaults to the linked user's name."
    )
    role = forms.ChoiceField(choices=MemberRole.choices)
    experience_level = forms.ChoiceField(choices=ExperienceLevel.choices, initial=ExperienceLevel.MID)
    years_experience = forms.FloatField(min_value=0, max_value=60, initial=3, label="Years of experience")
    contribution_hours = forms.FloatField(min_value=0, initial=0, label="Hours contributed")
    performance_score = forms.FloatField(min_value=0, max_value=100, required=False, label="Performance (0–100)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _users()

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("performance_score") is None:
            data.pop("performance_score", None)
        return data
