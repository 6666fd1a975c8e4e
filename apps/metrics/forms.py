"""Dashboard forms for runs."""

from django import forms

from apps.metrics.choices import RunStatus


class RunFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search expression",
        max_length=4000,
        widget=forms.TextInput(attrs={"type": "search", "spellcheck": "false", "class": "mono"}),
        help_text="For example: metrics.accuracy > 0.9 AND params.optimizer = 'adam'.",
    )
    name = forms.CharField(required=False, label="Run name contains", max_length=250)
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *RunStatus.choices])
    project = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
