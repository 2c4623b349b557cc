"""The project's form renderer: `{{ form }}` and `{{ form.field.as_field_group }}` render through
templates/components/form.html and field.html, so every form shows its errors beside the field."""

from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    form_template_name = "components/form.html"
    field_template_name = "components/field.html"
