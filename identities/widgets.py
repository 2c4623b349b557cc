"""Form widgets shared by the registry's forms and filters."""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils.safestring import mark_safe


class PersonPicker(forms.TextInput):
    """A username box whose suggestions come from the person look-up as you type (an htmx-filled
    <datalist>), so no page ever lists every person."""

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", "placeholder": "Type a name or username", **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        options = f"{context['widget']['attrs'].get('id', name)}-options"
        context["widget"]["attrs"].update(
            {
                "list": options,
                "hx-get": reverse("person_lookup"),
                "hx-trigger": "input changed delay:250ms",
                "hx-target": f"#{options}",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        )
        context["widget"]["options_id"] = options
        return context

    def render(self, name, value, attrs=None, renderer=None):
        html = super().render(name, value, attrs, renderer)
        context = self.get_context(name, value, attrs)
        return mark_safe(f'{html}<datalist id="{context["widget"]["options_id"]}"></datalist>')  # noqa: S308
