"""Forms for the people pages: they validate and shape input; the services decide and write."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from agentiam.permissions import ROLE_CHOICES
from identities.models import API_TOKEN_DEFAULT_DAYS, API_TOKEN_MAX_DAYS, PersonStatus

User = get_user_model()

MANAGER_UNKNOWN = "No person has the username {username!r}."


class PersonForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z", max_length=150, error_messages={"invalid": "Letters, digits and @.+-_ only."}
    )
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    employee_id = forms.CharField(max_length=64, required=False, label="Employee id")
    job_title = forms.CharField(max_length=120, required=False)
    manager = forms.CharField(
        max_length=150, required=False, label="Manager", help_text="The manager's username; leave empty for none."
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["username"]

    def clean_manager(self):
        username = self.cleaned_data["manager"].strip()
        if not username:
            return None
        manager = User.objects.filter(username=username).first()
        if manager is None:
            raise ValidationError(MANAGER_UNKNOWN.format(username=username))
        return manager


class DisableForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(PersonStatus.DISABLED, "Disabled"), (PersonStatus.DEPARTED, "Departed (left the organisation)")],
        widget=forms.RadioSelect,
        initial=PersonStatus.DISABLED,
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class EnableForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “CI pipeline”.")
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=API_TOKEN_MAX_DAYS,
        initial=API_TOKEN_DEFAULT_DAYS,
        label="Expires in (days)",
        help_text=f"At most {API_TOKEN_MAX_DAYS} days.",
    )
