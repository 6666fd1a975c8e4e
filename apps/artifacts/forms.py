"""Dashboard forms for the artifact library. They parse and present; the services validate and write."""

from __future__ import annotations

from django import forms

from apps.artifacts.choices import ArtifactType
from apps.projects.services import normalize_tags
from maestro.ui.forms import TagsField

ANY = [("", "Any")]
SORTS = [("impact", "Impact"), ("usage", "Usage"), ("name", "Name"), ("created", "Newest")]


class ArtifactFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(attrs={"type": "search"}))
    type = forms.ChoiceField(required=False, choices=ANY + ArtifactType.choices)
    tag = forms.CharField(required=False)
    sort = forms.ChoiceField(required=False, choices=SORTS, label="Sort by")
    inactive = forms.BooleanField(required=False, label="Include inactive")

    def filterset_data(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        out = {}
        if data.get("type"):
            out["type"] = data["type"]
        if data.get("tag"):
            out["tags"] = data["tag"]
        if not data.get("inactive"):
            out["is_active"] = True
        return out


class ArtifactForm(forms.Form):
    name = forms.CharField(max_length=200)
    type = forms.ChoiceField(choices=ArtifactType.choices)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))
    tags = TagsField(normalise=normalize_tags, required=False, help_text="Comma-separated, e.g. nlp, retail.")
    is_active = forms.BooleanField(
        required=False, initial=True, label="Active", help_text="Inactive artifacts cannot be newly used."
    )

    @classmethod
    def initial_for(cls, artifact) -> dict:
        return {name: getattr(artifact, name) for name in cls.base_fields}

    def service_data(self, *, only_changed: bool) -> dict:
        names = self.changed_data if only_changed else list(self.cleaned_data)
        return {name: self.cleaned_data[name] for name in names}


class ArtifactVersionForm(forms.Form):
    version = forms.CharField(max_length=64, help_text="Semantic version: 1.4.0, 2.0.0-rc.1, 1.0.0+build.5.")
    changelog = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    file = forms.FileField(required=False, help_text="Optional. Identical content is stored once.")
