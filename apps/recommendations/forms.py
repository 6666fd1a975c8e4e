"""Dashboard forms of the recommender: the what-if proposal and model registry actions.

The what-if form only collects input; it is turned into exactly the request body ``POST /api/v1/recommendations``
takes (``request_data``) and validated by the API's own serializer, so the page and the API answer the same input
with the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from apps.projects.choices import ExperienceLevel, MemberRole, ProblemClass

MAX_MEMBERS = 50


@dataclass
class MemberRow:
    """One team row of the what-if form, as typed (strings), for re-rendering with its errors."""

    role: str = MemberRole.ML_ENGINEER
    level: str = ExperienceLevel.MID
    years: str = "3"
    hours: str = "300"
    error: str = ""


class WhatIfForm(forms.Form):
    project_id = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    spec = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 7}),
        label="Specification",
        max_length=20000,
        help_text="Paste the goals and requirements; similar past projects are found from it.",
    )
    problem_class = forms.ChoiceField(choices=ProblemClass.choices, initial=ProblemClass.CLASSIFICATION)
    complexity_score = forms.IntegerField(min_value=1, max_value=100, initial=50, label="Complexity (1–100)")
    planned_duration_days = forms.FloatField(
        required=False, min_value=1, max_value=3650, label="Planned duration (days)", help_text="Optional."
    )
    artifact_ids = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Artifacts you plan to use"
    )
    required_roles = forms.MultipleChoiceField(
        required=False,
        choices=MemberRole.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Roles the suggested team must include",
        help_text="The suggested team keeps at least one of each (the API's constraints.min_per_role).",
    )

    def __init__(self, *args, artifacts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["artifact_ids"].choices = [(str(a.pk), f"{a.name} ({a.get_type_display()})") for a in artifacts]


def member_rows(data) -> list[MemberRow]:
    """The team rows posted as parallel lists (``member_role``, ``member_level``, ``member_years``,
    ``member_hours``); rows are added and removed in the page, so there is no index to keep in step."""
    columns = [data.getlist(name) for name in ("member_role", "member_level", "member_years", "member_hours")]
    count = min(len(column) for column in columns)
    return [MemberRow(*(column[i].strip() for column in columns)) for i in range(count)]


def request_body(form: WhatIfForm, rows: list[MemberRow]) -> dict:
    """The ``POST /api/v1/recommendations`` body for this input (team members and artifacts included)."""
    data = form.cleaned_data
    body = {
        "spec": data["spec"],
        "problem_class": data["problem_class"],
        "complexity_score": data["complexity_score"],
        "team_members": [
            {
                "role": row.role,
                "experience_level": row.level,
                "years_experience": row.years or "0",
                "contribution_hours": row.hours or "0",
            }
            for row in rows
        ],
        "artifact_ids": [int(value) for value in data["artifact_ids"]],
    }
    if data.get("project_id"):
        body["project_id"] = data["project_id"]  # the prediction is kept with the project (prediction vs actual)
    if data.get("planned_duration_days") is not None:
        body["planned_duration_days"] = data["planned_duration_days"]
    if data.get("required_roles"):
        body["constraints"] = {"min_per_role": {role: 1 for role in data["required_roles"]}}
    return body


class RetrainForm(forms.Form):
    force = forms.BooleanField(
        required=False, label="Even if nothing changed", help_text="Train a new version on unchanged data."
    )


class ModelActionForm(forms.Form):
    reason = forms.CharField(required=True, max_length=500, label="Reason (required; recorded in the audit trail)")
