"""The form of a per-call decision: an optional comment (kept in the audit trail)."""

from django import forms


class CallDecisionForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, strip=True, widget=forms.TextInput)
