"""Forms of the catalogue: systems and tools."""

from __future__ import annotations

from django import forms

from identities.models import (
    Action,
    DataClass,
    RiskTier,
    SystemKind,
)

from .base import Form


class SystemForm(Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=SystemKind.choices)
    vendor = forms.CharField(max_length=200, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ToolForm(Form):
    key = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9_.:-]{0,199}$",
        max_length=200,
        help_text="Unique, lowercase, e.g. github.create_pull_request. Policies refer to it; it never changes.",
        error_messages={"invalid": "Lowercase letters, digits and _ . : - only."},
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    actions = forms.MultipleChoiceField(
        choices=Action.choices, widget=forms.CheckboxSelectMultiple, help_text="The actions it supports."
    )
    sensitivity = forms.ChoiceField(choices=RiskTier.choices)
    data_class = forms.ChoiceField(choices=DataClass.choices, label="Data class", initial=DataClass.INTERNAL)
    production = forms.BooleanField(required=False, help_text="It acts on production.")
    production_secrets = forms.BooleanField(
        required=False, label="Production secrets", help_text="It reads or changes production credentials."
    )
    third_party = forms.BooleanField(required=False, label="Third party", help_text="Run by another company.")

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["key"]
