"""What the registry's forms share: widgets, messages, the label style and the person picker. The forms
shape and check input; the services decide and write.

Field names follow the services' keyword arguments, so a service's ValidationError({field: [...]}) lands
beside the field that caused it (`SERVICE_FIELD_ALIASES` maps the few that differ)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from identities.widgets import PersonPicker

User = get_user_model()

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "60"}, format="%Y-%m-%dT%H:%M")
REASON_WIDGET = forms.Textarea(attrs={"rows": 2})
SCOPE_ROWS = 4
PARENT_SELECT_LIMIT = 300

ERR_PERSON_ONLY_HUMAN = "Only a human identity links to a person."
ERR_DIGEST = "Write each digest as algorithm:hex, e.g. sha256:3f1c… (one per line)."
ERR_COMMIT = "A commit is 7 to 64 hexadecimal characters."
ERR_SCOPE_BOTH = "Give the scope as rows or as JSON, not both."
ERR_SCOPE_JSON = "This is not valid JSON: {error}."
ERR_SCOPE_ROW = "Each row needs both an attribute and a pattern."
ERR_SCOPE_DUPLICATE = "The attribute {name!r} appears twice."
ERR_NOT_FINGERPRINT = "Paste the fingerprint (a hex digest), never the secret itself."
ERR_CHOOSE_IDENTITIES = "Choose at least one identity."
ERR_NOT_TRANSFERABLE = "You may not transfer the identity %(value)s."
OWNER_READ_ONLY_HELP = "Owners grant standing read; write, admin and execute need an administrator."
ERR_PARENT_UNKNOWN = "No agent you may see has this id."

# A service names some inputs differently from the form that collects them.
SCOPE_ALIASES = {"scope": "scope_json"}


def lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def person_label(person) -> str:
    name = person.get_full_name()
    return f"{name} ({person.username})" if name else person.username


class Form(forms.Form):
    """Labels sit above their fields, so they carry no trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PersonField(forms.ModelChoiceField):
    """A person chosen by username, shown by name; typed with suggestions, never a list of everyone."""

    widget = PersonPicker

    def __init__(self, queryset, **kwargs):
        kwargs.pop("empty_label", None)
        super().__init__(queryset=queryset, to_field_name="username", **kwargs)

    def prepare_value(self, value):
        if hasattr(value, "username"):
            return value.username
        return super().prepare_value(value)

    def label_from_instance(self, obj):
        return person_label(obj)
