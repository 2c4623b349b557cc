"""Forms of the sign-in pages. They only validate shape; the checks that count happen in services."""

from __future__ import annotations

import re

from django import forms

CODE_FORMAT = "Enter the 6 digits your authenticator app shows."
PASSWORD_REQUIRED = "Enter your password."  # noqa: S105 - a message


def _code_field(required: bool = True) -> forms.CharField:
    return forms.CharField(
        label="Authentication code",
        required=required,
        max_length=16,
        error_messages={"required": CODE_FORMAT},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9 ]*",
                "maxlength": "16",
                "class": "code-input",
                "placeholder": "123 456",
            }
        ),
    )


def _clean_code(value: str) -> str:
    value = re.sub(r"[\s-]", "", value or "")
    if not re.fullmatch(r"\d{6}", value):
        raise forms.ValidationError(CODE_FORMAT)
    return value


class CodeForm(forms.Form):
    code = _code_field()

    def clean_code(self):
        return _clean_code(self.cleaned_data["code"])


class StepUpForm(forms.Form):
    password = forms.CharField(
        label="Password",
        strip=False,
        error_messages={"required": PASSWORD_REQUIRED},
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = _code_field(required=False)

    def __init__(self, *args, needs_code: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_code = needs_code
        if needs_code:
            self.fields["code"].required = True
        else:
            del self.fields["code"]

    def clean_code(self):
        return _clean_code(self.cleaned_data.get("code", ""))
